package authorizer

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// Extended Protection for Authentication (auth.channel_binding, issue 24).
//
// A relayed login is one the victim's client computed for another server
// (a file share, a poisoned name, the attacker's own site) and that an
// attacker forwards here. Over HTTPS the client puts into its NTLMv2 blob
// a hash of the TLS certificate it saw (MsvAvChannelBindings) and the
// service it meant (MsvAvTargetName). Those AV pairs lie inside the blob
// whose NTProofStr the domain controller checks, so nobody can change them
// without the DC refusing the login: a binding we check here and the DC
// then accepts is the client's own. We check them before the Type3 goes
// to the DC, and read them from the very NtChallengeResponse bytes we
// relay (see ntlmmsg.Authenticate.ClientAVPairs), never from elsewhere in
// the message.
//
// Kerberos carries its binding in the authenticator's GSS checksum (RFC
// 4121 4.1.1.2), which the acceptor hands over (kerberos.Login.Bindings):
// checkKerberosEPA decides it by the same table.

// EPACause is why Extended Protection refused a login; a metric label.
type EPACause string

const (
	// EPABindingMismatch: the client's binding is of another certificate
	// (a login meant for another TLS server, relayed here).
	EPABindingMismatch EPACause = "binding_mismatch"
	// EPABindingMissing: under required, an HTTPS login without one.
	EPABindingMissing EPACause = "binding_missing"
	// EPABindingOverHTTP: under required, a plain-HTTP login with one (a
	// login meant for a TLS channel, replayed without TLS).
	EPABindingOverHTTP EPACause = "binding_over_http"
	// EPATargetName: the login names another service (cifs/..., another
	// host).
	EPATargetName EPACause = "target_name"
	// EPAMalformed: the AV pairs or their values cannot be read.
	EPAMalformed EPACause = "malformed"
)

// EPAObserver is an Observer that also counts Extended Protection
// refusals (package metrics). An Observer need not be one.
type EPAObserver interface {
	EPARefused(EPACause)
}

// tlsCertParam is the variable Apache passes the server certificate in
// (PEM, as mod_ssl's SSL_SERVER_CERT; see apache/goauthenntlm.conf), and
// channelBindingParam the per-location override of auth.channel_binding.
//
// tlsEndPointParam is for TLS ended before Apache, by a load balancer or
// proxy: Apache's configuration sets it (SetEnvIfExpr, for requests its
// front end says came over TLS) to the front end's certificate's
// tls-server-end-point hash (RFC 5929: the SHA-256 of the certificate's
// DER for the usual SHA-256 or SHA-1 signed ones), in hex; several,
// comma-separated, while a certificate is replaced. A client's binding is
// for the certificate it saw, the front end's; the request then counts as
// HTTPS. A client cannot set it (its headers arrive as HTTP_*); a forged
// X-Forwarded-Proto only makes Apache demand the front end's binding,
// which a relayed login does not carry.
const (
	tlsCertParam        = "GOAUTHENNTLM_TLS_CERT"
	tlsEndPointParam    = "GOAUTHENNTLM_TLS_END_POINT"
	channelBindingParam = "CHANNEL_BINDING"
)

// channelBindingMode is the request's channel_binding: the location's
// CHANNEL_BINDING variable, else the configuration's, else the default
// (config.ChannelBindingDefault): when-sent over HTTPS, off over plain
// HTTP. Only Apache's configuration sets that variable (a client's headers
// arrive as HTTP_*). A value that is not one of the three is a
// configuration mistake; it is read as required, which refuses rather than
// lets in.
func (a *Authorizer) channelBindingMode(r *request) config.ChannelBinding {
	return a.channelBindingModeOf(r.Params)
}

func (a *Authorizer) channelBindingModeOf(p map[string]string) config.ChannelBinding {
	v := p[channelBindingParam]
	if v == "" {
		if m := a.cfg.Auth.ChannelBinding; m != config.ChannelBindingDefault {
			return m
		}
		if isHTTPS(p) {
			return config.ChannelBindingWhenSent
		}
		return config.ChannelBindingOff
	}
	m, err := config.ParseChannelBinding(v)
	if err != nil {
		a.log.Error("bad CHANNEL_BINDING from Apache's config; treated as required", "uri", identity.Short(p["REQUEST_URI"]), "err", err)
		return config.ChannelBindingRequired
	}
	return m
}

// checkEPA returns nil when msg may be relayed under the request's
// channel_binding, else the answer refusing it; and the strongest
// channel_binding the login meets, which the connection keeps (see
// epaMet).
func (a *Authorizer) checkEPA(r *request, msg *ntlmmsg.Authenticate) (uint8, *fcgi.Response) {
	return a.decideEPA(r, msg.User, msg.Domain, func(m config.ChannelBinding, anyName bool) (EPACause, string, error) {
		return a.epaVerdict(r, m, msg, anyName)
	})
}

// checkKerberosEPA is checkEPA for a Kerberos login, whose binding is the
// one in its authenticator's GSS checksum (RFC 4121 4.1.1.2; nil without
// one). The ticket's session key seals the authenticator: only the client
// that holds the ticket wrote it, so unlike NTLM's AV pairs nobody on the
// way can add one; the service it meant is the ticket's, which the
// acceptor checked.
func (a *Authorizer) checkKerberosEPA(r *request, bindings []byte, user, realm string) (uint8, *fcgi.Response) {
	var sent ntlmmsg.ChannelBindings
	if len(bindings) == len(sent) {
		copy(sent[:], bindings)
	}
	return a.decideEPA(r, user, realm, func(m config.ChannelBinding, _ bool) (EPACause, string, error) {
		return a.bindingVerdict(r, m, sent, true, true)
	})
}

// decideEPA is the decision around a verdict: the level the login meets
// (which the connection keeps), or the answer refusing it under the
// request's channel_binding, logged and counted. verdict's anyName skips
// the target name check: the default does where auth.server_names is
// empty, for its own decision only (the level the login meets, which
// explicit settings of later requests compare with, is always measured
// with it).
func (a *Authorizer) decideEPA(r *request, user, domain string, verdict func(m config.ChannelBinding, anyName bool) (EPACause, string, error)) (uint8, *fcgi.Response) {
	mode := a.channelBindingMode(r)
	var met uint8
	for _, m := range []config.ChannelBinding{config.ChannelBindingRequired, config.ChannelBindingWhenSent} {
		if cause, _, err := verdict(m, false); cause == "" && err == nil {
			met = epaRank(m)
			break
		}
	}
	if mode == config.ChannelBindingOff || met >= epaRank(mode) {
		return met, nil
	}
	// The default checks a target name only against names the
	// configuration lists: ServerName alone would refuse clients that
	// reach the site by an alias.
	anyName := a.defaultEPA(r.Params) && len(a.cfg.Auth.ServerNames) == 0
	cause, detail, err := verdict(mode, anyName)
	if err != nil && a.defaultEPA(r.Params) {
		// The default, on a site whose Apache does not pass its
		// certificate yet (installed before Extended Protection was on by
		// default): the login goes in as it did, and the log says what
		// to add. Only Apache's configuration decides this, never the
		// client.
		if a.epaWarn.due("epa_no_certificate", time.Now()) {
			a.log.Warn("Extended Protection (on by default over HTTPS) cannot check a channel binding: Apache passes no certificate: enable the goauthenntlm conf and say RewriteEngine On in the HTTPS virtual host (its GOAUTHENNTLM_TLS_CERT rule), or set [auth] channel_binding = \"off\"", "err", err)
		}
		return 0, nil
	}
	if err != nil {
		// Apache's side is missing (no certificate passed): not the
		// client's fault, and every HTTPS login would fail alike.
		a.log.Error("Extended Protection cannot check this login: Apache passes no certificate; enable the goauthenntlm conf and say RewriteEngine On in the HTTPS virtual host (its GOAUTHENNTLM_TLS_CERT rule)", "err", err)
		return 0, status(http.StatusInternalServerError, "authorizer: no server certificate for channel binding")
	}
	if cause == "" {
		return met, nil // the default's decision, without the target name
	}
	r.log.Warn("login refused by Extended Protection", "cause", string(cause), "detail", detail,
		"user", identity.Short(user), "domain", identity.Short(domain), "channel_binding", string(mode))
	if o, ok := a.obs.(EPAObserver); ok {
		o.EPARefused(cause)
	}
	return 0, a.challenge(true)
}

// defaultEPA reports whether the request's channel_binding is the default
// (neither the configuration nor the location set one).
func (a *Authorizer) defaultEPA(p map[string]string) bool {
	return a.cfg.Auth.ChannelBinding == config.ChannelBindingDefault && p[channelBindingParam] == ""
}

// epaRank orders the channel_binding modes: a login that meets one meets
// those below it.
func epaRank(m config.ChannelBinding) uint8 {
	switch m {
	case config.ChannelBindingWhenSent:
		return 1
	case config.ChannelBindingRequired:
		return 2
	}
	return 0
}

// epaMet reports whether login l, remembered for a connection (or read from
// the login cookie), may serve a request under its location's
// channel_binding: only a login that met it. Logins of the login cookie and
// of before this check met none: under when-sent and required a new
// connection handshakes. The default checks new logins only (see
// config.ChannelBindingDefault).
func (a *Authorizer) epaMet(l conntable.Login, p map[string]string) bool {
	if m := a.cfg.Auth.ChannelBinding; (m == config.ChannelBindingDefault || m == config.ChannelBindingOff) && p[channelBindingParam] == "" {
		return true // the hot path's common case: one map lookup
	}
	return l.EPA >= epaRank(a.channelBindingModeOf(p))
}

// epaVerdict is the decision table of Extended Protection: the cause of a
// refusal ("" for none) with a detail for the log, or an error when the
// server's own binding is needed and Apache did not pass the certificate.
func (a *Authorizer) epaVerdict(r *request, mode config.ChannelBinding, msg *ntlmmsg.Authenticate, anyName bool) (EPACause, string, error) {
	av, v2, err := msg.ClientAVPairs()
	if err != nil {
		return EPAMalformed, err.Error(), nil
	}
	if v2 && !anyName {
		if cause, detail := a.checkTargetName(r, av); cause != "" {
			return cause, detail, nil
		}
	}
	var sent ntlmmsg.ChannelBindings
	if v, ok := av.Get(ntlmmsg.MsvAvChannelBindings); ok {
		if len(v) != len(sent) {
			return EPAMalformed, fmt.Sprintf("MsvAvChannelBindings of %d bytes", len(v)), nil
		}
		copy(sent[:], v)
	}
	return a.bindingVerdict(r, mode, sent, v2, micFlagged(av))
}

// bindingVerdict decides a login's binding sent (zero: none) on this
// request's channel under mode. v2 is false for an NTLMv1 response, which
// has no room for one; protected says the client alone can have put it
// there (see micFlagged).
func (a *Authorizer) bindingVerdict(r *request, mode config.ChannelBinding, sent ntlmmsg.ChannelBindings, v2, protected bool) (EPACause, string, error) {
	if !isHTTPS(r.Params) {
		if !sent.IsZero() && mode == config.ChannelBindingRequired {
			return EPABindingOverHTTP, "a channel binding on plain HTTP", nil
		}
		return "", "", nil
	}
	if sent.IsZero() {
		if mode == config.ChannelBindingRequired {
			if !v2 {
				return EPABindingMissing, "an NTLMv1 response carries no channel binding", nil
			}
			return EPABindingMissing, "no channel binding", nil
		}
		return "", "", nil
	}
	ok, err := a.bindingMatches(r.Params, sent)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return EPABindingMismatch, "channel binding of another certificate", nil
	}
	if mode == config.ChannelBindingRequired && !protected {
		return EPABindingMissing, "a channel binding without a MIC (MsvAvFlags 0x2)", nil
	}
	return "", "", nil
}

// bindingMatches reports whether sent is the binding of the certificate
// the client saw: the front end's (tlsEndPointParam) when TLS ended
// before Apache, else Apache's own (tlsCertParam).
func (a *Authorizer) bindingMatches(p map[string]string, sent ntlmmsg.ChannelBindings) (bool, error) {
	eps, offloaded := p[tlsEndPointParam]
	if !offloaded {
		want, err := a.certs.bindings(p[tlsCertParam])
		return sent == want, err
	}
	match := false
	for _, f := range strings.Split(eps, ",") {
		ep, err := hex.DecodeString(strings.TrimSpace(f))
		if err != nil || (len(ep) != sha256.Size && len(ep) != sha512.Size384 && len(ep) != sha512.Size) {
			return false, fmt.Errorf("%s from Apache's config: %q is not the hex of a SHA-256, -384 or -512 hash", tlsEndPointParam, identity.Short(f))
		}
		// Every value is checked, so that a typo shows at the first login.
		if ntlmmsg.GSSChannelBindings(append([]byte("tls-server-end-point:"), ep...)) == sent {
			match = true
		}
	}
	return match, nil
}

// micFlagged reports whether the client's AV pairs say its Type3 carries
// a MIC (MsvAvFlags 0x2). Under required a binding counts only then. A
// client that copies the challenge's TargetInfo into its blob as it is
// and sends no MIC (curl does) signs whatever AV pairs a relaying attacker
// added to the challenge on its way, this site's binding and target name
// included, and the DC accepts them; with the flag (which the attacker
// cannot remove from the blob) the DC checks the MIC, which covers the
// challenge the DC sent, so an altered challenge (or a flag the attacker
// added) fails there.
func micFlagged(av ntlmmsg.AVPairs) bool {
	v, ok := av.Get(ntlmmsg.MsvAvFlags)
	return ok && len(v) == 4 && binary.LittleEndian.Uint32(v)&0x2 != 0
}

// checkTargetName checks MsvAvTargetName, when the client sent a
// non-empty one: it must be HTTP/ and one of auth.server_names (or, with
// none configured, the SERVER_NAME Apache passes), with an optional port,
// case-insensitively.
func (a *Authorizer) checkTargetName(r *request, av ntlmmsg.AVPairs) (EPACause, string) {
	raw, ok := av.Get(ntlmmsg.MsvAvTargetName)
	if !ok || len(raw) == 0 {
		return "", ""
	}
	name := av.String(ntlmmsg.MsvAvTargetName)
	if name == "" {
		return EPAMalformed, "MsvAvTargetName is not UTF-16"
	}
	service, host, ok := strings.Cut(name, "/")
	if !ok || !strings.EqualFold(service, "HTTP") {
		return EPATargetName, fmt.Sprintf("target name %q is not an HTTP service", identity.Short(name))
	}
	if h, port, ok := strings.Cut(host, ":"); ok && port != "" && strings.Trim(port, "0123456789") == "" {
		host = h
	}
	names := a.cfg.Auth.ServerNames
	if len(names) == 0 {
		names = []string{r.Params["SERVER_NAME"]}
	}
	for _, n := range names {
		if n != "" && strings.EqualFold(host, n) {
			return "", ""
		}
	}
	return EPATargetName, fmt.Sprintf("target name %q names another host", identity.Short(name))
}

// certBindings remembers the channel binding of each server certificate
// Apache passed, so each is parsed and hashed once, not per login. Keyed
// by the certificate's text as Apache passes it; a few entries (one per
// TLS virtual host), emptied when full so that it stays bounded.
type certBindings struct {
	mu sync.Mutex
	m  map[string]certBinding
}

type certBinding struct {
	cb  ntlmmsg.ChannelBindings
	err error
}

const maxCertBindings = 32

var errNoCert = errors.New("HTTPS request without the server certificate (" + tlsCertParam + ")")

func (c *certBindings) bindings(pemText string) (ntlmmsg.ChannelBindings, error) {
	if pemText == "" {
		return ntlmmsg.ChannelBindings{}, errNoCert
	}
	c.mu.Lock()
	b, ok := c.m[pemText]
	c.mu.Unlock()
	if ok {
		return b.cb, b.err
	}
	cert, err := parseCertText(pemText)
	if err == nil {
		b.cb, err = ntlmmsg.TLSChannelBindings(cert)
	}
	b.err = err
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCertBindings {
		c.m = map[string]certBinding{}
	}
	c.m[pemText] = b
	c.mu.Unlock()
	return b.cb, b.err
}

// parseCertText reads one PEM certificate as Apache passes it: with its
// line breaks (mod_rewrite, SetEnv) or with blanks instead (mod_headers'
// %{SSL_SERVER_CERT}s replaces them).
func parseCertText(s string) (*x509.Certificate, error) {
	const begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
	s = strings.TrimSpace(s)
	body, ok := strings.CutPrefix(s, begin)
	if !ok {
		return nil, fmt.Errorf("%s: not a PEM certificate", tlsCertParam)
	}
	body, ok = strings.CutSuffix(body, end)
	if !ok {
		return nil, fmt.Errorf("%s: PEM certificate without its END line", tlsCertParam)
	}
	body = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, body)
	der, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tlsCertParam, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tlsCertParam, err)
	}
	return cert, nil
}
