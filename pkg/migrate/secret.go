package migrate

import (
	"regexp"
	"strings"
)

// What may hold a secret. The rule is deliberately wide: a directive
// wrongly taken for a secret costs the admin one line copied by hand (it
// is reported with its file:line); a secret wrongly taken for a setting
// ends up in a file, a report pasted into a ticket, or a terminal log.

// secretWord is a name or argument that looks like it holds or names a
// secret. "pass" on its own (DB_PASS, pass=) counts; inside a word
// (ProxyPass, PassEnv, Bypass) it does not.
var secretWord = regexp.MustCompile(`(?i)passw|passphrase|pwd|secret|key|token|credential|salt|hmac|(^|[^a-z])pass([^a-z]|$)`)

// camelPass is "Pass" or "PASS" ending a word inside a name written in
// CamelCase or capitals (PerlSetVar DBPass, Define ADMINPASS,
// [E=DBPASS:...]), which secretWord's "pass on its own" misses. Only for
// arguments: as a directive's own name it is ProxyPass.
var camelPass = regexp.MustCompile(`(Pass|PASS)([^a-z]|$)`)

// urlUserinfo is a URL with a user:password@ part, or a user part alone
// (a token as the user name), in ProxyPass, BalancerMember, RewriteRule
// [P], AuthLDAPURL...: up to the last @ before the path, since passwords
// hold an unencoded @ more often than they should.
var urlUserinfo = regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*://[^/?#\s]*@`)

// headerTest reads an arbitrary request header or the cookies in an
// expression or a RewriteCond: what it is compared with is what a client
// must send, a shared secret as often as not (<If "%{HTTP:X-Admin} ==
// '...'">). Host, User-Agent and Referer (%{HTTP_HOST}...) are left out:
// compared every day, and never secrets.
var headerTest = regexp.MustCompile(`(?i)%\{HTTP:[^}]*\}|%\{HTTP_COOKIE\}|\b(req|http|req_novary)\s*\(`)

// valueDirectives carry values to the backend or the environment, where
// secrets live (SetEnv DB_PASS ..., AuthLDAPBindPassword): their values are
// never copied, whatever their names say.
var valueDirectives = map[string]bool{
	"setenv": true, "setenvif": true, "setenvifnocase": true, "setenvifexpr": true,
	"browsermatch": true, "browsermatchnocase": true,
	"authldapbindpassword": true, "dbdparams": true, "proxyremote": true,
	// Define's value is substituted wherever ${NAME} appears; Use's
	// arguments are whatever the macro's body does with them (SetEnv
	// $password...).
	"define": true, "use": true,
}

// fileValued reports a directive whose value is a path: the file it names
// is never read (SSLCertificateKeyFile's key stays where it is), so the
// path is copied like any setting.
func fileValued(lname string) bool {
	return lname == "include" || lname == "includeoptional" || strings.HasSuffix(lname, "file") || strings.HasSuffix(lname, "path") || strings.HasSuffix(lname, "dir")
}

// requestHeaderValue: RequestHeader set/add/append/merge/setifempty/edit
// sends its value to the backend (X-Api-Key ...). Header (the response's)
// is sent to every client and so holds nothing secret; it is caught only
// by the word rule.
func requestHeaderValue(d *Directive) bool {
	args := d.Args
	if len(args) > 0 && (strings.EqualFold(args[0], "always") || strings.EqualFold(args[0], "onsuccess")) {
		args = args[1:]
	}
	if len(args) < 3 {
		return false // unset X, or no value
	}
	switch strings.ToLower(args[0]) {
	case "unset", "echo", "note":
		return false
	}
	return true
}

// secretBearing reports whether d's text may hold a secret: then it is
// masked in the report and never written to an output.
func secretBearing(d *Directive) bool {
	if d.Section {
		return sectionSecret(d)
	}
	lname := strings.ToLower(d.Name)
	switch {
	case lname == "authname":
		return false // the realm: shown to every client in the login dialog
	case lname == "require" && (len(d.Args) == 0 || !strings.EqualFold(d.Args[0], "expr") && !strings.EqualFold(d.Args[0], "not")):
		// user and group names, addresses: not secrets (Require expr
		// can compare with one).
		return false
	case valueDirectives[lname]:
		// SetEnv NAME alone sets it empty, Define NAME defines it, Use
		// MACRO passes nothing.
		return lname != "setenv" && lname != "define" && lname != "use" || len(d.Args) > 1
	case lname == "requestheader":
		return requestHeaderValue(d)
	case lname == "rewritecond" && len(d.Args) > 1 && headerTest.MatchString(d.Args[0]):
		return true
	case lname == "require" && headerTest.MatchString(strings.Join(d.Args, " ")):
		return true // Require expr comparing a header
	}
	for _, a := range d.Args {
		if urlUserinfo.MatchString(a) {
			return true
		}
	}
	if fileValued(lname) {
		return false
	}
	if secretWord.MatchString(d.Name) {
		return true
	}
	for _, a := range d.Args {
		if secretWord.MatchString(a) || camelPass.MatchString(a) {
			return true
		}
	}
	return false
}

// shown is d as the report may show it: as written, or with its values
// replaced by <hidden> when it may hold a secret. The name of what is set
// (SetEnv's variable, PerlSetVar's option, RequestHeader's header) stays
// when it is not itself secret-looking, so the admin can find the line.
func shown(d *Directive) string {
	if !secretBearing(d) {
		return d.Raw
	}
	var keep int
	switch strings.ToLower(d.Name) {
	case "setenv", "perlsetvar", "perladdvar", "pythonoption", "passenv", "define", "use":
		keep = 1
	case "requestheader":
		keep = 2
		if len(d.Args) > 0 && (strings.EqualFold(d.Args[0], "always") || strings.EqualFold(d.Args[0], "onsuccess")) {
			keep = 3
		}
	}
	words := []string{d.Name}
	for i := 0; i < keep && i < len(d.Args); i++ {
		if urlUserinfo.MatchString(d.Args[i]) || !directiveName.MatchString(d.Args[i]) {
			break
		}
		words = append(words, d.Args[i])
	}
	words = append(words, "<hidden>")
	if d.Section {
		return "<" + strings.Join(words, " ") + ">"
	}
	return strings.Join(words, " ")
}

// sectionSecret: a section line is a path, pattern or address, not a
// value (<FilesMatch "\.key$"> is no secret); only a credential in a URL,
// or an <If> expression comparing with something secret-looking, counts.
func sectionSecret(d *Directive) bool {
	for _, a := range d.Args {
		if urlUserinfo.MatchString(a) {
			return true
		}
	}
	switch strings.ToLower(d.Name) {
	case "if", "elseif":
		for _, a := range d.Args {
			if secretWord.MatchString(a) || headerTest.MatchString(a) {
				return true
			}
		}
	}
	return false
}

// hideUserinfo turns scheme://user:password@ into scheme://<hidden>@.
func hideUserinfo(m string) string {
	return m[:strings.Index(m, "://")+3] + "<hidden>@"
}
