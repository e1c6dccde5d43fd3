package migrate

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

// The lines that replace an old handler: mod_authnz_fcgi asks the
// authorizer, which runs the handshake and names the user.
var authLines = []string{
	"AuthType NTLM",
	`AuthnzFcgiCheckAuthnProvider ntlm Authoritative On RequireBasicAuth Off UserExpr "%{reqenv:REMOTE_USER}"`,
	"CGIPassAuth On",
}

// Directives Apache 2.4 removed; their fall-through is what several
// Require lines (an implicit <RequireAny>) do now.
var removed22 = map[string]bool{
	"authbasicauthoritative": true, "authzuserauthoritative": true, "authzgroupfileauthoritative": true,
	"authzdefaultauthoritative": true, "authzdbmauthoritative": true, "authzldapauthoritative": true,
}

// site writes goauthenntlm-site.conf: each block rewritten.
func (t *translator) site(g *global) []byte {
	var blocks strings.Builder
	for _, b := range t.blocks {
		fmt.Fprintf(&blocks, "# From %s (%s)", b.d.Pos, b.mod)
		var in []string
		for _, o := range b.outer {
			if !oldModuleGuard(o) {
				in = append(in, strings.TrimSuffix(shown(o), ">")+">")
			}
		}
		if len(in) > 0 {
			fmt.Fprintf(&blocks, ", inside %s", strings.Join(in, " "))
		}
		if secretBearing(b.d) {
			t.add(b.d, Problem, "the block's section line may hold a secret: the block is not written; write it by hand")
			blocks.WriteString("\n# ntlm-migrate: not written: its section line may hold a secret\n\n")
			continue
		}
		t.markIncludes(b, b.d.Children)
		blocks.WriteString("\n" + b.d.Raw + "\n")
		acc := &access{}
		lines := t.body(b, g, b.d.Children, 1, acc)
		if !acc.placed {
			t.add(b.handler, Note, "no Require line in this block: as before, nothing asks for a login here unless an enclosing section requires one")
		}
		for _, l := range lines {
			if l == accessMarker {
				for _, al := range t.compose(b, acc) {
					blocks.WriteString("    " + al + "\n")
				}
				continue
			}
			blocks.WriteString(l + "\n")
		}
		blocks.WriteString(b.d.EndRaw + "\n\n")
	}

	var w strings.Builder
	w.WriteString(`# Written by ntlm-migrate: the old NTLM blocks, rewritten for Apache 2.4 and
# mod_authnz_fcgi. Each replaces the block named in the comment above it (put
# it where that block was, in the same <VirtualHost>); disable mod_perl /
# mod_python there if nothing else needs them.
#
# Needs apache/goauthenntlm.conf (a2enconf goauthenntlm): KeepAlive On, the
# Header lines that add the other schemes' challenges, and the authn
# provider "ntlm", with its fcgi:// address set to conf.toml's
# listen = "` + t.opt.Listen + `".
# Modules: authnz_fcgi authn_core authz_core authz_user`)
	if t.usesRoute(GroupsExternal) {
		w.WriteString(" authnz_external")
	}
	if g.hostAccess {
		w.WriteString(" authz_host")
	}
	w.WriteString("\n\n")
	if t.usesRoute(GroupsExternal) {
		fmt.Fprintf(&w, "# Require group → Require external-group, answered by ntlm-group-check.\nDefineExternalGroup adgroup pipe %s\n\n",
			apacheQuote(t.opt.GroupCheck+" -cache "+t.groupsCacheDir()))
	}
	w.WriteString(blocks.String())
	return []byte(w.String())
}

func (t *translator) usesRoute(r GroupRoute) bool {
	if t.opt.Groups != r {
		return false
	}
	for _, b := range t.blocks {
		if b.groups {
			return true
		}
	}
	return false
}

const accessMarker = "\x00access"

// access is a block's top-level access control: its Require lines, and
// Apache 2.2's Order/Allow/Deny/Satisfy, composed into 2.4 containers.
type access struct {
	requires     [][]string
	order        string
	allow, deny  []string
	allowD       []*Directive
	satisfy      string
	placed       bool
	hasAccess22  bool
	firstAccess  *Directive
	requireLines int
}

func indent(depth int) string { return strings.Repeat("    ", depth) }

// body rewrites the directives of a block (or of a section inside it).
// acc is non-nil for the block's own level, where access control is
// gathered and written once, at the place of the first such line.
func (t *translator) body(b *block, g *global, ds []*Directive, depth int, acc *access) []string {
	var out []string
	ind := indent(depth)
	mark := func() {
		if acc != nil && !acc.placed {
			acc.placed = true
			out = append(out, accessMarker)
		}
	}
	for _, d := range ds {
		if inc := includedBy(b, d); inc != nil {
			if !t.unclean[inc] {
				// Everything it brings in is kept: the Include line
				// stays, and the files' contents stay in them.
				if !t.emitted[inc] {
					t.emitted[inc] = true
					t.add(inc, Kept, "not about NTLM; kept as written (what it includes is not copied)")
					out = append(out, ind+inc.Raw)
				}
				continue
			}
			if !t.ntlmRelated(b, d) {
				t.addAt(d.Pos, Problem, "from a file included at %s that also holds NTLM directives, so that Include cannot stay: not copied (an included file's contents never are); copy what is still needed by hand", inc.Pos)
				out = append(out, fmt.Sprintf("%s# ntlm-migrate: not copied: the line at %s (included at %s)", ind, d.Pos, inc.Pos))
				continue
			}
		}
		if d.Section && secretBearing(d) {
			t.add(d, Problem, "the section line may hold a secret: the section is not copied; copy it by hand")
			out = append(out, fmt.Sprintf("%s# ntlm-migrate: not copied: the section at %s may hold a secret", ind, d.Pos))
			continue
		}
		if d.Section {
			if oldModuleGuard(d) {
				t.add(d, Note, "a guard on mod_perl/mod_python inside the block: its contents are kept without it, or they would stop applying (and leave the block open) once those modules are gone")
				out = append(out, t.body(b, g, d.Children, depth, acc)...)
				continue
			}
			// Access lines inside a nested section stay in it.
			sub := t.body(b, g, d.Children, depth+1, nil)
			t.add(d, Kept, "section kept; its contents as listed")
			out = append(out, ind+d.Raw)
			out = append(out, sub...)
			out = append(out, ind+d.EndRaw)
			continue
		}
		if d == b.handler {
			for _, l := range authLines {
				if len(b.authOff) > 0 && strings.HasPrefix(l, "AuthnzFcgi") {
					l = strings.Replace(l, "Authoritative On", "Authoritative Off", 1)
				}
				out = append(out, ind+l)
			}
			continue
		}
		if _, ok := classify(d); ok {
			continue // a second handler line, reported already
		}
		if t.isNTLMOption(d, b.mod) {
			continue // translated into conf.toml, reported by collect
		}
		lname := strings.ToLower(d.Name)
		switch {
		case lname == "authtype":
			t.add(d, Translated, "AuthType NTLM with the authorizer's lines (at the handler); the schemes are [auth] schemes = %s", tomlList(b.schemes))
			continue
		case lname == "authname":
			t.add(d, Translated, "kept; also [auth] realm (the Basic dialog's text)")
			out = append(out, ind+d.Raw)
			continue
		case removed22[lname]:
			t.add(d, Dropped, "removed in Apache 2.4; several Require lines (an implicit <RequireAny>) are its fall-through now")
			continue
		case lname == "require":
			lines, ok := t.require(b, g, d)
			if !ok {
				out = append(out, ind+notTranslated(d))
				continue
			}
			if acc != nil {
				acc.requires = append(acc.requires, lines)
				acc.requireLines++
				mark()
				continue
			}
			for _, l := range lines {
				out = append(out, ind+l)
			}
			continue
		case lname == "order" || lname == "allow" || lname == "deny" || lname == "satisfy":
			if acc == nil {
				t.add(d, Problem, "Apache 2.2 access control inside a nested section: translate it by hand (Require ip / Require host in <RequireAny> or <RequireAll>)")
				out = append(out, ind+notTranslated(d))
				continue
			}
			t.access22(d, acc)
			g.hostAccess = true
			mark()
			continue
		case secretBearing(d):
			t.add(d, Problem, "may hold a secret: not copied into the site file; copy it by hand from there (into a file only root reads, if it is one)")
			out = append(out, fmt.Sprintf("%s# ntlm-migrate: not copied: the line at %s may hold a secret", ind, d.Pos))
			continue
		case lname == "perlsetvar" || lname == "perladdvar" || strings.HasPrefix(lname, "perl"):
			t.add(d, Kept, "not an option of %s; kept as written (it needs mod_perl)", b.mod)
		case strings.HasPrefix(lname, "python"):
			t.add(d, Kept, "not an option of %s; kept as written (it needs mod_python)", b.mod)
		default:
			if near := typoOf(lname); near != "" {
				t.add(d, Problem, "not a directive Apache knows; a typo for %s? Kept as written, so apache2 -t refuses it", near)
			} else {
				t.add(d, Kept, "not about NTLM; kept as written")
			}
		}
		out = append(out, ind+d.Raw)
	}
	return out
}

func (t *translator) access22(d *Directive, acc *access) {
	acc.hasAccess22 = true
	if acc.firstAccess == nil {
		acc.firstAccess = d
	}
	lname := strings.ToLower(d.Name)
	switch lname {
	case "order":
		v := strings.ToLower(strings.ReplaceAll(strings.Join(d.Args, ""), " ", ""))
		switch v {
		case "deny,allow", "allow,deny":
			acc.order = v
			t.add(d, Translated, "part of the block's <RequireAny>/<RequireAll> (see its Require lines)")
		default:
			acc.order = "bad"
			t.add(d, Problem, "Order must be deny,allow or allow,deny")
		}
	case "allow", "deny":
		if len(d.Args) < 2 || !strings.EqualFold(d.Args[0], "from") {
			t.add(d, Problem, "names no host or address")
			acc.order = "bad"
			return
		}
		if lname == "allow" {
			acc.allow = append(acc.allow, d.Args[1:]...)
			acc.allowD = append(acc.allowD, d)
			t.add(d, Translated, "Require ip / Require host in the block's access containers")
		} else {
			acc.deny = append(acc.deny, d.Args[1:]...)
			t.add(d, Translated, "part of the block's access containers")
		}
	case "satisfy":
		v := strings.ToLower(strings.Join(d.Args, " "))
		if v != "any" && v != "all" {
			t.add(d, Problem, "Satisfy must be any or all")
			acc.order = "bad"
			return
		}
		acc.satisfy = v
		if v == "any" {
			t.add(d, Translated, "<RequireAny>: the listed hosts or a login")
		} else {
			t.add(d, Translated, "<RequireAll>: the listed hosts and a login")
		}
	}
}

var partialIP = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,3}){0,3}\.?(/[0-9.]+)?$`)

// hostRequires turns Allow from's list into Require lines.
func (t *translator) hostRequires(acc *access) ([]string, bool) {
	var ips, hosts, lines []string
	for _, a := range acc.allow {
		la := strings.ToLower(a)
		switch {
		case la == "all":
			return []string{"Require all granted"}, true
		case strings.HasPrefix(la, "env="):
			w, ok := apacheWord(a[4:])
			if !ok {
				return nil, false
			}
			lines = append(lines, "Require env "+w)
		case partialIP.MatchString(a) || strings.Contains(a, ":"):
			if _, _, err := net.ParseCIDR(a); err != nil && net.ParseIP(a) == nil && strings.Contains(a, ":") {
				return nil, false
			}
			ips = append(ips, strings.TrimSuffix(a, "."))
		case strings.ContainsAny(a, `"'\`):
			return nil, false
		default:
			hosts = append(hosts, a)
		}
	}
	if len(ips) > 0 {
		lines = append(lines, "Require ip "+strings.Join(ips, " "))
	}
	if len(hosts) > 0 {
		lines = append(lines, "Require host "+strings.Join(hosts, " "))
	}
	return lines, len(lines) > 0
}

// compose writes a block's access control for Apache 2.4.
func (t *translator) compose(b *block, acc *access) []string {
	var req []string
	for _, r := range acc.requires {
		req = append(req, r...)
	}
	if !acc.hasAccess22 {
		return req
	}
	if acc.order == "bad" {
		return append([]string{"# ntlm-migrate: Order/Allow/Deny/Satisfy not translated (see the report)"}, req...)
	}
	order := acc.order
	if order == "" {
		order = "deny,allow" // Apache 2.2's default
	}
	denyAll := len(acc.deny) == 1 && strings.EqualFold(acc.deny[0], "all")
	var hostsAll, hostsNone bool
	switch {
	case len(acc.deny) > 0 && !denyAll:
		t.add(acc.firstAccess, Problem, "Deny from particular hosts: translate by hand (Require not ip inside <RequireAll>)")
		return append([]string{"# ntlm-migrate: Order/Allow/Deny not translated (see the report)"}, req...)
	case order == "deny,allow" && !denyAll:
		hostsAll = true // nothing denied: every host passes
	case order == "allow,deny" && denyAll:
		hostsNone = true
	case len(acc.allow) == 0:
		hostsNone = true
	}
	var hostLines []string
	if !hostsAll && !hostsNone {
		var ok bool
		hostLines, ok = t.hostRequires(acc)
		if !ok {
			t.add(acc.firstAccess, Problem, "Allow from %q: cannot tell addresses from host names; translate by hand", acc.allow)
			return append([]string{"# ntlm-migrate: Allow from not translated (see the report)"}, req...)
		}
		if len(hostLines) == 1 && hostLines[0] == "Require all granted" {
			hostsAll = true
		}
	}
	if len(req) == 0 {
		req = []string{"Require valid-user"}
		t.add(acc.firstAccess, Note, "no Require line in the block: Require valid-user assumed (what the old module asked for)")
	}
	any := acc.satisfy == "any"
	switch {
	case any && hostsAll:
		t.add(acc.firstAccess, Note, "Satisfy any with every host allowed: no login is asked for here, as before")
		return []string{"Require all granted"}
	case any && hostsNone, !any && hostsAll:
		return req
	case !any && hostsNone:
		t.add(acc.firstAccess, Note, "no host is allowed and Satisfy all: nobody gets in, as before")
		return []string{"Require all denied"}
	case any:
		out := []string{"<RequireAny>"}
		for _, l := range append(hostLines, req...) {
			out = append(out, "    "+l)
		}
		return append(out, "</RequireAny>")
	default:
		out := []string{"<RequireAll>"}
		for _, l := range hostLines {
			out = append(out, "    "+l)
		}
		out = append(out, "    <RequireAny>")
		for _, l := range req {
			out = append(out, "        "+l)
		}
		return append(out, "    </RequireAny>", "</RequireAll>")
	}
}

// notTranslated is the comment left in the site for a line not
// translated: the line itself, or, when it may hold a secret (a Require
// expr comparing a header with a token), only where it is.
func notTranslated(d *Directive) string {
	if secretBearing(d) {
		return fmt.Sprintf("# ntlm-migrate: not copied: the line at %s may hold a secret", d.Pos)
	}
	return "# ntlm-migrate: not translated: " + d.Raw
}

// require rewrites one Require line.
func (t *translator) require(b *block, g *global, d *Directive) ([]string, bool) {
	if len(d.Args) == 0 {
		t.add(d, Problem, "Require with nothing required")
		return nil, false
	}
	switch strings.ToLower(d.Args[0]) {
	case "valid-user":
		t.add(d, Translated, "kept: any user the DC accepted")
		return []string{d.Raw}, true
	case "user":
		var names []string
		if b.mod == PyAuthenNTLM2 {
			// PyAuthenNTLM2 read "Require user XYZ,WTY" as a comma list;
			// Apache 2.4 splits on blanks only.
			for _, a := range d.Args[1:] {
				for _, n := range strings.Split(a, ",") {
					if n = strings.TrimSpace(n); n != "" {
						names = append(names, n)
					}
				}
			}
		} else {
			names = d.Args[1:]
			for _, n := range names {
				if strings.Contains(n, ",") {
					t.add(d, Note, "user %q holds a comma: Apache compared it whole, so it never matched; kept so", n)
				}
			}
		}
		if len(names) == 0 {
			t.add(d, Problem, "Require user names nobody")
			return nil, false
		}
		var q []string
		for _, n := range names {
			s, ok := apacheWord(n)
			if !ok {
				t.add(d, Problem, "user name %q cannot be written in Apache's syntax", n)
				return nil, false
			}
			q = append(q, s)
		}
		line := "Require user " + strings.Join(q, " ")
		if line != d.Raw {
			t.add(d, Translated, "%s", line)
		} else {
			t.add(d, Translated, "kept")
		}
		return []string{line}, true
	case "group":
		if b.mod.perl() && hasDirective(b.d.Children, "AuthGroupFile", "AuthDBMGroupFile", "AuthLDAPURL") {
			t.add(d, Kept, "answered by another module here (AuthGroupFile / AuthLDAPURL in the block), not by NTLM; kept")
			return []string{d.Raw}, true
		}
		var groups []string
		for _, n := range strings.Split(strings.Join(d.Args[1:], " "), ",") {
			if n = strings.TrimSpace(n); n != "" {
				groups = append(groups, n)
			}
		}
		if len(groups) == 0 {
			t.add(d, Problem, "Require group names no group")
			return nil, false
		}
		if b.mod.perl() {
			t.add(d, Note, "%s checked no groups itself and this block has no AuthGroupFile: taken as Active Directory groups", b.mod)
		}
		b.groups = true
		if b.groupPos.Line == 0 {
			b.groupPos = d.Pos
		}
		if t.opt.Groups == GroupsExternal {
			// Each name in quotes: ntlm-group-check reads an unquoted
			// line as ONE name (blanks included), quoted names as a list.
			quoted := make([]string, 0, len(groups))
			for _, n := range groups {
				if strings.ContainsAny(n, "\"'\\") {
					t.add(d, Problem, "group %q: a quote or backslash cannot be in a group name", n)
					return nil, false
				}
				quoted = append(quoted, `"`+n+`"`)
			}
			line := "Require external-group " + strings.Join(quoted, " ")
			t.add(d, Translated, "GroupExternal adgroup + %s (ntlm-group-check; member of any, nested groups included)", line)
			return []string{"GroupExternal adgroup", line}, true
		}
		var conds []string
		for _, n := range groups {
			// Inside '...' in an Apache expression, and between | in the
			// exported list: refuse what could end the string, expand a
			// variable, or act as a wildcard of -strcmatch.
			if strings.ContainsAny(n, "'\"\\%|*?[]{}") || strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.add(d, Problem, "group %q holds a character that cannot go into Require expr safely; write this check by hand", n)
				return nil, false
			}
			conds = append(conds, fmt.Sprintf("%%{reqenv:AD_GROUPS} -strcmatch '*|%s|*'", n))
		}
		cond := strings.Join(conds, " || ")
		if len(conds) > 1 {
			cond = "(" + cond + ")"
		}
		line := fmt.Sprintf(`Require expr "%%{REMOTE_USER} != '' && %s"`, cond)
		t.add(d, Translated, "member of any of %s (nested groups included, by sAMAccountName, as PyAuthenNTLM2 checked): %s", tomlList(groups), line)
		return []string{line}, true
	default:
		if secretBearing(d) {
			t.add(d, Problem, "may hold a secret: not copied into the site file; copy it by hand from there")
			return nil, false
		}
		t.add(d, Kept, "not about NTLM; kept as written")
		return []string{d.Raw}, true
	}
}

// includedBy returns the Include, written in the block's own file, through
// which d came into the block; nil when d is written in that file.
func includedBy(b *block, d *Directive) *Directive {
	if d.Via == b.d.Via {
		return nil
	}
	for inc := d.Via; inc != nil; inc = inc.Via {
		if inc.Via == b.d.Via {
			return inc
		}
	}
	return nil
}

// ntlmRelated: d is something body translates rather than keeps as
// written (or a section holding such a thing).
func (t *translator) ntlmRelated(b *block, d *Directive) bool {
	if d.Section {
		if oldModuleGuard(d) {
			return true
		}
		for _, c := range d.Children {
			if t.ntlmRelated(b, c) {
				return true
			}
		}
		return false
	}
	if _, ok := classify(d); ok || d == b.handler || t.isNTLMOption(d, b.mod) {
		return true
	}
	switch lname := strings.ToLower(d.Name); lname {
	case "authtype", "authname", "require", "order", "allow", "deny", "satisfy":
		return true
	default:
		return removed22[lname] || typoOf(lname) != ""
	}
}

// markIncludes finds the Includes inside a block that bring in NTLM
// directives: those cannot stay as written.
func (t *translator) markIncludes(b *block, ds []*Directive) {
	for _, d := range ds {
		if inc := includedBy(b, d); inc != nil && (!d.Section && t.ntlmRelated(b, d) || oldModuleGuard(d)) {
			t.unclean[inc] = true
		}
		if d.Section {
			t.markIncludes(b, d.Children)
		}
	}
}

// apacheWord writes s as one ap_getword_conf word.
func apacheWord(s string) (string, bool) {
	if s == "" || strings.ContainsAny(s, "\r\n\x00") {
		return "", false
	}
	if !strings.ContainsAny(s, " \t\"'\\") && s[0] != '#' && s[0] != '<' {
		return s, true
	}
	return apacheQuote(s), true
}

// apacheQuote quotes s with double quotes, escaping what ap_getword_conf
// would otherwise read: the quote and the backslash.
func apacheQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// typoOf returns the access or auth directive name is one or two edits
// away from, if any: a misspelt Satisfy or Require changes who gets in.
func typoOf(name string) string {
	for _, k := range []string{"Satisfy", "Require", "Order", "Allow", "Deny", "AuthType", "AuthName"} {
		if l := strings.ToLower(k); l != name && editDistance(l, name) <= 2 && len(name) > 3 {
			return k
		}
	}
	return ""
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// groupsCacheDir is the cache directory ntlm-group-check reads: the one
// written to conf.toml, or the authorizer's default.
func (t *translator) groupsCacheDir() string {
	if t.opt.GroupsCacheDir != "" {
		return t.opt.GroupsCacheDir
	}
	return config.Defaults().Groups.CacheDir
}
