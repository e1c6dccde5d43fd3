//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/goauthenntlm/goauthenntlm/internal/browser"
	"github.com/goauthenntlm/goauthenntlm/internal/chromium"
	"github.com/goauthenntlm/goauthenntlm/internal/firefox"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// cluster is the cluster stack of scripts/cluster.sh: HAProxy's addresses
// (its stack.env: URL, HTTPS_URL, PASSTHROUGH_URL, and node1's other
// settings) and each node as a stack of its own.
type cluster struct {
	*stack
	nodes [2]*stack
}

func loadCluster(t *testing.T) *cluster {
	t.Helper()
	path := os.Getenv("GOAUTHENNTLM_CLUSTER")
	if path == "" {
		t.Skip("GOAUTHENNTLM_CLUSTER not set: the cluster tests need the stack of scripts/cluster.sh (make test and make e2e-up bring it up)")
	}
	c := &cluster{stack: readStack(t, path)}
	for i := range c.nodes {
		p := c.env[fmt.Sprintf("NODE%d_STACK", i+1)]
		if p == "" {
			t.Fatalf("cluster env %s lacks NODE%d_STACK", path, i+1)
		}
		c.nodes[i] = readStack(t, p)
	}
	return c
}

// tlsArgs are curl's arguments to reach rawURL, on the site's host name,
// over HTTPS: the stack's CA, the name resolved to 127.0.0.1.
func (c *cluster) tlsArgs(t *testing.T, rawURL string) []string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "https" {
		return nil
	}
	return []string{"--cacert", c.env["HTTPS_CA"], "--resolve", u.Host + ":127.0.0.1"}
}

// nodeMetric sums a counter over both nodes' /metrics.
func (c *cluster) nodeMetric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	for _, n := range c.nodes {
		_, m := n.metrics(t, "/metrics")
		sum += metricValue(m, name, labels...)
	}
	return sum
}

var curlResult = regexp.MustCompile(`(?m)^RESULT (\d+) (\d+)$`)

// curlNTLMKeepAlive fetches path n times in one curl (one connection while
// it stays open) as user by NTLM, with curl's cookie engine on (a browser
// keeps the binding cookie), and returns each answer's status and body,
// the connections curl opened, and the NTLM messages it sent.
func (c *cluster) curlNTLMKeepAlive(t *testing.T, base, path, user string, n int) (answers []string, conns, sent int) {
	t.Helper()
	args := append([]string{"-s", "-v", "--max-time", "30", "-b", "", "--ntlm", "-u", `EXAMPLE\` + user + ":" + users[user],
		"-w", "\nRESULT %{http_code} %{num_connects}\n"}, c.tlsArgs(t, base)...)
	for range n {
		args = append(args, strings.TrimSuffix(base, "/")+path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, stderr.String())
	}
	rest, prev := string(out), 0
	for _, m := range curlResult.FindAllStringSubmatchIndex(rest, -1) {
		body := strings.TrimSpace(rest[prev:m[0]])
		answers = append(answers, rest[m[2]:m[3]]+" "+body)
		var k int
		fmt.Sscan(rest[m[4]:m[5]], &k)
		conns += k
		prev = m[1]
	}
	sent = strings.Count(stderr.String(), "> Authorization: NTLM ")
	return answers, conns, sent
}

// TestClusterNTLM: curl logs in by NTLM through HAProxy, with TLS ended at
// HAProxy, and passed through to the nodes, and stays logged in on its
// connection: one login for three requests, the later ones let in by the
// connection's login on the node that checked it. HAProxy's HTTPS front
// end offers h2: curl asks over h2 first, and on the NTLM challenge opens
// an HTTP/1.1 connection ("Forcing HTTP/1.1 for NTLM"), where it logs in.
func TestClusterNTLM(t *testing.T) {
	c := loadCluster(t)
	for _, front := range []struct {
		name, base string
		conns      int
	}{
		{"http", c.env["URL"], 1},
		{"https ended at HAProxy, h2 offered", c.env["HTTPS_URL"], 2},
		{"https passed through to the nodes' h2 site", c.env["PASSTHROUGH_URL"], 2},
	} {
		t.Run(front.name, func(t *testing.T) {
			logins := c.nodeMetric(t, "goauthenntlm_logins_total")
			reused := c.nodeMetric(t, "goauthenntlm_reused_total", `via="connection"`)
			answers, conns, sent := c.curlNTLMKeepAlive(t, front.base, "/private/whoami", "jdoe", 3)
			want := []string{"200 jdoe", "200 jdoe", "200 jdoe"}
			if strings.Join(answers, "|") != strings.Join(want, "|") {
				t.Fatalf("answers %q, want %q", answers, want)
			}
			if conns != front.conns || sent != 2 {
				t.Errorf("%d connections and %d NTLM messages over HTTP/1.1 for three requests, want %d and 2 (Type1, Type3)", conns, sent, front.conns)
			}
			if d := c.nodeMetric(t, "goauthenntlm_logins_total") - logins; d != 1 {
				t.Errorf("%v logins on the nodes, want 1", d)
			}
			if d := c.nodeMetric(t, "goauthenntlm_reused_total", `via="connection"`) - reused; d != 2 {
				t.Errorf("%v requests let in by the connection's login, want 2", d)
			}
			// A wrong password is refused through HAProxy too.
			code := curl(t, append([]string{"-o", "/dev/null", "-w", "%{http_code}", "--ntlm", "-u", `EXAMPLE\jdoe:wrong`},
				append(c.tlsArgs(t, front.base), strings.TrimSuffix(front.base, "/")+"/private/whoami")...)...)
			if code != "401" {
				t.Errorf("wrong password: %s, want 401", code)
			}
		})
	}
}

// nodeURL is path on node i (0 or 1) directly, under the site's host name
// (Kerberos), or under base's host name when host is "".
func (c *cluster) nodeURL(t *testing.T, i int, host, path string) string {
	t.Helper()
	u, err := url.Parse(c.env[fmt.Sprintf("NODE%d_URL", i+1)])
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		u.Host = host + ":" + u.Port()
	}
	return strings.TrimSuffix(u.String(), "/") + path
}

// TestClusterKerberos: one Kerberos ticket logs in through HAProxy and on
// either node (they share the keytab).
func TestClusterKerberos(t *testing.T) {
	c := loadCluster(t)
	krbTool(t, "kinit")
	host := c.env["SPN_HOST"]
	cc := c.kinit(t, "alice", users["alice"])
	for _, u := range []string{
		strings.TrimSuffix(c.env["HOST_URL"], "/") + "/private/whoami",
		c.nodeURL(t, 0, host, "/private/whoami"),
		c.nodeURL(t, 1, host, "/private/whoami"),
	} {
		if code, body := c.curlNegotiate(t, cc, u); code != 200 || body != "alice" {
			t.Errorf("%s: %d %q, want 200 alice", u, code, body)
		}
	}
}

// sharedCookieKey writes one new cookie key, as name, into each node's PUB
// (the same bytes on every node, as an administrator copies it) and
// returns each node's path.
func (c *cluster) sharedCookieKey(t *testing.T, name string) [2]string {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	data := []byte(base64.StdEncoding.EncodeToString(k) + "\n")
	var paths [2]string
	for i, n := range c.nodes {
		paths[i] = n.daemonFile(t, name, data)
	}
	return paths
}

// cookieEverywhere rewrites both nodes' [cookie] table (the last table of
// their configs, stack.sh's STACK_CONF_EXTRA) to secret_files and
// generation, and reloads both; restored when t ends.
func (c *cluster) cookieEverywhere(t *testing.T, gen int, secrets ...[2]string) {
	t.Helper()
	for i, n := range c.nodes {
		var files []string
		for _, s := range secrets {
			files = append(files, fmt.Sprintf("%q", s[i]))
		}
		n.reconfigure(t, func(conf string) string {
			at := strings.LastIndex(conf, "\n[cookie]\n")
			if at < 0 {
				t.Fatalf("node%d's config has no [cookie] table (scripts/cluster.sh adds one)", i+1)
			}
			return conf[:at] + fmt.Sprintf("\n[cookie]\nenabled = true\nsecret_files = [%s]\ngeneration = %d\n", strings.Join(files, ", "), gen)
		})
	}
}

// TestClusterCookie: a login cookie one node set logs in on the other
// (shared key and generation); raising the generation on both revokes it
// on both; a rotated key keeps old cookies while the old key is listed
// second, and drops them once it is gone.
func TestClusterCookie(t *testing.T) {
	c := loadCluster(t)
	a, b := c.sharedCookieKey(t, "cluster-cookie-a.key"), c.sharedCookieKey(t, "cluster-cookie-b.key")
	c.cookieEverywhere(t, 0, a)
	login, binding := loginCookie(t, c.nodes[0], "jdoe")
	both := func(what string, want int) {
		t.Helper()
		for i, n := range c.nodes {
			code, body := withCookieGet(t, n, pair(login), pair(binding))
			if code != want || (want == 200 && body != "jdoe") {
				t.Errorf("%s, node%d: %d %q, want %d", what, i+1, code, body, want)
			}
		}
	}
	both("node1's cookie", 200)

	c.cookieEverywhere(t, 0, b, a)
	both("node1's cookie, key rotated on both (old key still listed)", 200)
	login2, binding2 := loginCookie(t, c.nodes[1], "alice")
	if code, body := withCookieGet(t, c.nodes[0], pair(login2), pair(binding2)); code != 200 || body != "alice" {
		t.Errorf("node2's cookie under the new key, on node1: %d %q, want 200 alice", code, body)
	}
	c.cookieEverywhere(t, 0, b)
	both("node1's cookie, old key retired on both", 401)

	login, binding = loginCookie(t, c.nodes[0], "jdoe")
	both("a new cookie", 200)
	c.cookieEverywhere(t, 1, b)
	both("after raising generation on both", 401)
}

// served is which node (X-Served-By, set by HAProxy) answered.
func served(resp *http.Response) string { return resp.Header.Get("X-Served-By") }

// TestClusterNodeDown: a client logged in through HAProxy on one node; that
// node's authorizer stops mid-session. HAProxy drains the node (its check
// sees Apache's 500), closes the client's connection, and the client's
// next requests log in again on the other node.
func TestClusterNodeDown(t *testing.T) {
	c := loadCluster(t)
	cl := ntlmClient(nil)
	defer cl.CloseIdleConnections()
	resp, body := fetch(t, cl, c.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"])
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "jdoe" {
		t.Fatalf("login through HAProxy: %d %q", resp.StatusCode, body)
	}
	first := served(resp)
	var down *stack
	switch first {
	case "node1":
		down = c.nodes[0]
	case "node2":
		down = c.nodes[1]
	default:
		t.Fatalf("answered by %q, want node1 or node2 (X-Served-By)", first)
	}
	down.ctl(t, "stop-authz")
	t.Cleanup(func() {
		down.ctl(t, "start-authz")
		c.waitHAProxy(t, first, "UP")
	})
	c.waitHAProxy(t, first, "DOWN")
	for i := range 3 {
		resp, body := fetch(t, cl, c.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"])
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "jdoe" || served(resp) == first {
			t.Errorf("request %d after %s's authorizer stopped: %d %q from %q, want 200 jdoe from the other node", i, first, resp.StatusCode, body, served(resp))
		}
	}
}

// waitHAProxy waits until HAProxy's log says server (node1, node2) of the
// backend nodes is state (UP, DOWN).
func (c *cluster) waitHAProxy(t *testing.T, server, state string) {
	t.Helper()
	re := regexp.MustCompile(`Server nodes/` + server + ` is (UP|DOWN)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(c.env["HAPROXY_LOG"])
		if err != nil {
			t.Fatal(err)
		}
		if m := re.FindAllStringSubmatch(string(b), -1); len(m) > 0 && m[len(m)-1][1] == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy did not mark %s %s within 20 s", server, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterChromium: a real Chromium logs in through HAProxy by NTLM
// (typed credentials) and by Kerberos (a ticket, no prompt), over plain
// HTTP and over HTTPS ended at HAProxy, whose front end offers h2.
func TestClusterChromium(t *testing.T) {
	c := loadCluster(t)
	bin := chromiumBinary(t)
	t.Run("NTLM", func(t *testing.T) {
		// Logged in, then two more pages on the same connection: the nodes
		// answer them at once (no 401), by the connection's login.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		b, err := chromium.Launch(ctx, chromium.Options{Binary: bin, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		u, err := b.NewUser(ctx, `EXAMPLE\jdoe`, users["jdoe"])
		if err != nil {
			t.Fatal(err)
		}
		m := fmt.Sprintf("c=clch%d", time.Now().UnixNano()%1e9)
		for i, path := range []string{"/private/whoami?" + m + "-login", "/private/whoami?" + m + "-next", "/private/file.txt?" + m + "-next"} {
			p, err := u.Goto(ctx, c.url(path))
			if err != nil || p.Status != 200 || (i == 0 && strings.TrimSpace(p.Body) != "jdoe") {
				t.Fatalf("Chromium through HAProxy, %s: %v %d %q", path, err, p.Status, p.Body)
			}
		}
		if n := len(u.Prompts()); n != 1 {
			t.Errorf("Chromium prompted %d times, want 1", n)
		}
		if got := c.protocols(t, m+"-next"); strings.Join(got, " ") != "HTTP/1.1 200 HTTP/1.1 200" {
			t.Errorf("the pages after the login, as the nodes logged them: %v, want two 200s and no 401", got)
		}
	})
	t.Run("Kerberos", func(t *testing.T) {
		cc := c.kinit(t, "bob", users["bob"])
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		b, u := c.launchChromiumKerberos(ctx, t, bin, cc, "", "")
		defer b.Close()
		p, err := u.Goto(ctx, strings.TrimSuffix(c.env["HOST_URL"], "/")+"/private/whoami")
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != 200 || strings.TrimSpace(p.Body) != "bob" || len(u.Prompts()) != 0 {
			t.Errorf("Chromium by Kerberos through HAProxy: %d %q, prompts %v; want 200 bob, none (NetLog %s)", p.Status, p.Body, u.Prompts(), b.NetLogPath)
		}
	})
}

// clientFrom is an NTLM client (ntlmClient: a cookie jar, one connection)
// whose connections leave from the local address src.
func clientFrom(src string) *http.Client {
	c := ntlmClient(nil)
	n := c.Transport.(ntlmssp.Negotiator)
	rt := n.RoundTripper.(countingRT)
	tr := rt.next.(browser.Transport).Next.(*http.Transport)
	tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext
	return c
}

// TestClusterPooledFront: an Apache mod_proxy front end that sends every
// client's requests over one pooled connection to node1. Two users, from
// two addresses, interleave their requests through it: every request is
// answered as its own user or refused, never as the other user, with the
// connection binding on (the default) and off; and the authorizer WARNs,
// naming the front end's pooling as the cause.
func TestClusterPooledFront(t *testing.T) {
	c := loadCluster(t)
	node := c.nodes[0]
	start := node.logOffset(t)
	for _, bind := range []bool{true, false} {
		t.Run(fmt.Sprintf("bind_connections=%v", bind), func(t *testing.T) {
			if !bind {
				node.reconfigure(t, func(conf string) string {
					return strings.Replace(conf, "[auth]\n", "[auth]\nbind_connections = false\n", 1)
				})
			}
			off := node.logOffset(t)
			clients := []struct {
				user string
				cl   *http.Client
			}{{"jdoe", clientFrom("127.0.0.1")}, {"alice", clientFrom(c.env["DC_IP"])}}
			var own, other, refused int
			for range 8 {
				for _, x := range clients {
					resp, body := fetch(t, x.cl, c.env["FRONT_URL"]+"private/whoami", `EXAMPLE\`+x.user, users[x.user])
					switch got := strings.TrimSpace(string(body)); {
					case resp.StatusCode == 200 && got == x.user:
						own++
					case resp.StatusCode == 200:
						other++
						t.Errorf("%s's request answered as %q", x.user, got)
					default:
						refused++
					}
				}
			}
			for _, x := range clients {
				x.cl.CloseIdleConnections()
			}
			log, _ := node.logSince(t, off)
			t.Logf("16 requests: %d answered as their own user, %d as the other, %d refused", own, other, refused)
			if own == 0 {
				t.Errorf("no request answered as its own user through the front end:\n%s", log)
			}
			if !strings.Contains(log, "msg=\"a front end") {
				t.Errorf("nothing in node1's log names the front end:\n%s", log)
			}
		})
	}
	// At WARN once a minute (and once per reload): the first time.
	if log, _ := node.logSince(t, start); !regexp.MustCompile(`level=WARN msg="a front end`).MatchString(log) {
		t.Errorf("no WARN naming the front end in node1's log:\n%s", log)
	}
}

// TestClusterEPAOffload: TLS ends at HAProxy, so a client's channel binding
// is for HAProxy's certificate. The nodes' Apache passes that
// certificate's hash (GOAUTHENNTLM_TLS_END_POINT, set for requests HAProxy
// says came over TLS): a login bound to it logs in under channel_binding
// required; one bound to any other certificate (the nodes' own, which a
// client of HAProxy never sees) or to none is refused, and so is a target
// name other than the site's public one.
func TestClusterEPAOffload(t *testing.T) {
	c := loadCluster(t)
	e := &epaSite{s: c.stack, host: c.env["HTTPS_HOST"], port: c.env["HTTPS_PORT"], roots: x509.NewCertPool()}
	ca, err := os.ReadFile(c.env["HTTPS_CA"])
	if err != nil || !e.roots.AppendCertsFromPEM(ca) {
		t.Fatalf("the cluster's CA %s: %v", c.env["HTTPS_CA"], err)
	}
	seen := func(port string) *x509.Certificate {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{ServerName: e.host, RootCAs: e.roots, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatalf("TLS to 127.0.0.1:%s: %v", port, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	e.cert = seen(e.port)
	if e.binding, err = ntlmmsg.TLSChannelBindings(e.cert); err != nil {
		t.Fatal(err)
	}
	node, err := ntlmmsg.TLSChannelBindings(seen(c.env["PASSTHROUGH_PORT"]))
	if err != nil {
		t.Fatal(err)
	}
	if node == e.binding {
		t.Fatal("HAProxy presents the nodes' certificate; the test needs another one")
	}
	site := avTarget("HTTP/" + e.host)
	for _, tt := range []struct {
		name string
		av   ntlmmsg.AVPairs
		want int
	}{
		{"HAProxy's certificate", ntlmmsg.AVPairs{site, avBinding(e.binding)}, 200},
		{"the nodes' certificate", ntlmmsg.AVPairs{site, avBinding(node)}, 401},
		{"no binding", ntlmmsg.AVPairs{site}, 401},
		{"a node's own name as the target", ntlmmsg.AVPairs{avTarget("HTTP/node1.example.test"), avBinding(e.binding)}, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.craftedLogin(t, e.client(), e.url("/epa/required/whoami"), tt.av)
			if status != tt.want || (tt.want == 200 && body != "jdoe") {
				t.Errorf("through HAProxy under required: %d %q, want %d", status, body, tt.want)
			}
		})
	}
	// Chromium computes the binding of the certificate it saw: HAProxy's.
	if status, prompts := chromiumHTTPS(t, e, "/epa/required/whoami"); status != 200 || prompts != 1 {
		t.Errorf("Chromium through HAProxy under required: %d after %d prompts, want 200 after 1", status, prompts)
	}
}

// chromiumHTTPS opens path on e's HTTPS site in a headless Chromium as
// jdoe, typing the password at its prompt; it returns the status and the
// number of prompts.
func chromiumHTTPS(t *testing.T, e *epaSite, path string) (status, prompts int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, u := e.launchChromium(ctx, t)
	defer b.Close()
	p, err := u.Goto(ctx, e.url(path))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(p.Body) != "jdoe" && p.Status == 200 {
		t.Errorf("Chromium: 200 %q, want jdoe", p.Body)
	}
	return p.Status, len(u.Prompts())
}

// h2Site is the nodes' HTTPS site, which has HTTP/2 on (Protocols h2
// http/1.1), reached through HAProxy's TLS passthrough: the client's ALPN
// reaches Apache.
func (c *cluster) h2Site(t *testing.T) *epaSite {
	t.Helper()
	e := &epaSite{s: c.stack, host: c.env["HTTPS_HOST"], port: c.env["PASSTHROUGH_PORT"], roots: x509.NewCertPool()}
	ca, err := os.ReadFile(c.env["HTTPS_CA"])
	if err != nil || !e.roots.AppendCertsFromPEM(ca) {
		t.Fatalf("the cluster's CA %s: %v", c.env["HTTPS_CA"], err)
	}
	conn, err := tls.Dial("tcp", "127.0.0.1:"+e.port, &tls.Config{ServerName: e.host, RootCAs: e.roots, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("the nodes' HTTPS site negotiated %q, want h2 (scripts/cluster.sh turns HTTP/2 on)", p)
	}
	e.cert = conn.ConnectionState().PeerCertificates[0]
	return e
}

// protocols lists the request lines (with their protocol) and statuses the
// nodes' Apache logged for requests carrying marker.
func (c *cluster) protocols(t *testing.T, marker string) []string {
	t.Helper()
	var out []string
	for _, n := range c.nodes {
		b, err := os.ReadFile(n.env["APACHE_ACCESS_LOG"])
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if _, rest, ok := strings.Cut(l, "\"GET "); ok && strings.Contains(l, marker) {
				req, after, _ := strings.Cut(rest, "\" ")
				status, _, _ := strings.Cut(after, " ")
				out = append(out, req[strings.LastIndexByte(req, ' ')+1:]+" "+status)
			}
		}
	}
	return out
}

// TestClusterH2 (issue 33, 5): on a site with HTTP/2 on, Chromium and
// Firefox log in by NTLM and by Kerberos; the access log shows which
// protocol each request went over. Apache's mod_http2 has no way to
// answer HTTP_1_1_REQUIRED (as IIS does) for NTLM: each client's own
// fallback is what happens. And no request on a shared h2 connection is
// answered with a login it did not make: a client's login on an h2
// connection does not let in another request on it that lacks its
// binding cookie.
func TestClusterH2(t *testing.T) {
	c := loadCluster(t)
	e := c.h2Site(t)
	spki := sha256.Sum256(e.cert.RawSubjectPublicKeyInfo)
	trust := "--ignore-certificate-errors-spki-list=" + base64.StdEncoding.EncodeToString(spki[:])
	mark := func(name string) string { return fmt.Sprintf("c=h2%s%d", name, time.Now().UnixNano()%1e9) }
	expect := func(t *testing.T, who string, status int, body string, prompts int, wantPrompts int, marker string) {
		t.Helper()
		t.Logf("%s: %d %q after %d prompts; requests (protocol, status): %v", who, status, strings.TrimSpace(body), prompts, c.protocols(t, marker))
		if status != 200 || prompts != wantPrompts {
			t.Errorf("%s on the h2 site: %d %q after %d prompts, want 200 after %d", who, status, body, prompts, wantPrompts)
		}
	}
	t.Run("Chromium NTLM", func(t *testing.T) {
		m := mark("cn")
		status, prompts := chromiumHTTPS(t, e, "/private/whoami?"+m)
		expect(t, "Chromium by NTLM", status, "", prompts, 1, m)
	})
	t.Run("Chromium Kerberos", func(t *testing.T) {
		m := mark("ck")
		cc := c.kinit(t, "bob", users["bob"])
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		b, u := c.launchChromiumKerberos(ctx, t, chromiumBinary(t), cc, "", "", trust)
		defer b.Close()
		p, err := u.Goto(ctx, e.url("/private/whoami?"+m))
		if err != nil {
			t.Fatal(err)
		}
		expect(t, "Chromium by Kerberos", p.Status, p.Body, len(u.Prompts()), 0, m)
		if strings.TrimSpace(p.Body) != "bob" {
			t.Errorf("Chromium by Kerberos: %q, want bob", p.Body)
		}
	})
	t.Run("Firefox NTLM", func(t *testing.T) {
		m := mark("fn")
		pages, prompts, _ := firefoxVisit(t, e.host, m, firefox.Options{AcceptInsecureCerts: true}, "jdoe", users["jdoe"], e.url("/private/whoami?"+m))
		expect(t, "Firefox by NTLM", pages[0].Status, pages[0].Body, len(prompts[0]), 1, m)
		if strings.TrimSpace(pages[0].Body) != "jdoe" {
			t.Errorf("Firefox by NTLM: %q, want jdoe", pages[0].Body)
		}
	})
	t.Run("Firefox Kerberos", func(t *testing.T) {
		m := mark("fk")
		cc := c.kinit(t, "alice", users["alice"])
		o := c.firefoxKerberos(cc)
		o.AcceptInsecureCerts = true
		pages, prompts, _ := firefoxVisit(t, e.host, m, o, "", "", e.url("/private/whoami?"+m))
		expect(t, "Firefox by Kerberos", pages[0].Status, pages[0].Body, len(prompts[0]), 0, m)
		if strings.TrimSpace(pages[0].Body) != "alice" {
			t.Errorf("Firefox by Kerberos: %q, want alice", pages[0].Body)
		}
	})
	t.Run("shared h2 connection", func(t *testing.T) {
		tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: e.roots},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, "127.0.0.1:"+e.port)
			}}
		defer tr.CloseIdleConnections()
		resp, body := fetch(t, browser.NewClient(browser.Transport{Next: tr}, 30*time.Second), e.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"])
		t.Logf("NTLM login over %s: %d %q", resp.Proto, resp.StatusCode, body)
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "jdoe" {
			t.Fatalf("login: %d %q", resp.StatusCode, body)
		}
		// Another request on the same h2 connection, without the login's
		// binding cookie (another client's, multiplexed by a front end).
		other, obody := fetch(t, &http.Client{Transport: tr}, e.url("/private/whoami"), "", "")
		if other.StatusCode != 401 {
			t.Errorf("a request without the binding cookie on the h2 connection jdoe logged in (%s): %d %q, want 401", other.Proto, other.StatusCode, obody)
		}
	})
}

// TestClusterKerberosReplay: the nodes share their Kerberos replay cache in
// Redis ([replay] redis_url): a token node1 accepted is refused by node2
// as a replay. With Redis down, Kerberos logins are refused (the store
// fails closed, cause replay_store) while NTLM goes on; with Redis back,
// Kerberos logs in again.
func TestClusterKerberosReplay(t *testing.T) {
	c := loadCluster(t)
	if c.env["REDIS_URL"] == "" {
		t.Skip("the cluster stack has no REDIS_URL (made before it shared a replay cache)")
	}
	krbTool(t, "kinit")
	host := c.env["SPN_HOST"]
	cc := c.kinit(t, "jdoe", users["jdoe"])
	// A token node1 accepts, taken from curl's trace.
	u1 := c.nodeURL(t, 0, host, "/private/whoami")
	out, _ := c.krbRun(t, cc, "", "curl", "-s", "-v", "--negotiate", "-u", ":", "--resolve", strings.Split(u1, "/")[2]+":127.0.0.1", u1)
	var h string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "> Authorization: Negotiate "); ok {
			h = "Authorization: Negotiate " + v
		}
	}
	if h == "" || !strings.Contains(out, "\njdoe") {
		t.Fatalf("no Kerberos login on node1 in curl's trace:\n%s", out)
	}
	u2 := c.nodeURL(t, 1, host, "/private/whoami")
	off := c.nodes[1].logOffset(t)
	code := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-H", h, "--resolve", strings.Split(u2, "/")[2]+":127.0.0.1", u2)
	if log, _ := c.nodes[1].logSince(t, off); code != "401" || !strings.Contains(log, "cause=replay ") {
		t.Errorf("node1's token sent to node2: %s, want 401 with cause=replay in node2's log:\n%s", code, log)
	}

	c.clusterCtl(t, "redis-stop")
	t.Cleanup(func() { c.clusterCtl(t, "redis-start") })
	off = c.nodes[0].logOffset(t)
	if code, body := c.curlNegotiate(t, cc, u1); code != 401 {
		t.Errorf("Kerberos with Redis down: %d %q, want 401 (fail closed)", code, body)
	}
	if log, _ := c.nodes[0].logSince(t, off); !strings.Contains(log, "cause=replay_store") {
		t.Errorf("no cause=replay_store in node1's log:\n%s", log)
	}
	if code := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "--ntlm", "-u", `EXAMPLE\jdoe:`+users["jdoe"], c.nodeURL(t, 0, "", "/private/whoami")); code != "200" {
		t.Errorf("NTLM with Redis down: %s, want 200", code)
	}
	c.clusterCtl(t, "redis-start")
	if code, body := c.curlNegotiate(t, cc, u1); code != 200 || body != "jdoe" {
		t.Errorf("Kerberos with Redis back: %d %q, want 200 jdoe", code, body)
	}
}

// clusterCtl runs a scripts/cluster.sh subcommand on the cluster.
func (c *cluster) clusterCtl(t *testing.T, cmd string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "bash", repoFile(t, "scripts/cluster.sh"), cmd, c.dir).CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh %s: %v\n%s", cmd, err, out)
	}
}

// TestClusterRemoteIP: the nodes run mod_remoteip trusting HAProxy's
// address (127.0.0.1), which makes REMOTE_ADDR the address an
// X-Forwarded-For names and leaves REMOTE_PORT the connection's. A client
// logged in on node1 from one address; a connection from the trusted
// address, from the same port, with an X-Forwarded-For naming the
// client's address, is not the client's connection, even with the
// binding cookie off: the authorizer keys connections by the peer
// address Apache passes (GOAUTHENNTLM_PEER from CONN_REMOTE_ADDR).
func TestClusterRemoteIP(t *testing.T) {
	c := loadCluster(t)
	node := c.nodes[0]
	node.reconfigure(t, func(conf string) string {
		return strings.Replace(conf, "[auth]\n", "[auth]\nbind_connections = false\n", 1)
	})
	victimIP := c.env["DC_IP"]
	var port int
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(victimIP)}}).DialContext(ctx, network, addr)
			if err == nil {
				port = conn.LocalAddr().(*net.TCPAddr).Port
			}
			return conn, err
		}}
	defer tr.CloseIdleConnections()
	victim := browser.NewClient(browser.Transport{Next: tr}, 30*time.Second)
	if code, body := get(t, victim, node.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Fatalf("the victim's login on node1: %d %q", code, body)
	}
	// The victim's connection stays open (idle in tr); the attacker
	// connects from the trusted address and the victim's port.
	attacker := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: port}}).DialContext}}
	req, _ := http.NewRequest("GET", node.url("/private/whoami"), nil)
	req.Header.Set("X-Forwarded-For", victimIP)
	resp, err := attacker.Do(req)
	if err != nil {
		t.Fatalf("the attacker's request from 127.0.0.1:%d: %v", port, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("X-Forwarded-For %s from 127.0.0.1:%d, the victim's port: %d %q, want 401", victimIP, port, resp.StatusCode, b)
	}
	// The victim is still logged in on its own connection.
	if code, body := get(t, victim, node.url("/private/whoami"), "", ""); code != 200 || body != "jdoe" {
		t.Errorf("the victim's connection afterwards: %d %q, want 200 jdoe", code, body)
	}
}
