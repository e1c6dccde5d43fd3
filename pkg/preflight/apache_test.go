package preflight

import (
	"os"
	"path/filepath"
	"testing"
)

func TestApacheConfig(t *testing.T) {
	for _, tc := range []struct {
		name            string
		files           map[string]string
		global, largest int
	}{
		{"default", map[string]string{"apache2.conf": "KeepAlive On\n"}, 8190, 8190},
		{"raised in an included snippet", map[string]string{
			"apache2.conf":                         "IncludeOptional conf-enabled/*.conf\nInclude ports.conf\n",
			"ports.conf":                           "Listen 80\n",
			"conf-enabled/goauthenntlm.conf":       "# LimitRequestFieldSize 100\nlimitrequestfieldsize 65536\nAuthnzFcgiDefineProvider authn ntlm fcgi://127.0.0.1:9000/\n",
			"conf-enabled/other.conf.disabled.txt": "LimitRequestFieldSize 1\n",
		}, 65536, 65536},
		{"in a virtual host only", map[string]string{
			"apache2.conf":            "IncludeOptional sites-enabled/*.conf\n",
			"sites-enabled/site.conf": "<VirtualHost *:443>\n  LimitRequestFieldSize 65536\n</VirtualHost>\n",
		}, 8190, 65536},
		{"include loop", map[string]string{"apache2.conf": "Include apache2.conf\n"}, 8190, 8190},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tc.files {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			a, err := ApacheConfig(filepath.Join(dir, "apache2.conf"))
			if err != nil || a.FieldSize != tc.global || a.LargestFieldSize != tc.largest {
				t.Fatalf("ApacheConfig = %+v, %v; want %d, %d", a, err, tc.global, tc.largest)
			}
		})
	}
	a := &Apache{Authorizers: []string{"127.0.0.1:9000"}}
	for listen, want := range map[string]bool{"127.0.0.1:9000": true, "localhost:9000": true, "[::1]:9000": true, "127.0.0.1:9001": false, "10.0.0.1:9000": false, "bad": false} {
		if a.Asks(listen) != want {
			t.Errorf("Asks(%q) = %v", listen, !want)
		}
	}
	if _, err := ApacheConfig(filepath.Join(t.TempDir(), "none.conf")); err == nil {
		t.Error("no error for a missing file")
	}
}
