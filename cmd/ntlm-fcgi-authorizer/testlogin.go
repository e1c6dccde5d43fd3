package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/goauthenntlm/goauthenntlm/pkg/authorizer"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/ntlmmsg"
)

// Exit codes of -test-login.
const (
	loginOK      = 0 // the DC accepted the login
	loginRefused = 1 // the DC refused it (or the domain's policy did)
	loginError   = 2 // no answer: configuration, DC unreachable, bad input
)

// testLogin is -test-login: a full NTLMv2 login of typed (EXAMPLE\jdoe,
// jdoe@example.test or jdoe) with a password from the terminal (no echo)
// or stdin, through an Authorizer built from cfg as the daemon builds it.
// It plays the browser and Apache: a Type1, then the Type3 answering the
// DC's challenge, each handed to ServeFCGI in a FastCGI request, so the
// routing, the relay and the naming of the user are the daemon's own.
func testLogin(cfg *config.Config, typed string, stdin *os.File, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ntlm-fcgi-authorizer: -test-login: "+format+"\n", a...)
		return loginError
	}
	if typed == "" {
		return fail("name a user: -test-login 'EXAMPLE\\jdoe'")
	}
	password, err := readPassword(stdin, stderr, typed)
	if err != nil {
		return fail("%v", err)
	}
	secret, err := cfg.CallerSecret()
	if err != nil {
		return fail("%v", err)
	}
	rec := &recorder{}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := authorizer.New(cfg, authorizer.Options{Logger: log, CallerSecret: secret, Observer: rec, KerberosReplay: toolReplay()})
	if err != nil {
		return fail("%v", err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	resp, err := playLogin(ctx, a, cfg, secret, typed, password)
	if err != nil {
		return fail("%v", err)
	}
	o, ok := rec.last()
	if !ok {
		// Refused before a DC was asked (a domain that is not served, a
		// scheme not offered): the log line above says why.
		fmt.Fprintf(stdout, "http:        %d (no DC asked)\n", resp.Status)
		return loginRefused
	}
	dcName := o.DC
	if dcName == "" {
		dcName = "(none answered)"
	}
	status := "(none)"
	if o.Result == authorizer.ResultOK || o.Status != 0 {
		status = o.Status.String()
	}
	fmt.Fprintf(stdout, "dc:          %s\nstatus:      %s\nresult:      %s\nhttp:        %d\n", dcName, status, o.Result, respStatus(resp))
	switch o.Result {
	case authorizer.ResultOK:
	case authorizer.ResultRefused, authorizer.ResultNotAllowed:
		return loginRefused
	default:
		return loginError
	}
	fmt.Fprintf(stdout, "REMOTE_USER: %s\n", resp.Variables["REMOTE_USER"])
	if v := cfg.Groups.Variable; v != "" {
		if g, ok := resp.Variables[v]; ok {
			fmt.Fprintf(stdout, "groups:      %s\n", strings.Join(strings.FieldsFunc(g, func(r rune) bool { return r == '|' }), ", "))
		} else {
			fmt.Fprintf(stdout, "groups:      (unavailable: see the log line above, or no ldap_urls for %s)\n", o.Domain)
		}
	}
	return loginOK
}

func respStatus(r *fcgi.Response) int {
	if r.Status == 0 {
		return http.StatusOK
	}
	return r.Status
}

// playLogin sends what a browser would, in the first scheme offered:
// NTLM (or raw NTLM in Negotiate) in two steps, or Basic in one.
func playLogin(ctx context.Context, a *authorizer.Authorizer, cfg *config.Config, secret, typed, password string) (*fcgi.Response, error) {
	var port [2]byte
	rand.Read(port[:])
	params := map[string]string{
		"FCGI_ROLE": "AUTHORIZER", "FCGI_APACHE_ROLE": "AUTHENTICATOR",
		"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": fmt.Sprint(1024 + (int(port[0])<<8|int(port[1]))%60000),
		"SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "443", "HTTPS": "on",
		"REQUEST_METHOD": "GET", "REQUEST_URI": "/", "HTTP_HOST": "test-login",
	}
	if secret != "" {
		params["AUTHORIZER_SECRET"] = secret
	}
	ask := func(auth string) *fcgi.Response {
		params["HTTP_AUTHORIZATION"] = auth
		return a.ServeFCGI(ctx, &fcgi.Request{ID: 1, Role: fcgi.RoleAuthorizer, Params: params})
	}
	scheme := "NTLM "
	switch {
	case cfg.Auth.Offers(config.SchemeNTLM):
	case cfg.Auth.Offers(config.SchemeNegotiate):
		scheme = "Negotiate "
	default:
		return ask("Basic " + base64.StdEncoding.EncodeToString([]byte(typed+":"+password))), nil
	}

	user, domain := typed, ""
	if d, u, ok := strings.Cut(typed, `\`); ok {
		user, domain = u, d
	}
	neg := &ntlmmsg.Negotiate{Flags: ntlmmsg.NegotiateUnicode | ntlmmsg.NegotiateNTLM | ntlmmsg.RequestTarget |
		ntlmmsg.AlwaysSign | ntlmmsg.ExtendedSessionSecurity | ntlmmsg.TargetInfo | ntlmmsg.Negotiate128}
	resp := ask(scheme + base64.StdEncoding.EncodeToString(neg.Marshal()))
	var tok string
	ok := false
	for k, vs := range resp.Header {
		if strings.EqualFold(k, "WWW-Authenticate") && len(vs) > 0 {
			tok, ok = strings.CutPrefix(vs[0], scheme)
		}
	}
	if resp.Status != http.StatusUnauthorized || !ok {
		return resp, nil // no challenge: the DC step failed; the recorder has it
	}
	type2, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	ch, err := ntlmmsg.ParseChallenge(type2)
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	var cc [8]byte
	rand.Read(cc[:])
	auth, _, err := ntlmmsg.NewAuthenticateV2(ch, user, domain, password, "TEST-LOGIN", cc, time.Now())
	if err != nil {
		return nil, fmt.Errorf("NTLMv2 answer: %w", err)
	}
	return ask(scheme + base64.StdEncoding.EncodeToString(auth.Marshal())), nil
}

// readPassword reads the password without echo from a terminal, else the
// first line of stdin (for scripts: printf '%s\n' "$PW" | ... -test-login).
func readPassword(stdin *os.File, prompt io.Writer, user string) (string, error) {
	if term.IsTerminal(int(stdin.Fd())) {
		fmt.Fprintf(prompt, "Password for %s: ", user)
		b, err := term.ReadPassword(int(stdin.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("password: none on stdin")
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("password: empty")
	}
	return pw, nil
}

// recorder keeps the last login outcome the Authorizer reported.
type recorder struct {
	outcome authorizer.Outcome
	seen    bool
}

func (r *recorder) Login(o authorizer.Outcome)        { r.outcome, r.seen = o, true }
func (r *recorder) last() (authorizer.Outcome, bool)  { return r.outcome, r.seen }
func (*recorder) Answered(int)                        {}
func (*recorder) Reused(authorizer.Via)               {}
func (*recorder) GroupsCached(bool)                   {}
func (*recorder) GroupLookup(authorizer.LookupResult) {}
