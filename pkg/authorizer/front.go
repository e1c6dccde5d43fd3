package authorizer

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
)

// A front end (reverse proxy, load balancer) between the clients and Apache
// makes its own connections to Apache, and the authorizer sees those: a
// login is remembered for the front end's connection. HAProxy keeps a
// connection that answered an NTLM or Negotiate 401 for its client alone;
// a front end that pools its connections across clients (Apache's
// mod_proxy, HAProxy's "http-reuse always" before any 401) sends another
// client's request over a connection someone logged in. The binding cookie
// (bind_connections) tells browsers apart; what the front end says about
// the client (X-Forwarded-For, Forwarded) tells its clients apart even
// with binding off. An attacker gains nothing by forging either header:
// the front end appends the address it sees, so a forged value only ever
// differs from the victim's, and a differing value refuses the connection's
// login, it never selects one.

// peerParam is the TCP peer's address, which Apache's configuration passes
// (SetEnvIfExpr from %{CONN_REMOTE_ADDR}; apache/goauthenntlm.conf).
// mod_remoteip replaces REMOTE_ADDR with an address from X-Forwarded-For
// but leaves REMOTE_PORT the connection's: keyed by REMOTE_ADDR, a
// connection from a trusted proxy address with a forged X-Forwarded-For
// naming a victim's address, from the victim's port, would be the
// victim's connection. A client cannot set it (its headers arrive as
// HTTP_*).
const peerParam = "GOAUTHENNTLM_PEER"

// peerAddr is the connection's peer address: peerParam when Apache
// passes it, else REMOTE_ADDR (which is the peer without mod_remoteip).
func peerAddr(p map[string]string) string {
	if a := p[peerParam]; a != "" {
		return a
	}
	return p["REMOTE_ADDR"]
}

// forwardedHash is the SHA-256 of what a front end said about the client:
// X-Forwarded-For and Forwarded as Apache received them, and REMOTE_ADDR
// where mod_remoteip made it another address than the peer's (it removes
// the X-Forwarded-For entries it used); zero when there is none of these.
// A hash, so that a table entry stays small however long the fields are.
func forwardedHash(p map[string]string) [32]byte {
	xff, fwd, client := p["HTTP_X_FORWARDED_FOR"], p["HTTP_FORWARDED"], ""
	if peer := p[peerParam]; peer != "" && peer != p["REMOTE_ADDR"] {
		client = p["REMOTE_ADDR"]
	}
	if xff == "" && fwd == "" && client == "" {
		return [32]byte{}
	}
	return sha256.Sum256([]byte(xff + "\x00" + fwd + "\x00" + client))
}

// viaFront reports whether a front end forwarded this request.
func viaFront(p map[string]string) bool {
	return p["HTTP_X_FORWARDED_FOR"] != "" || p["HTTP_FORWARDED"] != "" || p["HTTP_VIA"] != "" || forwardedHash(p) != [32]byte{}
}

// frontShared logs, at WARN at most once a minute (one misconfigured front
// end would otherwise log every request), that a front end sent another
// client's request over a connection a login was remembered for.
func (a *Authorizer) frontShared(key conntable.Key, l conntable.Login, p map[string]string, why string) {
	lvl := slog.LevelInfo
	if a.frontWarn.due("front", time.Now()) {
		lvl = slog.LevelWarn
	}
	a.log.Log(context.Background(), lvl, "a front end (reverse proxy or load balancer) sent another client's request over a connection to Apache that a login was remembered for: "+why+
		"; challenged again instead of answering as that login. Fix: have the front end keep each client connection on a connection to Apache of its own (HAProxy: http-reuse safe, its default, never always; Apache mod_proxy pools connections and cannot, so use HAProxy, or keep bind_connections on); see the README, Load balancers",
		"client", key.Client.String(), "user", l.User, "domain", l.Domain, "remote_addr", p["REMOTE_ADDR"], "x_forwarded_for", truncate(p["HTTP_X_FORWARDED_FOR"], 200))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
