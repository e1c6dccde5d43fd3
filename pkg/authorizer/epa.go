package authorizer

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/conntable"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/identity"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
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
// Kerberos carries the same binding in its authenticator's checksum
// (RFC 4121 4.1.1.2), sealed with the ticket's session key: kerberosLogin
// reads it (kerberosClaim) and the same decision (epaVerdict) applies.

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
const (
	tlsCertParam        = "GOAUTHENNTLM_TLS_CERT"
	channelBindingParam = "CHANNEL_BINDING"
)

// channelBindingMode is the request's channel_binding: the location's
// CHANNEL_BINDING variable, else the configuration's. Only Apache's
// configuration sets that variable (a client's headers arrive as HTTP_*).
// A value that is not one of the three is a configuration mistake; it is
// read as required, which refuses rather than lets in.
func (a *Authorizer) channelBindingMode(r *request) config.ChannelBinding {
	return a.channelBindingModeOf(r.Params)
}

func (a *Authorizer) channelBindingModeOf(p map[string]string) config.ChannelBinding {
	v := p[channelBindingParam]
	if v == "" {
		return a.cfg.Auth.ChannelBinding
	}
	m, err := config.ParseChannelBinding(v)
	if err != nil {
		a.log.Error("bad CHANNEL_BINDING from Apache's config; treated as required", "uri", identity.Short(p["REQUEST_URI"]), "err", err)
		return config.ChannelBindingRequired
	}
	return m
}

// epaClaim is what a login says about the channel and the service it was
// made for, read once per login from the scheme's own message: the NTLMv2
// blob's AV pairs (ntlmClaim) or the Kerberos authenticator's checksum
// (kerberosClaim). epaVerdict decides on it alike for both schemes.
type epaClaim struct {
	// binding is the client's channel binding, MD5 of its
	// gss_channel_bindings (the same value in MsvAvChannelBindings and in
	// the Kerberos checksum's Bnd field); all zero when it bound none.
	binding ntlmmsg.ChannelBindings
	// refused, with detail, is a cause that refuses the login under
	// when-sent and required on any channel (unreadable AV pairs, another
	// service's target name).
	refused EPACause
	detail  string
	// none is the detail logged when there is no binding under required.
	none string
}

// ntlmClaim reads msg's claim from the NtChallengeResponse bytes that are
// relayed (see the package comment of this file).
func (a *Authorizer) ntlmClaim(r *request, msg *ntlmmsg.Authenticate) epaClaim {
	c := epaClaim{none: "no channel binding"}
	av, v2, err := msg.ClientAVPairs()
	if err != nil {
		c.refused, c.detail = EPAMalformed, err.Error()
		return c
	}
	if !v2 {
		c.none = "an NTLMv1 response carries no channel binding"
	} else if cause, detail := a.checkTargetName(r, av); cause != "" {
		c.refused, c.detail = cause, detail
		return c
	}
	if v, ok := av.Get(ntlmmsg.MsvAvChannelBindings); ok {
		if len(v) != len(c.binding) {
			c.refused, c.detail = EPAMalformed, fmt.Sprintf("MsvAvChannelBindings of %d bytes", len(v))
			return c
		}
		copy(c.binding[:], v)
	}
	return c
}

// kerberosClaim reads a Kerberos login's claim: the Bnd field of its
// authenticator's GSS checksum (RFC 4121 4.1.1.2), which the acceptor
// decrypted with the ticket's session key, so nobody but the ticket's
// holder can have set it. The service it was meant for is the ticket's,
// which the acceptor has checked against its keytab.
func kerberosClaim(l *kerberos.Login) epaClaim {
	c := epaClaim{none: "no channel binding in the Kerberos authenticator"}
	if len(l.Bindings) == len(c.binding) {
		copy(c.binding[:], l.Bindings)
	} else if l.Bindings == nil {
		c.none = "a Kerberos authenticator without a GSS checksum"
	}
	return c
}

// checkEPA returns nil when a login claiming c may go on under the
// request's channel_binding, else the answer refusing it; and the
// strongest channel_binding the login meets, which the connection keeps
// (see epaMet). user and domain are the names the client gave, for the
// log.
func (a *Authorizer) checkEPA(r *request, c epaClaim, user, domain string) (uint8, *fcgi.Response) {
	mode := a.channelBindingMode(r)
	met := a.epaLevel(r, c)
	if mode == config.ChannelBindingOff || met >= epaRank(mode) {
		return met, nil
	}
	cause, detail, err := a.epaVerdict(r, mode, c)
	if err != nil {
		// Apache's side is missing (no certificate passed): not the
		// client's fault, and every HTTPS login would fail alike.
		a.log.Error("Extended Protection cannot check this login; see the GOAUTHENNTLM_TLS_CERT lines of apache/goauthenntlm.conf", "err", err)
		return 0, status(http.StatusInternalServerError, "authorizer: no server certificate for channel binding")
	}
	if cause == "" {
		return met, nil // not reached: met says otherwise
	}
	r.log.Warn("login refused by Extended Protection", "cause", string(cause), "detail", detail,
		"user", identity.Short(user), "domain", identity.Short(domain), "channel_binding", string(mode))
	if o, ok := a.obs.(EPAObserver); ok {
		o.EPARefused(cause)
	}
	return 0, a.challenge(true)
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

// epaLevel is the rank of the strongest mode under which a login claiming
// c would be let in on this request's channel. A connection's later
// requests may be for locations with a stronger channel_binding than its
// login's: they are let through only if the login met theirs (else a login
// relayed to a location without Extended Protection would open the others
// on its connection).
func (a *Authorizer) epaLevel(r *request, c epaClaim) uint8 {
	for _, m := range []config.ChannelBinding{config.ChannelBindingRequired, config.ChannelBindingWhenSent} {
		if cause, _, err := a.epaVerdict(r, m, c); cause == "" && err == nil {
			return epaRank(m)
		}
	}
	return 0
}

// epaMet reports whether login l, remembered for a connection (or read from
// the login cookie), may serve a request under its location's
// channel_binding: only a login that met it. Logins of the login cookie and
// of before this check met none: under when-sent and required a new
// connection handshakes.
func (a *Authorizer) epaMet(l conntable.Login, p map[string]string) bool {
	if a.cfg.Auth.ChannelBinding == config.ChannelBindingOff && p[channelBindingParam] == "" {
		return true // the hot path's common case: one map lookup
	}
	return l.EPA >= epaRank(a.channelBindingModeOf(p))
}

// epaVerdict is the decision table of Extended Protection, for NTLM and
// Kerberos alike: the cause of a refusal ("" for none) with a detail for
// the log, or an error when the server's own binding is needed and Apache
// did not pass the certificate. The server's binding comes from the
// per-certificate cache: no certificate is parsed per login.
func (a *Authorizer) epaVerdict(r *request, mode config.ChannelBinding, c epaClaim) (EPACause, string, error) {
	if c.refused != "" {
		return c.refused, c.detail, nil
	}
	if !isHTTPS(r.Params) {
		if !c.binding.IsZero() && mode == config.ChannelBindingRequired {
			return EPABindingOverHTTP, "a channel binding on plain HTTP", nil
		}
		return "", "", nil
	}
	if c.binding.IsZero() {
		if mode == config.ChannelBindingRequired {
			return EPABindingMissing, c.none, nil
		}
		return "", "", nil
	}
	want, err := a.certs.bindings(r.Params[tlsCertParam])
	if err != nil {
		return "", "", err
	}
	if c.binding != want {
		return EPABindingMismatch, "channel binding of another certificate", nil
	}
	return "", "", nil
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
