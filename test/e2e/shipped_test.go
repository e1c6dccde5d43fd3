//go:build linux

package e2e

import (
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// TestShippedApacheConfig runs the Apache configuration as an
// administrator installs it (issue 34 item 6, issue 33 item 6): the
// enabled snippet apache/goauthenntlm.conf as it is (only the authorizer's
// address and the files' places changed), and the example site
// apache/example-site.conf in a virtual host of its own, against the
// stack's authorizer. The snippet protects nothing by itself: another
// virtual host serves the same path without a login. On the site a 401
// carries one WWW-Authenticate field per scheme and no
// GoAuthenNTLM-Challenge-* helper field, with the snippet's 401 page,
// although the site protects its whole /app/; a member of WebUsers gets
// /app/web/, a signed-in non-member 403, a wrong password 401; and the
// snippet's channel-binding rule reaches the virtual host (a login bound
// to another certificate is refused where the site sets no
// channel_binding).
func TestShippedApacheConfig(t *testing.T) {
	e := loadEPA(t)
	s := e.s
	if _, err := exec.LookPath("apache2"); err != nil {
		t.Skip("apache2 not installed")
	}
	// What Apache's user (www-data) reads: the 401 page and the files
	// served, in a directory of its own that everyone may enter.
	pub, err := os.MkdirTemp("", "goauthenntlm-shipped-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	for _, d := range []string{pub, filepath.Join(pub, "app", "web")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	for name, data := range map[string][]byte{
		"401.html":         readFile(t, repoFile(t, "apache/goauthenntlm-401.html")),
		"app/file.txt":     []byte("app\n"),
		"app/web/file.txt": []byte("web\n"),
	} {
		if err := os.WriteFile(filepath.Join(pub, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	siteCert := s.env["HTTPS_CERT"]
	siteKey := filepath.Join(filepath.Dir(siteCert), "site.key")
	secretConf := filepath.Join(s.env["STACK_DIR"], "apache", "secret.conf")
	for _, f := range []string{siteCert, siteKey, secretConf} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the stack's %s: %v (scripts/stack.sh changed: adapt this test)", f, err)
		}
	}
	replace := func(path string, pairs ...string) string {
		t.Helper()
		text := string(readFile(t, repoFile(t, path)))
		for i := 0; i < len(pairs); i += 2 {
			if !strings.Contains(text, pairs[i]) {
				t.Fatalf("%s no longer has %q: adapt this test", path, pairs[i])
			}
			text = strings.ReplaceAll(text, pairs[i], pairs[i+1])
		}
		return text
	}
	httpsPort, httpPort := freeLoopbackPort(t), freeLoopbackPort(t)
	snippet := replace("apache/goauthenntlm.conf",
		"fcgi://127.0.0.1:930/", "fcgi://"+s.env["AUTHZ_ADDR"]+"/",
		"/etc/goauthenntlm/apache-secret.conf", secretConf,
		"/usr/local/share/goauthenntlm/401.html", filepath.Join(pub, "401.html"))
	site := replace("apache/example-site.conf",
		"<VirtualHost *:443>", fmt.Sprintf("<VirtualHost 127.0.0.1:%d>", httpsPort),
		"ServerName intranet.example.com", "ServerName "+e.host,
		"DocumentRoot /var/www/intranet", "DocumentRoot "+pub,
		"/etc/ssl/certs/intranet.example.com.pem", siteCert,
		"/etc/ssl/private/intranet.example.com.key", siteKey,
		"/usr/local/bin/ntlm-group-check -cache /var/cache/goauthenntlm/groups",
		filepath.Join(s.env["BIN"], "ntlm-group-check")+" -cache "+s.env["GROUPS_CACHE"])

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "goauthenntlm.conf"), []byte(snippet), 0o644)
	os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o644)
	var hc strings.Builder
	fmt.Fprintf(&hc, "ServerRoot %s\nServerName 127.0.0.1\nListen 127.0.0.1:%d\nListen 127.0.0.1:%d\nPidFile %s/httpd.pid\nDefaultRuntimeDir %s\nMutex file:%s default\nErrorLog %s/error.log\nLogLevel warn\nTypesConfig /etc/mime.types\n",
		dir, httpsPort, httpPort, dir, dir, dir, dir)
	if os.Geteuid() == 0 {
		hc.WriteString("User www-data\nGroup www-data\n")
	}
	for _, m := range []string{"mpm_event", "authn_core", "authz_core", "authz_user", "authnz_fcgi", "authnz_external",
		"headers", "env", "setenvif", "alias", "rewrite", "ssl", "socache_shmcb", "mime"} {
		fmt.Fprintf(&hc, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
	}
	// As Debian's apache2.conf: files under the document roots readable.
	fmt.Fprintf(&hc, "<Directory %s>\n    Require all granted\n</Directory>\n", pub)
	// conf-enabled before sites-enabled, as Debian's apache2.conf.
	fmt.Fprintf(&hc, "Include %s/goauthenntlm.conf\nInclude %s/site.conf\n", dir, dir)
	// Another site of this server, without a <Location> of its own.
	fmt.Fprintf(&hc, "<VirtualHost 127.0.0.1:%d>\n    ServerName other.example.test\n    DocumentRoot %s\n</VirtualHost>\n", httpPort, pub)
	httpdConf := filepath.Join(dir, "httpd.conf")
	os.WriteFile(httpdConf, []byte(hc.String()), 0o644)
	if b, err := exec.Command("apache2", "-t", "-f", httpdConf).CombinedOutput(); err != nil {
		t.Fatalf("apache2 -t: %v\n%s", err, b)
	}
	startApache(t, httpdConf, filepath.Join(dir, "error.log"))
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", httpsPort))
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", httpPort))

	site443 := *e
	site443.port = fmt.Sprint(httpsPort)
	tlsArgs := []string{"--cacert", s.env["HTTPS_CA"], "--resolve", fmt.Sprintf("%s:%d:127.0.0.1", e.host, httpsPort)}

	// The other site: the snippet alone protects nothing.
	if out := curl(t, "-w", " %{http_code}", fmt.Sprintf("http://127.0.0.1:%d/app/file.txt", httpPort)); out != "app\n 200" {
		t.Errorf("another virtual host's /app/: %q, want the file without a login", out)
	}

	// No credentials: the challenges, one field each, and the snippet's
	// page; no helper field.
	out := curl(t, append(tlsArgs, "-D", "-", site443.url("/app/file.txt"))...)
	head, body, _ := strings.Cut(out, "\r\n\r\n")
	var schemes []string
	for _, l := range strings.Split(head, "\r\n") {
		k, v, _ := strings.Cut(l, ":")
		switch {
		case strings.EqualFold(k, "WWW-Authenticate"):
			schemes = append(schemes, strings.TrimSpace(v))
		case strings.HasPrefix(strings.ToLower(k), "goauthenntlm-"):
			t.Errorf("the 401 carries the helper field %s", l)
		}
	}
	var names []string
	for _, v := range schemes {
		name, _, _ := strings.Cut(v, " ")
		names = append(names, strings.TrimSuffix(name, ","))
	}
	slices.Sort(names)
	if !strings.HasPrefix(head, "HTTP/1.1 401") || strings.Join(names, " ") != "Basic NTLM Negotiate" || strings.Contains(head, "NTLM,") || strings.Contains(head, "Negotiate,") {
		t.Errorf("no credentials: want 401 with three WWW-Authenticate fields (NTLM, Negotiate, Basic), one scheme each, got\n%s", head)
	}
	if !strings.Contains(body, "Authentication required") {
		t.Errorf("the 401's body is not the snippet's page:\n%s", body)
	}

	// Logins and the group rule.
	ntlm := func(user, password, path string) string {
		t.Helper()
		return curl(t, append(tlsArgs, "-o", "/dev/null", "-w", "%{http_code}", "--ntlm", "-u", `EXAMPLE\`+user+":"+password, site443.url(path))...)
	}
	for _, tt := range []struct{ user, password, path, want string }{
		{"jdoe", users["jdoe"], "/app/file.txt", "200"},
		{"jdoe", users["jdoe"], "/app/web/file.txt", "200"},
		{"alice", users["alice"], "/app/file.txt", "200"},
		{"alice", users["alice"], "/app/web/file.txt", "403"},
		{"alice", "wrong-" + users["alice"], "/app/web/file.txt", "401"},
	} {
		if got := ntlm(tt.user, tt.password, tt.path); got != tt.want {
			t.Errorf("%s at %s: %s, want %s", tt.user, tt.path, got, tt.want)
		}
	}

	// Extended Protection through the snippet's rule: bound to another
	// certificate, refused; bound to this one, in.
	other, err := ntlmmsg.TLSChannelBindings(&x509.Certificate{Raw: []byte("another server's certificate"), SignatureAlgorithm: x509.SHA256WithRSA})
	if err != nil {
		t.Fatal(err)
	}
	target := avTarget("HTTP/" + e.host)
	if status, body := site443.craftedLogin(t, site443.client(), site443.url("/app/file.txt"), ntlmmsg.AVPairs{target, avBinding(other)}); status != 401 {
		t.Errorf("a login bound to another certificate: %d %q, want 401", status, body)
	}
	if status, body := site443.craftedLogin(t, site443.client(), site443.url("/app/file.txt"), ntlmmsg.AVPairs{target, avBinding(e.binding)}); status != 200 || body != "app" {
		t.Errorf("a login bound to the site's certificate: %d %q, want 200 app (the rule passes no certificate?)", status, body)
	}
}
