//go:build linux

package e2e

import (
	"context"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/chromium"
)

// The Kerberos side of the stack (scripts/dc.sh kerberos, stack.env's
// KRB5_* and KEYTAB* keys), driven with MIT's client tools from Debian's
// krb5-user, as a user on a Linux desktop would: kinit, kvno, klist, and
// curl --negotiate through GSSAPI.

// krbTool finds an MIT Kerberos client tool (or faketime). Missing, it
// fails the test under CI=true (make test must run the Kerberos tests) and
// skips it, saying why, elsewhere.
func krbTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (scripts/deps.sh installs krb5-user and faketime): the Kerberos tests cannot run", name)
	}
	t.Skipf("%s is not installed (apt-get install krb5-user faketime, or make deps): skipping the Kerberos tests", name)
	return ""
}

// krbEnv is the environment of a Kerberos client of the stack: its
// krb5.conf and the ticket cache ccache, and nothing of the caller's
// Kerberos settings (a KRB5CCNAME of the caller's would mix tickets in).
func (s *stack) krbEnv(t *testing.T, ccache string) []string {
	t.Helper()
	conf := s.env["KRB5_CONFIG"]
	if conf == "" {
		t.Fatal("stack env lacks KRB5_CONFIG: the stack predates Kerberos; bring it up again (scripts/stack.sh up)")
	}
	env := []string{"KRB5_CONFIG=" + conf, "KRB5CCNAME=" + ccache}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KRB5") {
			env = append(env, kv)
		}
	}
	return env
}

// krbRun runs an MIT tool (or curl, or faketime) as a client of the stack
// with the ticket cache ccache, and returns its combined output; err is
// the tool's failure, for checks that expect one.
func (s *stack) krbRun(t *testing.T, ccache, stdin, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, krbTool(t, name), args...)
	cmd.Env = s.krbEnv(t, ccache)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: no answer within a minute:\n%s", name, args, out)
	}
	return string(out), err
}

// kinit gets user's TGT (user, or user@REALM) with password, as kinit
// reads it from a terminal, into a new FILE: ticket cache in a private
// directory of the test, and returns the cache's name for KRB5CCNAME.
func (s *stack) kinit(t *testing.T, user, password string) (ccache string) {
	t.Helper()
	ccache, out, err := s.tryKinit(t, user, password)
	if err != nil {
		t.Fatalf("kinit %s: %v\n%s", user, err, out)
	}
	return ccache
}

func (s *stack) tryKinit(t *testing.T, user, password string) (ccache, out string, err error) {
	t.Helper()
	if !strings.Contains(user, "@") {
		user += "@" + s.env["KRB5_REALM"]
	}
	ccache = "FILE:" + filepath.Join(t.TempDir(), "ccache") // t.TempDir is 0700
	out, err = s.krbRun(t, ccache, password+"\n", "kinit", user)
	return ccache, out, err
}

var kvnoLine = regexp.MustCompile(`: kvno = (\d+)`)

// kvno gets a service ticket for spn (HTTP/host) into ccache, as a browser
// or curl would before it sends it, and returns the ticket's key version.
func (s *stack) kvno(t *testing.T, ccache, spn string) int {
	t.Helper()
	out, err := s.krbRun(t, ccache, "", "kvno", spn)
	m := kvnoLine.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("kvno %s: %v\n%s", spn, err, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// curlNegotiate fetches url with curl --negotiate -u : (GSSAPI, the
// tickets of ccache), the URL's host resolved to 127.0.0.1 by --resolve
// (the site's host names are in no /etc/hosts). extra goes before the URL.
func (s *stack) curlNegotiate(t *testing.T, ccache, rawURL string, extra ...string) (status int, body string) {
	t.Helper()
	return s.curlNegotiateSkewed(t, ccache, "", rawURL, extra...)
}

// curlNegotiateSkewed is curlNegotiate with curl's clock off by skew, a
// libfaketime offset such as "+10m", or "" for none. Get the service
// ticket first (kvno): then curl takes it from the cache and only the
// authenticator it makes carries the skewed time (checked by decrypting
// it). A negative skew does not work that way: the cached ticket is not
// yet valid for the skewed clock, and curl sends no token at all.
func (s *stack) curlNegotiateSkewed(t *testing.T, ccache, skew, rawURL string, extra ...string) (status int, body string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-s", "--max-time", "30", "--negotiate", "-u", ":", "-w", "\n%{http_code}"}
	if net.ParseIP(u.Hostname()) == nil {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		args = append(args, "--resolve", u.Hostname()+":"+port+":127.0.0.1")
	}
	args = append(append(args, extra...), rawURL)
	name := "curl"
	if skew != "" {
		name, args = "faketime", append([]string{"-f", skew, "curl"}, args...)
	}
	out, err := s.krbRun(t, ccache, "", name, args...)
	if err != nil {
		t.Fatalf("curl --negotiate %s: %v\n%s", rawURL, err, out)
	}
	i := strings.LastIndexByte(out, '\n')
	status, err = strconv.Atoi(out[i+1:])
	if err != nil {
		t.Fatalf("curl --negotiate %s: no status in %q", rawURL, out)
	}
	return status, strings.TrimSpace(out[:i])
}

// chromiumKerberos prepares a Chromium to be launched with Options.Dir =
// dir to log in to the stack's site by Kerberos with the tickets of ccache
// (it sets KRB5_CONFIG and KRB5CCNAME for the test, which the browser
// inherits), and returns the flags to add. Chromium 156 on Linux needs, on
// top of the allow-list:
//   - Local State's net.received_http_auth_negotiate_headers: it loads
//     GSSAPI at start-up only when a Negotiate challenge has been seen
//     before; a fresh profile answers the first one with
//     ERR_UNSUPPORTED_AUTH_SCHEME and never sends a token.
//   - Local State's auth.disable_negotiate_cname_lookup (the command-line
//     switch --disable-auth-negotiate-cname-lookup has no effect): else it
//     asks for HTTP@<the address --host-resolver-rules maps the name to>,
//     HTTP@127.0.0.1, which the KDC does not know.
//   - --host-resolver-rules mapping the site's domain to 127.0.0.1 ahead of
//     the base rules (the last --host-resolver-rules given wins).
func (s *stack) chromiumKerberos(t *testing.T, dir, ccache string) []string {
	t.Helper()
	t.Setenv("KRB5_CONFIG", s.env["KRB5_CONFIG"])
	t.Setenv("KRB5CCNAME", ccache)
	_, domain, _ := strings.Cut(s.env["SPN_HOST"], ".")
	profile := filepath.Join(dir, "profile")
	if err := os.MkdirAll(profile, 0o700); err != nil {
		t.Fatal(err)
	}
	state := `{"net":{"received_http_auth_negotiate_headers":true},"auth":{"disable_negotiate_cname_lookup":true}}`
	if err := os.WriteFile(filepath.Join(profile, "Local State"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"--auth-server-allowlist=*." + domain,
		"--host-resolver-rules=MAP *." + domain + " 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
	}
}

// launchChromiumKerberos starts the Chromium at bin as chromiumKerberos
// prepares it for ccache (extra flags added) with one user whose prompts
// are answered with user and pw ("": none). The caller closes the browser,
// before it reads the NetLog.
func (s *stack) launchChromiumKerberos(ctx context.Context, t *testing.T, bin, ccache, user, pw string, extra ...string) (*chromium.Browser, *chromium.User) {
	t.Helper()
	dir := t.TempDir()
	b, err := chromium.Launch(ctx, chromium.Options{Binary: bin, Dir: dir, Flags: append(s.chromiumKerberos(t, dir, ccache), extra...)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.NewUser(ctx, user, pw)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	return b, u
}

// keytabEntry is one line of klist -k -e.
type keytabEntry struct {
	kvno      int
	principal string
	enctype   string
}

var keytabLine = regexp.MustCompile(`^\s*(\d+)\s+(\S+)\s+\((\S+)\)\s*$`)

// keytab lists the keys of the keytab at path, as klist -k -e shows them.
func (s *stack) keytab(t *testing.T, path string) []keytabEntry {
	t.Helper()
	out, err := s.krbRun(t, "FILE:/nonexistent", "", "klist", "-k", "-e", path)
	if err != nil {
		t.Fatalf("klist -k -e %s: %v\n%s", path, err, out)
	}
	var es []keytabEntry
	for _, l := range strings.Split(out, "\n") {
		if m := keytabLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			es = append(es, keytabEntry{n, m[2], m[3]})
		}
	}
	if len(es) == 0 {
		t.Fatalf("klist -k -e %s lists no keys:\n%s", path, out)
	}
	return es
}

// ticketEnctype is the enctype of the ticket for principal in ccache, as
// klist -e shows it ("Etype (skey, tkt): SKEY, TKT").
func (s *stack) ticketEnctype(t *testing.T, ccache, principal string) string {
	t.Helper()
	out, err := s.krbRun(t, ccache, "", "klist", "-e")
	if err != nil {
		t.Fatalf("klist -e: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`(?m)\s` + regexp.QuoteMeta(principal) + `\s*\n.*Etype \(skey, tkt\): [^,]+, (\S+)`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("klist -e shows no ticket for %s:\n%s", principal, out)
	}
	return m[1]
}

// TestKerberosStack checks, with MIT's tools, what the stack gives the
// Kerberos tests: a user gets a TGT from the DC's KDC; HTTP/SPN_HOST has
// AES tickets whose key version and keys are those of KEYTAB; the refusal
// fixtures are what they claim (another SPN whose key KEYTAB lacks, an RC4
// service, a keytab from before the last password change); the keytabs are
// readable by the daemon's user and no other; the site's host names are in
// the DC's DNS and reach Apache through curl --resolve; curl --negotiate
// sends a Kerberos token for HTTP/SPN_HOST.
func TestKerberosStack(t *testing.T) {
	s := loadStack(t)
	for _, k := range []string{"KRB5_CONFIG", "KRB5_REALM", "SPN_HOST", "SERVICE_PRINCIPAL", "HOST_URL",
		"KEYTAB", "KEYTAB_OLD_KVNO", "KEYTAB_RC4", "KEYTAB_OTHER", "OTHER_SPN_HOST", "RC4_SPN_HOST"} {
		if s.env[k] == "" {
			t.Fatalf("stack env lacks %s: bring the stack up again (scripts/stack.sh up)", k)
		}
	}
	realm := s.env["KRB5_REALM"]
	spn := s.env["SERVICE_PRINCIPAL"]
	full := func(spn string) string { return spn + "@" + realm }
	otherSPN, rc4SPN := "HTTP/"+s.env["OTHER_SPN_HOST"], "HTTP/"+s.env["RC4_SPN_HOST"]

	if _, out, err := s.tryKinit(t, "jdoe", "wrong-"+"password"); err == nil {
		t.Errorf("kinit jdoe with a wrong password succeeded:\n%s", out)
	}
	cc := s.kinit(t, "jdoe", "Secr3t!Pass")

	t.Run("service", func(t *testing.T) {
		kvno := s.kvno(t, cc, spn)
		if et := s.ticketEnctype(t, cc, full(spn)); !strings.HasPrefix(et, "aes256-") {
			t.Errorf("the ticket for %s is %s; want aes256 (msDS-SupportedEncryptionTypes = 24)", spn, et)
		}
		for _, e := range s.keytab(t, s.env["KEYTAB"]) {
			if e.principal != full(spn) || e.kvno != kvno || !strings.HasPrefix(e.enctype, "aes") {
				t.Errorf("KEYTAB holds %+v; want only AES keys of %s with the ticket's kvno %d", e, full(spn), kvno)
			}
		}
		// MIT's own check: the ticket the DC issued decrypts with KEYTAB.
		if out, err := s.krbRun(t, cc, "", "kvno", "-k", s.env["KEYTAB"], spn); err != nil || !strings.Contains(out, "keytab entry valid") {
			t.Errorf("kvno -k KEYTAB %s: %v\n%s", spn, err, out)
		}
	})

	t.Run("old kvno", func(t *testing.T) {
		kvno := s.kvno(t, cc, spn)
		for _, e := range s.keytab(t, s.env["KEYTAB_OLD_KVNO"]) {
			if e.principal != full(spn) || e.kvno >= kvno {
				t.Errorf("KEYTAB_OLD_KVNO holds %+v; want keys of %s with a kvno below the DC's %d", e, full(spn), kvno)
			}
		}
		if out, err := s.krbRun(t, cc, "", "kvno", "-k", s.env["KEYTAB_OLD_KVNO"], spn); err == nil {
			t.Errorf("the ticket for %s decrypts with KEYTAB_OLD_KVNO:\n%s", spn, out)
		}
	})

	t.Run("other SPN", func(t *testing.T) {
		s.kvno(t, cc, otherSPN)
		for _, e := range s.keytab(t, s.env["KEYTAB"]) {
			if e.principal == full(otherSPN) {
				t.Errorf("KEYTAB holds a key of %s: %+v", otherSPN, e)
			}
		}
		if out, err := s.krbRun(t, cc, "", "kvno", "-k", s.env["KEYTAB"], otherSPN); err == nil {
			t.Errorf("the ticket for %s decrypts with KEYTAB:\n%s", otherSPN, out)
		}
		if out, err := s.krbRun(t, cc, "", "kvno", "-k", s.env["KEYTAB_OTHER"], otherSPN); err != nil {
			t.Errorf("kvno -k KEYTAB_OTHER %s: %v\n%s", otherSPN, err, out)
		}
	})

	t.Run("RC4", func(t *testing.T) {
		s.kvno(t, cc, rc4SPN)
		if et := s.ticketEnctype(t, cc, full(rc4SPN)); !strings.Contains(et, "arcfour-hmac") {
			t.Errorf("the ticket for %s is %s; want arcfour-hmac (RC4)", rc4SPN, et)
		}
		for _, e := range s.keytab(t, s.env["KEYTAB_RC4"]) {
			if e.principal != full(rc4SPN) || !strings.Contains(e.enctype, "arcfour-hmac") {
				t.Errorf("KEYTAB_RC4 holds %+v; want only the RC4 key of %s", e, full(rc4SPN))
			}
		}
		if out, err := s.krbRun(t, cc, "", "kvno", "-k", s.env["KEYTAB_RC4"], rc4SPN); err != nil {
			t.Errorf("kvno -k KEYTAB_RC4 %s: %v\n%s", rc4SPN, err, out)
		}
	})

	t.Run("files", func(t *testing.T) {
		for _, k := range []string{"KEYTAB", "KEYTAB_OLD_KVNO", "KEYTAB_RC4", "KEYTAB_OTHER"} {
			fi, err := os.Stat(s.env[k])
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if fi.Mode().Perm() != 0o640 || st.Uid != 0 {
				t.Errorf("%s %s: mode %v, owner %d; want 0640, root", k, s.env[k], fi.Mode().Perm(), st.Uid)
			}
			// The daemon's user reads it; Apache's does not.
			for user, want := range map[string]bool{s.env["AUTHZ_USER"]: true, "www-data": false} {
				err := exec.Command("setpriv", "--reuid="+user, "--regid="+user, "--init-groups", "--", "test", "-r", s.env[k]).Run()
				if (err == nil) != want {
					t.Errorf("%s %s readable by %s: %v; want %v", k, s.env[k], user, err == nil, want)
				}
			}
		}
	})

	t.Run("host names", func(t *testing.T) {
		// The DC's DNS answers for the site's names (a client that uses
		// it as its resolver needs no --resolve).
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, net.JoinHostPort(s.env["DC_IP"], "53"))
		}}
		for _, h := range []string{s.env["SPN_HOST"], s.env["OTHER_SPN_HOST"], s.env["RC4_SPN_HOST"]} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			addrs, err := r.LookupHost(ctx, h)
			cancel()
			if err != nil || len(addrs) != 1 || addrs[0] != "127.0.0.1" {
				t.Errorf("the DC's DNS says %s is %v (%v); want 127.0.0.1", h, addrs, err)
			}
		}
		// Apache serves the site by that name, reached by --resolve.
		if st, body := s.curlNegotiate(t, cc, s.env["HOST_URL"]+"public/file.txt"); st != 200 || !strings.Contains(body, "/public/") {
			t.Errorf("GET %spublic/file.txt: %d %q", s.env["HOST_URL"], st, body)
		}
	})

	t.Run("curl token", func(t *testing.T) {
		// A server on loopback that asks for Negotiate and records what
		// curl answers, on the site's host name: with only a TGT in the
		// cache, curl gets the ticket for HTTP/<the URL's host> itself
		// and sends a SPNEGO token proposing Kerberos.
		cc := s.kinit(t, "alice", "Al1ce!Pass")
		url, tokens := s.negotiateRecorder(t)
		if st, _ := s.curlNegotiate(t, cc, url); st != 200 {
			t.Fatalf("curl --negotiate to the recording server: %d", st)
		}
		tok := kerberosToken(t, "curl", tokens)
		if et := s.ticketEnctype(t, cc, full(spn)); !strings.HasPrefix(et, "aes") {
			t.Errorf("curl's ticket for %s is %s", spn, et)
		}
		// The clock-skew recipe: with the ticket in the cache, curl under
		// faketime still sends a token (its authenticator carries the
		// skewed time: verified once by decrypting it with the keytab).
		if st, _ := s.curlNegotiateSkewed(t, cc, "+10m", url); st != 200 {
			t.Fatalf("curl --negotiate 10 minutes ahead to the recording server: %d", st)
		}
		if kerberosToken(t, "curl 10 minutes ahead", tokens) == tok {
			t.Error("curl 10 minutes ahead sent the same token again")
		}
	})
}

// TestKerberosChromium checks the Chromium recipe of chromiumKerberos on
// a server of the test's own that asks for Negotiate: with a TGT in its
// cache, a fresh headless Chromium gets the ticket for HTTP/SPN_HOST and
// sends a SPNEGO token proposing Kerberos, without a prompt.
func TestKerberosChromium(t *testing.T) {
	s := loadStack(t)
	bin := chromiumBinary(t)
	cc := s.kinit(t, "bob", "B0b!Passw0rd")
	url, tokens := s.negotiateRecorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, u := s.launchChromiumKerberos(ctx, t, bin, cc, "", "")
	defer b.Close()
	p, err := u.Goto(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != 200 || len(u.Prompts()) != 0 {
		t.Errorf("chromium: %d %q, prompts %v; want 200 by Kerberos, no prompt (NetLog %s)", p.Status, p.Body, u.Prompts(), b.NetLogPath)
	}
	kerberosToken(t, "chromium", tokens)
	if et := s.ticketEnctype(t, cc, s.env["SERVICE_PRINCIPAL"]+"@"+s.env["KRB5_REALM"]); !strings.HasPrefix(et, "aes") {
		t.Errorf("chromium's ticket for %s is %s", s.env["SERVICE_PRINCIPAL"], et)
	}
}

// negotiateRecorder starts a server on 127.0.0.1 that asks for Negotiate
// and answers any Negotiate token with 200, recording it: what a client
// sends, seen from the server's side. url is the server under the site's
// host name, http://SPN_HOST:PORT/.
func (s *stack) negotiateRecorder(t *testing.T) (url string, tokens <-chan string) {
	t.Helper()
	ch := make(chan string, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Negotiate "); ok {
			select {
			case ch <- tok:
			default:
			}
			fmt.Fprintln(w, "negotiated")
			return
		}
		w.Header().Set("WWW-Authenticate", "Negotiate")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "http://" + s.env["SPN_HOST"] + ":" + port + "/", ch
}

// kerberosToken returns the token client sent to a negotiateRecorder,
// failing the test unless there is one and it is SPNEGO proposing
// Kerberos first.
func kerberosToken(t *testing.T, client string, tokens <-chan string) string {
	t.Helper()
	select {
	case tok := <-tokens:
		if mechs, err := spnegoMechs(tok); err != nil || len(mechs) == 0 || !mechs[0].Equal(asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}) {
			t.Errorf("%s's token proposes %v (%v); want Kerberos (1.2.840.113554.1.2.2) first", client, mechs, err)
		}
		return tok
	default:
		t.Errorf("%s sent no Negotiate token", client)
		return ""
	}
}

// spnegoMechs returns the mechanism types a SPNEGO NegTokenInit (RFC 4178,
// base64 as in an Authorization header) proposes, in order.
func spnegoMechs(b64 string) ([]asn1.ObjectIdentifier, error) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	// [APPLICATION 0] { thisMech OID, [0] NegTokenInit SEQUENCE { [0] MechTypeList, ... } }
	var gss asn1.RawValue
	if _, err := asn1.Unmarshal(b, &gss); err != nil {
		return nil, err
	}
	var oid asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(gss.Bytes, &oid)
	if err != nil {
		return nil, err
	}
	if !oid.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2}) {
		return nil, fmt.Errorf("not SPNEGO: %v", oid)
	}
	var init, seq, list asn1.RawValue
	if _, err := asn1.Unmarshal(rest, &init); err != nil {
		return nil, err
	}
	if _, err := asn1.Unmarshal(init.Bytes, &seq); err != nil {
		return nil, err
	}
	if _, err := asn1.Unmarshal(seq.Bytes, &list); err != nil {
		return nil, err
	}
	if list.Class != asn1.ClassContextSpecific || list.Tag != 0 {
		return nil, errors.New("NegTokenInit without mechTypes")
	}
	var mechs []asn1.ObjectIdentifier
	_, err = asn1.Unmarshal(list.Bytes, &mechs)
	return mechs, err
}
