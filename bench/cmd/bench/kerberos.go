package main

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// kerberosLogins (P6): Kerberos logins over FastCGI, as mod_authnz_fcgi
// sends them (one new connection each, a new client address and port,
// a fresh AP-REQ in SPNEGO), next to NTLM handshakes over FastCGI (Type1
// and Type3, each relayed to the DC). The tokens come from the service
// tickets of the bench's Kerberos accounts (krbTokens), each with an
// authenticator of its own; making them costs the bench, not the
// authorizer, whose CPU per login is the figure: the goal is no DC round
// trip and <= 1 ms of CPU.
func (r *runner) kerberosLogins() {
	o := r.o
	fail := func(err error) {
		r.res.add(row{Section: "P6", Name: "kerberos logins", Value: "n/a", Result: "ERROR", Note: err.Error()})
	}
	k, err := r.kerberosTokens()
	if err != nil {
		fail(err)
		return
	}
	f := r.fcgi()
	key := clientKeys(77)
	krb := func() error {
		tok, err := k.token()
		if err != nil {
			return err
		}
		resp, err := fcgiAuthorize(f.addr, f.params(key(), "Negotiate "+base64.StdEncoding.EncodeToString(tok)), f.timeout)
		if err != nil {
			return err
		}
		if resp.status != 200 || resp.header.Get("Variable-Remote_user") == "" {
			return &statusErr{step: "fcgi kerberos", status: resp.status}
		}
		return nil
	}
	ntlm := func() error { return f.login(key(), `EXAMPLE\jdoe`, "Secr3t!Pass") }
	say("P6: Kerberos logins vs NTLM handshakes over FastCGI, %d concurrent, %d rounds x %s each (warm-up 1s each)", o.hsConc, o.rounds, o.hsDur)
	rk, rn := r.interleavedPair(r.cpuMeter(), pairOp{"kerberos", "logins/s", krb}, pairOp{"ntlm", "hs/s", ntlm})
	r.res.Runs["kerberos/fcgi"], r.res.Runs["ntlm/fcgi"] = rk, rn
	mk, mn := medianOf(rk), medianOf(rn)
	r.res.add(row{Section: "P6", Name: "NTLM handshake via FastCGI", Value: fmt.Sprintf("%.0f hs/s", mn.RPS),
		P50ms: f64(mn.P50ms), P99ms: f64(mn.P99ms), Result: "ref", Errors: mn.Errors,
		Note: strings.TrimSpace("cpu µs/hs: " + formatCPU(mn.CPUus) + " " + mn.FirstErr)})
	x := row{Section: "P6", Name: "Kerberos login via FastCGI", Value: fmt.Sprintf("%.0f logins/s", mk.RPS),
		P50ms: f64(mk.P50ms), P99ms: f64(mk.P99ms), RatioOf: "ntlm", Target: "authz cpu <= 1000 µs/login", Errors: mk.Errors,
		Note: strings.TrimSpace("cpu µs/login: " + formatCPU(mk.CPUus) + " " + mk.FirstErr)}
	if mn.RPS > 0 {
		x.Ratio = f64(mk.RPS / mn.RPS)
	}
	cpu, ok := mk.CPUus["authz"]
	switch {
	case mk.Errors > 0:
		x.Result = "ERROR"
	case !ok:
		x.Result = "n/a"
	default:
		x.Result = verdict(cpu <= 1000)
	}
	r.res.add(x)
}
