package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/authorizer"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
	"github.com/goauthenntlm/goauthenntlm/pkg/replay"
)

// checkKerberos is -check's part for keytabs (who may read them is
// preflight's, as for the other secrets): each opens (as the user
// running -check: run it as the service's), and holds a key for each
// service principal. With probe it lists the keys (principal, kvno,
// enctype; never a key) and asks the KDC for a ticket for each principal
// as a browser would get one, then checks it as a login would be.
func checkKerberos(cfg *config.Config, probe bool, stdout, stderr io.Writer) int {
	rc := 0
	for i := range cfg.Domains {
		d := &cfg.Domains[i]
		if d.KeytabFile == "" {
			continue
		}
		kt, err := kerberos.LoadKeytab(d.KeytabFile)
		if err != nil {
			fmt.Fprintf(stderr, "ntlm-fcgi-authorizer: domain %s: %v\n", d.Name, err)
			rc = 2
			continue
		}
		realm := strings.ToUpper(d.DNSName)
		keys := kerberos.Keys(kt)
		for _, p := range cfg.Principals(d) {
			var aes, rc4 bool
			for _, k := range keys {
				if strings.EqualFold(k.Principal, p+"@"+realm) {
					aes = aes || strings.HasPrefix(k.EncType, "aes")
					rc4 = rc4 || k.EncType == "arcfour-hmac"
				}
			}
			switch {
			case !aes && !rc4:
				fmt.Fprintf(stderr, "ntlm-fcgi-authorizer: domain %s: keytab %s has no AES or RC4 key for %s@%s: %s\n", d.Name, d.KeytabFile, p, realm, kerberos.CauseNoKey.Remedy())
				rc = 2
			case !aes:
				fmt.Fprintf(stderr, "ntlm-fcgi-authorizer: domain %s: keytab %s has only RC4 for %s@%s (works, but Windows is retiring RC4): %s\n", d.Name, d.KeytabFile, p, realm, kerberos.CauseEnctype.Remedy())
			}
		}
		if !probe {
			continue
		}
		for _, k := range keys {
			fmt.Fprintf(stdout, "keytab %s: %s kvno %d %s\n", d.KeytabFile, k.Principal, k.KVNO, k.EncType)
		}
		kcfg, err := kerberos.ClientConfig(realm, d.DCs)
		if err != nil {
			fmt.Fprintf(stderr, "ntlm-fcgi-authorizer: domain %s: %v\n", d.Name, err)
			rc = 2
			continue
		}
		acc := kerberos.New(kerberos.Options{Services: []kerberos.Service{{Principals: cfg.Principals(d), Keytab: kt}}, ClientRealms: []string{realm}, MaxSkew: d.ClockSkew(), Replay: toolReplay()})
		for _, p := range cfg.Principals(d) {
			tok, err := kerberos.ProbeSPN(kcfg, realm, p, kt)
			if err != nil && strings.Contains(err.Error(), "KDC_ERR_C_PRINCIPAL_UNKNOWN") {
				// The KDC does not know the SPN as a client name (Samba;
				// AD unless ktpass set the account's UPN to it): a ticket
				// from the caller's TGT instead, as a browser gets it.
				cc := ccache()
				if _, serr := os.Stat(strings.TrimPrefix(cc, "FILE:")); serr != nil {
					// Nothing to probe with: not the server's failure.
					fmt.Fprintf(stdout, "kerberos %s@%s: not probed: the KDC does not take it as a client name (AS-REQ), and this user has no ticket cache (%s); get one as any domain user, then -check -probe again:\n  %s\n", p, realm, cc, kinitLine(realm))
					continue
				}
				if _, tok, err = kerberos.TokenFromCCache(kcfg, cc, p); err != nil {
					err = fmt.Errorf("the KDC does not take %s as a client name (AS-REQ); with the caller's ticket cache: %w", p, err)
				}
			}
			if err == nil {
				var l *kerberos.Login
				if l, err = acc.Accept(tok); err == nil {
					fmt.Fprintf(stdout, "kerberos %s@%s: ok: the KDC issues tickets for it (kvno %d, %s) and the keytab opens them\n", p, realm, l.KVNO, kerberos.EncTypeName(l.EncType))
					continue
				}
			}
			fmt.Fprintf(stdout, "kerberos %s@%s: FAILED: %v\n", p, realm, err)
			if c := kerberos.CauseOf(err); c != kerberos.CauseMalformed {
				fmt.Fprintf(stdout, "  remedy: %s\n", c.Remedy())
			}
			rc = max(rc, 1)
		}
		if len(d.LDAPURLs) > 0 {
			rc = max(rc, checkSPNs(cfg, d, realm, stdout, stderr))
		}
	}
	return rc
}

// checkSPNs is -check -probe's look at the accounts that hold d's service
// principals: each one's SPNs, from LDAP (servicePrincipalName), and a
// warning for each that is not configured. Every SPN of an account shares
// its keys, and a ticket's service name is cleartext: a ticket the KDC
// issued for the account's cifs/ or another site's HTTP/ SPN opens with
// this keytab and, renamed, logs in here.
func checkSPNs(cfg *config.Config, d *config.Domain, realm string, stdout, stderr io.Writer) int {
	dir, err := adgroup.NewDirectory(cfg, nil)
	if err != nil {
		fmt.Fprintf(stdout, "kerberos %s: SPNs not listed: %v\n", realm, err)
		return 1
	}
	defer dir.Close()
	configured := cfg.Principals(d)
	rc := 0
	seen := map[string]bool{}
	for _, p := range configured {
		account, spns, _, err := dir.SPNs(context.Background(), d.Name, p)
		if err != nil {
			fmt.Fprintf(stdout, "kerberos %s@%s: FAILED: its account's SPNs: %v\n", p, realm, err)
			rc = 1
			continue
		}
		if seen[strings.ToLower(account)] {
			continue
		}
		seen[strings.ToLower(account)] = true
		fmt.Fprintf(stdout, "kerberos %s@%s: held by the account %s, whose SPNs are: %s\n", p, realm, account, strings.Join(spns, " "))
		for _, other := range spns {
			if slices.ContainsFunc(configured, func(c string) bool { return strings.EqualFold(c, other) }) {
				continue
			}
			fmt.Fprintf(stderr, "ntlm-fcgi-authorizer: warning: domain %s: the service account %s also holds %s, which is not configured: every SPN of an account shares its keys, so a ticket the KDC issues for %s opens with this keytab, and its service name, which is not encrypted, can be rewritten to log in here; give this site an account of its own (README, Kerberos), or require channel binding over HTTPS (channel_binding = \"required\")\n", d.Name, account, other, other)
		}
	}
	return rc
}

// toolReplay is the replay store of the command-line tools' Authorizers:
// in memory, for their one login. The daemon's file is its own (locked
// while it runs, and a tool's entry there would refuse nothing anyone
// sends).
func toolReplay() replay.Store { return replay.New(replay.Options{Slots: 64}) }

// testKerberos is -test-kerberos: a Kerberos login from the caller's
// ticket cache (KRB5CCNAME, after kinit) through an Authorizer built from
// cfg as the daemon builds it: a ticket for the first service principal,
// in SPNEGO, handed to ServeFCGI as Apache would.
func testKerberos(cfg *config.Config, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ntlm-fcgi-authorizer: -test-kerberos: "+format+"\n", a...)
		return loginError
	}
	cc := ccache()
	var d *config.Domain
	for i := range cfg.Domains {
		if cfg.Domains[i].KeytabFile != "" {
			d = &cfg.Domains[i]
			break
		}
	}
	if d == nil || len(cfg.Principals(d)) == 0 {
		return fail("no [[domain]] has keytab_file and service principals")
	}
	realm := strings.ToUpper(d.DNSName)
	kcfg, err := kerberos.ClientConfig(realm, d.DCs)
	if err != nil {
		return fail("%v", err)
	}
	spn := cfg.Principals(d)[0]
	who, tok, err := kerberos.TokenFromCCache(kcfg, cc, spn)
	if err != nil {
		return fail("%v (kinit first?)", err)
	}
	init, err := kerberos.WrapSPNEGO(tok)
	if err != nil {
		return fail("%v", err)
	}
	secret, err := cfg.CallerSecret()
	if err != nil {
		return fail("%v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := authorizer.New(cfg, authorizer.Options{Logger: log, CallerSecret: secret, KerberosReplay: toolReplay()})
	if err != nil {
		return fail("%v", err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	params := map[string]string{
		"FCGI_ROLE": "AUTHORIZER", "FCGI_APACHE_ROLE": "AUTHENTICATOR",
		"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "1024", "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "443", "HTTPS": "on",
		"REQUEST_METHOD": "GET", "REQUEST_URI": "/", "HTTP_HOST": "test-login",
		"HTTP_AUTHORIZATION": "Negotiate " + base64.StdEncoding.EncodeToString(init),
	}
	if secret != "" {
		params["AUTHORIZER_SECRET"] = secret
	}
	resp := a.ServeFCGI(ctx, &fcgi.Request{ID: 1, Role: fcgi.RoleAuthorizer, Params: params})
	fmt.Fprintf(stdout, "principal:   %s\nspn:         %s@%s\nhttp:        %d\n", who, spn, realm, respStatus(resp))
	if respStatus(resp) != 200 {
		return loginRefused // the WARN line above says why
	}
	fmt.Fprintf(stdout, "REMOTE_USER: %s\n", resp.Variables["REMOTE_USER"])
	if v := cfg.Groups.Variable; v != "" {
		fmt.Fprintf(stdout, "groups:      %s\n", strings.Join(strings.FieldsFunc(resp.Variables[v], func(r rune) bool { return r == '|' }), ", "))
	}
	return loginOK
}

// kinitLine is the command that gives the user running -check a ticket
// cache for -check -probe: the service user's own (runuser), which a kinit
// as root would not be. USER stands for any domain user.
func kinitLine(realm string) string {
	line := "kinit USER@" + realm
	if u, err := user.Current(); err == nil && u.Uid != "0" {
		line = "runuser -u " + u.Username + " -- " + line
	}
	return line
}

// ccache is the caller's ticket cache: KRB5CCNAME, else MIT's default.
func ccache() string {
	if cc := os.Getenv("KRB5CCNAME"); cc != "" {
		return cc
	}
	return fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
}
