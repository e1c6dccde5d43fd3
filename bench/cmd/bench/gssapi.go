package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
)

// P7: Kerberos against the peer, Debian's mod_auth_gssapi, on the same
// bench Apache, same keytab and same file (bench/apache-bench-gssapi.conf.in).
// Two measures, each side by side in interleaved rounds: logins (a new
// connection and a fresh AP-REQ each, asking for mutual authentication as
// browsers do) and requests on a logged-in keep-alive connection, with
// /trivial/ beside them, so that what is Apache's (mod_authnz_fcgi's
// connection per request) and what is the authorizer's can be read off
// the CPU split.

const gssapiModule = "/usr/lib/apache2/modules/mod_auth_gssapi.so"

// gssapiSetup copies the stack's keytab where www-data can read it and
// gives mod_auth_gssapi a replay cache directory of its own (MIT's default
// is /var/tmp, shared with every other Apache on the machine).
func (s *benchSite) gssapiSetup() error {
	kt := s.env["KEYTAB"]
	if kt == "" {
		return errors.New("the stack has no KEYTAB in stack.env")
	}
	if _, err := os.Stat(gssapiModule); err != nil {
		return fmt.Errorf("%s: %w (package libapache2-mod-auth-gssapi)", gssapiModule, err)
	}
	u, err := user.Lookup("www-data")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := filepath.Join(s.pub, "gssapi")
	rc := filepath.Join(dir, "rcache")
	os.RemoveAll(dir)
	for _, d := range []string{dir, rc} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(kt)
	if err != nil {
		return err
	}
	copyPath := filepath.Join(dir, "http.keytab")
	if err := os.WriteFile(copyPath, b, 0o400); err != nil {
		return err
	}
	if err := os.Chown(copyPath, uid, gid); err != nil {
		return err
	}
	s.gssapiKeytab = copyPath
	s.apacheEnv = []string{"KRB5RCACHEDIR=" + rc, "KRB5_CONFIG=" + s.env["KRB5_CONFIG"]}
	return nil
}

// Kerberos test accounts: the load is spread over this many accounts, as
// real logins are, so that no single account's weight in the replay
// table (the heaviest are refused first once it is 3/4 full; with Redis,
// a share per account) is what is measured.
const (
	krbBenchUsers = 32
	krbBenchPass  = "Kb3nch!Pass"
)

// krbTokens makes fresh Kerberos tokens (SPNEGO) for HTTP/SPN_HOST from
// one service ticket per bench account, in turn.
type krbTokens struct {
	tickets []*kerberos.ClientTicket
	next    atomic.Uint64
}

func (k *krbTokens) token() ([]byte, error) {
	return k.tickets[k.next.Add(1)%uint64(len(k.tickets))].Token()
}

func (k *krbTokens) header() (string, error) {
	tok, err := k.token()
	if err != nil {
		return "", err
	}
	return "Negotiate " + base64.StdEncoding.EncodeToString(tok), nil
}

var krbOnce struct {
	sync.Once
	k   *krbTokens
	err error
}

// kerberosTokens creates the bench accounts in the stack's DC (once; they
// stay) and gets a service ticket for each from its KDC.
func (r *runner) kerberosTokens() (*krbTokens, error) {
	krbOnce.Do(func() { krbOnce.k, krbOnce.err = r.newKerberosTokens() })
	return krbOnce.k, krbOnce.err
}

func (r *runner) newKerberosTokens() (*krbTokens, error) {
	realm, dcIP, host := r.env["KRB5_REALM"], r.env["DC_IP"], r.env["SPN_HOST"]
	if realm == "" || host == "" {
		return nil, fmt.Errorf("the stack has no Kerberos (KRB5_REALM, SPN_HOST in stack.env): bring it up again")
	}
	names := make([]string, krbBenchUsers)
	for i := range names {
		names[i] = fmt.Sprintf("kbench%02d", i+1)
	}
	if err := r.ensureUsers(names, krbBenchPass); err != nil {
		return nil, err
	}
	kcfg, err := kerberos.ClientConfig(realm, []string{dcIP})
	if err != nil {
		return nil, err
	}
	k := &krbTokens{}
	for _, n := range names {
		t, err := kerberos.TicketWithPassword(kcfg, n, realm, krbBenchPass, "HTTP/"+host)
		if err != nil {
			return nil, err
		}
		k.tickets = append(k.tickets, t)
	}
	return k, nil
}

// ensureUsers creates the accounts that the stack's DC lacks, through
// Samba's own Python on its database (one samba-tool call takes seconds).
func (r *runner) ensureUsers(names []string, pass string) error {
	conf := filepath.Join(r.env["DC_DIR"], "etc", "smb.conf")
	script := `
import sys
import ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
conf, pw, names = sys.argv[1], sys.argv[2], sys.argv[3:]
lp = LoadParm()
lp.load(conf)
db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
for n in names:
    if not db.search(base=db.domain_dn(), scope=ldb.SCOPE_SUBTREE, expression="(sAMAccountName=%s)" % n, attrs=[]):
        db.newuser(n, pw)
`
	cmd := exec.Command("/usr/bin/python3", append([]string{"-c", script, conf, pass}, names...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("creating the Kerberos bench accounts: %v\n%s", err, out)
	}
	return nil
}

// negotiateLogin GETs path on a new connection with a fresh token and
// wants 200; the connection is returned open (keep-alive variants) or
// closed.
func negotiateLogin(addr, path string, k *krbTokens, keep bool) (*httpConn, error) {
	hdr, err := k.header()
	if err != nil {
		return nil, err
	}
	h, err := dialHTTP(addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	resp, err := h.get(path, hdr, time.Now().Add(10*time.Second))
	if err == nil && resp.status != 200 {
		err = &statusErr{step: "Negotiate login " + path, status: resp.status}
	}
	if err != nil || !keep {
		h.Close()
		return nil, err
	}
	return h, nil
}

// replayRefused sends one fresh token on a new connection (200 wanted),
// then the same token on another (401 wanted): nil when the location
// refuses the replay.
func replayRefused(addr, path string, k *krbTokens) error {
	hdr, err := k.header()
	if err != nil {
		return err
	}
	for i, want := range []int{200, 401} {
		h, err := dialHTTP(addr, 5*time.Second)
		if err != nil {
			return err
		}
		resp, err := h.get(path, hdr, time.Now().Add(10*time.Second))
		h.Close()
		if err != nil {
			return err
		}
		if resp.status != want {
			return fmt.Errorf("%s: use %d of one token got %d, want %d", path, i+1, resp.status, want)
		}
	}
	return nil
}

// kerberosPeer is P7.
func (r *runner) kerberosPeer() {
	o := r.o
	na := func(name, why string) {
		r.res.add(row{Section: "P7", Name: name, Value: "n/a", Result: "ERROR", Note: why})
	}
	if r.site.gssapiKeytab == "" {
		na("Kerberos vs mod_auth_gssapi", "mod_auth_gssapi not set up (see the bench's log)")
		return
	}
	k, err := r.kerberosTokens()
	if err != nil {
		na("Kerberos vs mod_auth_gssapi", err.Error())
		return
	}
	ours, peer := "/private/file.txt", "/gssapi/file.txt"
	// Both sides refuse a replayed token, or nothing is measured.
	replayOK := true
	for _, side := range []struct{ name, path string }{{"ours", ours}, {"mod_auth_gssapi", peer}} {
		x := row{Section: "P7", Name: "replayed token refused: " + side.name, Value: "401", Target: "401", Result: "PASS"}
		if err := replayRefused(r.site.addr, side.path, k); err != nil {
			x.Value, x.Result, x.Note, replayOK = "-", "FAIL", err.Error(), false
		}
		r.res.add(x)
	}
	if !replayOK {
		return
	}
	meter := r.cpuMeter()
	login := func(path string) func() error {
		return func() error { _, err := negotiateLogin(r.site.addr, path, k, false); return err }
	}
	say("P7: Kerberos logins (new connection, fresh AP-REQ each), ours vs mod_auth_gssapi, %d concurrent, %d rounds x %s (warm-up 1s each)", o.hsConc, o.rounds, o.hsDur)
	ro, rp := r.interleavedPair(meter, pairOp{"ours", "logins/s", login(ours)}, pairOp{"gssapi", "logins/s", login(peer)})
	r.res.Runs["kerberos-login/ours"], r.res.Runs["kerberos-login/gssapi"] = ro, rp
	mo, mp := medianOf(ro), medianOf(rp)
	r.res.add(row{Section: "P7", Name: "Kerberos login mod_auth_gssapi /gssapi/", Value: fmt.Sprintf("%.0f logins/s", mp.RPS),
		P50ms: f64(mp.P50ms), P99ms: f64(mp.P99ms), Result: "ref", Errors: mp.Errors, Note: cpuNote(mp, "login")})
	x := row{Section: "P7", Name: "Kerberos login ours /private/", Value: fmt.Sprintf("%.0f logins/s", mo.RPS),
		P50ms: f64(mo.P50ms), P99ms: f64(mo.P99ms), RatioOf: "mod_auth_gssapi", Target: ">= 1.00", Errors: mo.Errors, Note: cpuNote(mo, "login")}
	ratioRow(&x, mo, mp, 1.0)
	r.res.add(x)
	r.res.add(cpuRow("authorizer CPU per Kerberos login", mo, 100))

	// Keep-alive: each connection logs in once (not timed), then GETs
	// without a token on the authenticated connection.
	vs := []variant{
		{name: "trivial", path: "/trivial/file.txt", auth: authNone},
		{name: "krb-ours", path: ours, auth: authNegotiate, krb: k},
		{name: "krb-gssapi", path: peer, auth: authNegotiate, krb: k},
	}
	say("P7: keep-alive on logged-in Kerberos connections: %d connections, %d rounds x %s, rotating order", o.conns, o.rounds, o.dur)
	runs := r.keepAliveRounds(vs, meter)
	med := map[string]runResult{}
	for _, v := range vs {
		med[v.name] = medianOf(runs[v.name])
		r.res.Runs["keepalive/"+v.name] = runs[v.name]
	}
	t, g, m := med["trivial"], med["krb-gssapi"], med["krb-ours"]
	r.res.add(row{Section: "P7", Name: "keep-alive trivial authorizer /trivial/", Value: fmt.Sprintf("%.0f req/s", t.RPS),
		P50ms: f64(t.P50ms), P99ms: f64(t.P99ms), Result: "ref", Errors: t.Errors, Note: cpuNote(t, "req")})
	r.res.add(row{Section: "P7", Name: "keep-alive mod_auth_gssapi /gssapi/", Value: fmt.Sprintf("%.0f req/s", g.RPS),
		P50ms: f64(g.P50ms), P99ms: f64(g.P99ms), Result: "ref", Errors: g.Errors, Note: cpuNote(g, "req")})
	x = row{Section: "P7", Name: "keep-alive ours (Kerberos) /private/", Value: fmt.Sprintf("%.0f req/s", m.RPS),
		P50ms: f64(m.P50ms), P99ms: f64(m.P99ms), RatioOf: "trivial", Target: ">= 0.90", Errors: m.Errors, Note: cpuNote(m, "req")}
	ratioRow(&x, m, t, 0.9)
	r.res.add(x)
	y := row{Section: "P7", Name: "keep-alive ours vs mod_auth_gssapi", Value: "-", RatioOf: "mod_auth_gssapi", Result: "info",
		Note: "mod_authnz_fcgi opens a connection to the authorizer per request; compare trivial's apache CPU"}
	if g.RPS > 0 {
		y.Ratio = f64(m.RPS / g.RPS)
	}
	r.res.add(y)
	r.res.add(cpuRow("authorizer CPU per keep-alive request", m, 30))
	// What of a login is ours: the trivial authorizer pays the same
	// FastCGI connection (accept, read, write, close, the Go runtime) per
	// request and does nothing else.
	if lc, ok := mo.CPUus["authz"]; ok {
		if tc, ok := t.CPUus["trivial"]; ok {
			r.res.add(row{Section: "P7", Name: "authorizer CPU per login above the trivial one's per request", Value: fmt.Sprintf("%.0f µs", lc-tc), Result: "info",
				Note: fmt.Sprintf("%.0f µs a login - %.0f µs the trivial authorizer's FastCGI connection", lc, tc)})
		}
	}
}

// cpuNote shows a run's CPU per operation: Apache's, the authorizer's and
// the rest.
func cpuNote(m runResult, what string) string {
	return strings.TrimSpace("cpu µs/" + what + ": " + formatCPU(m.CPUus) + " " + m.FirstErr)
}

// ratioRow fills x's ratio of m to ref and its verdict against min.
func ratioRow(x *row, m, ref runResult, min float64) {
	switch {
	case ref.RPS == 0:
		x.Result = "n/a"
	default:
		x.Ratio = f64(m.RPS / ref.RPS)
		x.Result = verdict(*x.Ratio >= min)
	}
	if m.Errors > 0 && x.Result == "PASS" {
		x.Result = "ERROR"
	}
}

// cpuRow is the authorizer's CPU per operation of m against max µs.
func cpuRow(name string, m runResult, max float64) row {
	x := row{Section: "P7", Name: name, Target: fmt.Sprintf("<= %.0f µs", max)}
	cpu, ok := m.CPUus["authz"]
	if !ok {
		x.Value, x.Result = "n/a", "n/a"
		return x
	}
	x.Value = fmt.Sprintf("%.0f µs", cpu)
	x.Result = verdict(cpu <= max)
	x.Note = fmt.Sprintf("apache %.0f µs (trivial row: Apache's cost of the FastCGI round trip)", m.CPUus["apache"])
	return x
}
