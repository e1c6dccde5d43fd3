package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos/krbtest"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

func TestCheckKerberos(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, principal string, etypes ...int32) string {
		b, err := krbtest.Keytab(principal, "EXAMPLE.TEST", 3, etypes...).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, keytab string
		rc           int
		stderr       string // "" = silent
	}{
		{"aes", write("aes.keytab", "HTTP/www.example.test"), 0, ""},
		{"rc4 only", write("rc4.keytab", "HTTP/www.example.test", etypeID.RC4_HMAC), 0, "has only RC4 for HTTP/www.example.test@EXAMPLE.TEST"},
		{"other principal", write("other.keytab", "HTTP/other.example.test"), 2, "has no AES or RC4 key for HTTP/www.example.test@EXAMPLE.TEST"},
		{"missing", filepath.Join(dir, "nope.keytab"), 2, "nope.keytab"},
		{"not a keytab", func() string { p := filepath.Join(dir, "x"); os.WriteFile(p, []byte("hello"), 0o600); return p }(), 2, "keytab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("x.toml", []byte("[auth]\nserver_names = [\"www.example.test\"]\n[[domain]]\nname = \"EXAMPLE\"\ndns_name = \"example.test\"\ndcs = [\"127.0.0.1\"]\nkeytab_file = \""+tc.keytab+"\"\n"))
			if err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			rc := checkKerberos(cfg, false, &out, &errOut)
			if rc != tc.rc || out.Len() != 0 || (tc.stderr == "") != (errOut.Len() == 0) || !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("rc %d, stdout %q, stderr %q; want %d and %q", rc, out.String(), errOut.String(), tc.rc, tc.stderr)
			}
		})
	}
}

func TestCheckApacheFieldSize(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "apache2.conf")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := config.Defaults()
	cfg.Listen = "127.0.0.1:9000"
	cfg.Auth.Schemes = []config.Scheme{config.SchemeNTLM, config.SchemeNegotiate}
	cfg.Domains = []config.Domain{{Name: "EXAMPLE", KeytabFile: "/k"}}
	ours := "AuthnzFcgiDefineProvider authn ntlm fcgi://127.0.0.1:9000/\n"
	if w := checkApacheFieldSize(&cfg, write(ours)); !strings.Contains(w, "LimitRequestFieldSize is 8190") {
		t.Errorf("default limit, Kerberos on: %q", w)
	}
	for name, text := range map[string]string{
		"raised":         ours + "LimitRequestFieldSize 65536\n",
		"another Apache": "AuthnzFcgiDefineProvider authn ntlm fcgi://127.0.0.1:9001/\n",
	} {
		if w := checkApacheFieldSize(&cfg, write(text)); w != "" {
			t.Errorf("%s: %q, want no warning", name, w)
		}
	}
	if w := checkApacheFieldSize(&cfg, filepath.Join(dir, "none")); w != "" {
		t.Errorf("no Apache configuration: %q", w)
	}
	cfg.Domains[0].KeytabFile = ""
	if w := checkApacheFieldSize(&cfg, write(ours)); w != "" {
		t.Errorf("no Kerberos: %q", w)
	}
}
