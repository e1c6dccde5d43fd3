package migrate

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Module is one of the old modules.
type Module int

const (
	PyAuthenNTLM2    Module = iota + 1
	AuthenNTLM              // Apache::AuthenNTLM, Apache2::AuthenNTLM
	AuthenNTLMCookie        // Apache2::AuthenNTLM::Cookie
)

func (m Module) String() string {
	switch m {
	case PyAuthenNTLM2:
		return "PyAuthenNTLM2"
	case AuthenNTLM:
		return "Apache::AuthenNTLM"
	case AuthenNTLMCookie:
		return "Apache2::AuthenNTLM::Cookie"
	}
	return "?"
}

func (m Module) perl() bool { return m == AuthenNTLM || m == AuthenNTLMCookie }

// GroupRoute is how Require group is rewritten.
type GroupRoute string

const (
	// GroupsExpr: Require expr on the groups the authorizer exports
	// (AD_GROUPS). No process per request, sAMAccountName matched exactly,
	// nested groups included: what PyAuthenNTLM2's check was.
	GroupsExpr GroupRoute = "expr"
	// GroupsExternal: Require external-group through mod_authnz_external
	// and ntlm-group-check.
	GroupsExternal GroupRoute = "external"
)

// Options are what the old configuration cannot say.
type Options struct {
	// Listen is the authorizer's address; the site relies on
	// apache/goauthenntlm.conf defining the provider "ntlm" there.
	Listen string
	Groups GroupRoute
	// For the external group route: where ntlm-group-check and conf.toml
	// will be installed.
	GroupCheck, ConfPath string
	// The LDAP service account for group checks (the old modules bound
	// with the user's own login; GoAuthenNTLM needs an account).
	LDAPBindUser, LDAPBindPasswordFile, LDAPCAFile string
	// GroupsCacheDir, when set, is written as [groups] cache_dir (the
	// default is /var/cache/goauthenntlm/groups).
	GroupsCacheDir string
	// CookieSecretFile is named in [cookie] secret_files when an old block
	// used the cookie module; the caller creates it (Result.CookieSecret).
	CookieSecretFile string
}

// Result is what Translate produces.
type Result struct {
	Conf     []byte // conf.toml
	Site     []byte // goauthenntlm-site.conf
	Findings []Finding
	Blocks   int
	// CookieSecret: Conf names Options.CookieSecretFile, which must be
	// created with a new random secret.
	CookieSecret bool
}

// Problems counts the findings that need a person.
func (r *Result) Problems() int {
	n := 0
	for _, f := range r.Findings {
		if f.Level == Problem {
			n++
		}
	}
	return n
}

// setting is a value and where it came from.
type setting struct {
	v   string
	pos Pos
}

type domain struct {
	name     string
	pos      Pos
	dcs      []string
	ldapURLs []string
	baseDN   string
}

// block is one section configured for an old module.
type block struct {
	d        *Directive
	mod      Module
	handler  *Directive
	outer    []*Directive // enclosing sections, outermost first
	domains  []*domain
	nameFmt  setting
	schemes  []string
	realm    setting
	defDom   setting
	fallDom  setting
	debug    setting
	authOff  []Pos // ntlmauthoritative/basicauthoritative off
	cookie   map[string]setting
	groups   bool // uses AD groups
	groupPos Pos
}

type translator struct {
	opt      Options
	findings []Finding
	blocks   []*block
	byDir    map[*Directive]*block
	scopeOf  map[*Directive]*Directive // outer option → the section around it
	// Includes inside the blocks: unclean when what they bring in holds
	// NTLM directives (then the Include cannot stay as written); emitted
	// once written back.
	unclean, emitted map[*Directive]bool
	// NTLM options outside every block, by module family.
	outerPerl, outerPy        []*Directive
	hasPy, hasPerl, hasCookie bool
}

func (t *translator) add(d *Directive, l Level, format string, args ...any) {
	f := Finding{Level: l, What: fmt.Sprintf(format, args...)}
	if d != nil {
		// The report goes to a terminal or a ticket: no secret values.
		f.Pos, f.Directive = d.Pos, shown(d)
	}
	t.record(f)
}

// record adds f unless it is already there: an option outside the blocks
// is read once per block it applies to, and reported once.
func (t *translator) record(f Finding) {
	// What may quote a value (a PDC URL that did not parse): never with
	// its credentials.
	f.What = urlUserinfo.ReplaceAllStringFunc(f.What, hideUserinfo)
	for _, o := range t.findings {
		if o == f {
			return
		}
	}
	t.findings = append(t.findings, f)
}

func (t *translator) addAt(p Pos, l Level, format string, args ...any) {
	t.record(Finding{Pos: p, Level: l, What: fmt.Sprintf(format, args...)})
}

// Translate finds every block configured for an old module in the parsed
// configuration and translates it. Findings from Parser.Parse may be
// passed in parseFindings so that the report and the outputs include them.
func Translate(dirs []*Directive, parseFindings []Finding, opt Options) *Result {
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:930"
	}
	if opt.Groups == "" {
		opt.Groups = GroupsExpr
	}
	t := &translator{opt: opt, byDir: map[*Directive]*block{}, scopeOf: map[*Directive]*Directive{},
		unclean: map[*Directive]bool{}, emitted: map[*Directive]bool{}, findings: append([]Finding(nil), parseFindings...)}
	t.findBlocks(dirs, nil)
	t.findOuterOptions(dirs, false, nil)
	for _, b := range t.blocks {
		t.collect(b)
	}
	t.findStrayGroups(dirs, false)
	res := &Result{Blocks: len(t.blocks)}
	if len(t.blocks) == 0 {
		t.addAt(Pos{}, Problem, "no block configured for PyAuthenNTLM2 (PythonAuthenHandler pyntlm) or Apache::AuthenNTLM (PerlAuthenHandler Apache::AuthenNTLM, Apache2::AuthenNTLM, Apache2::AuthenNTLM::Cookie): nothing to migrate")
		res.Findings = t.findings
		return res
	}
	g := t.merge()
	site := t.site(g)
	t.groupsNeeds(g)
	t.fallbackNeeds(g)
	res.CookieSecret = g.cookie != nil
	conf := t.conf(g, nil)
	t.selfCheck(conf, g)
	res.Findings = t.findings
	if n := res.Problems(); n > 0 {
		var lines []string
		for _, f := range res.Findings {
			if f.Level == Problem {
				lines = append(lines, f.Pos.String()+": "+f.What)
			}
		}
		conf = t.conf(g, lines)
		site = append([]byte(fmt.Sprintf("# ntlm-migrate could not translate everything (%d problem(s), listed in its\n# report). This line stops apache2 -t until they are resolved by hand:\nNTLMMigrateUnresolved %s\n\n", n, apacheQuote(fmt.Sprintf("%d problem(s): see the report of ntlm-migrate", n)))), site...)
	}
	res.Conf, res.Site = conf, site
	return res
}

// classify says which old module a handler directive names.
func classify(d *Directive) (Module, bool) {
	switch {
	case d.Is("PythonAuthenHandler"):
		for _, a := range d.Args {
			a = strings.TrimSuffix(strings.TrimSuffix(a, ".py"), "::handler")
			if a == "pyntlm" || strings.HasSuffix(a, "/pyntlm") {
				return PyAuthenNTLM2, true
			}
		}
	case d.Is("PerlAuthenHandler"):
		for _, a := range d.Args {
			a = strings.TrimSuffix(strings.TrimSuffix(a, "->handler"), "::handler")
			switch a {
			case "Apache::AuthenNTLM", "Apache2::AuthenNTLM":
				return AuthenNTLM, true
			case "Apache2::AuthenNTLM::Cookie", "Apache::AuthenNTLM::Cookie":
				return AuthenNTLMCookie, true
			}
		}
	}
	return 0, false
}

// conditional sections are transparent: the block is the section around them.
func conditional(d *Directive) bool {
	switch strings.ToLower(d.Name) {
	case "ifmodule", "ifdefine", "ifversion", "iffile", "ifdirective", "ifsection", "if", "elseif", "else":
		return true
	}
	return false
}

// oldModuleGuard is an <IfModule> that tests for mod_perl or mod_python:
// its contents must not stay behind it once those modules are gone.
func oldModuleGuard(d *Directive) bool {
	if !d.Section || !d.Is("IfModule") || len(d.Args) != 1 {
		return false
	}
	switch strings.TrimPrefix(strings.ToLower(d.Args[0]), "!") {
	case "mod_perl.c", "perl_module", "mod_python.c", "python_module":
		return true
	}
	return false
}

func (t *translator) findBlocks(ds []*Directive, stack []*Directive) {
	for _, d := range ds {
		if d.Section {
			t.findBlocks(d.Children, append(stack, d))
			continue
		}
		m, ok := classify(d)
		if !ok {
			if (d.Is("PerlAuthenHandler") || d.Is("PythonAuthenHandler")) && strings.Contains(strings.ToLower(d.Raw), "ntlm") {
				t.add(d, Problem, "an NTLM handler this tool does not know (a subclass?): its behaviour cannot be translated")
			}
			continue
		}
		i := len(stack) - 1
		for i >= 0 && conditional(stack[i]) {
			i--
		}
		if i < 0 {
			t.add(d, Problem, "%s configured outside any <Location>, <Directory> or <VirtualHost>: move it into one and run again", m)
			continue
		}
		sec := stack[i]
		if b := t.byDir[sec]; b != nil {
			if b.mod != m {
				t.add(d, Problem, "a second handler (%s) in the block of %s", m, b.handler.Pos)
			} else {
				t.add(d, Dropped, "the same handler twice in one block")
			}
			continue
		}
		b := &block{d: sec, mod: m, handler: d, outer: append([]*Directive(nil), stack[:i]...)}
		t.blocks = append(t.blocks, b)
		t.byDir[sec] = b
		if m == PyAuthenNTLM2 {
			t.hasPy = true
		} else {
			t.hasPerl = true
		}
		if m == AuthenNTLMCookie {
			t.hasCookie = true
		}
	}
}

var perlOptions = map[string]bool{
	"ntdomain": true, "defaultdomain": true, "fallbackdomain": true, "splitdomainprefix": true,
	"ntlmauthoritative": true, "basicauthoritative": true, "ntlmsemkey": true, "ntlmsemtimeout": true, "ntlmdebug": true,
}

var cookieOptions = map[string]bool{"cookie_name": true, "domain": true, "expires": true, "path": true, "refresh": true, "secret": true}

var pyOptions = map[string]bool{"domain": true, "pdc": true, "bdc": true, "namefmt": true}

// optionName returns the option a PerlSetVar/PerlAddVar/PythonOption sets.
func optionName(d *Directive) (string, bool) {
	if d.Section || len(d.Args) == 0 {
		return "", false
	}
	if d.Is("PerlSetVar") || d.Is("PerlAddVar") || d.Is("PythonOption") {
		return strings.ToLower(d.Args[0]), true
	}
	return "", false
}

func (t *translator) isNTLMOption(d *Directive, mod Module) bool {
	name, ok := optionName(d)
	if !ok {
		return false
	}
	switch {
	case d.Is("PythonOption"):
		return (mod == PyAuthenNTLM2 || mod == 0 && t.hasPy) && pyOptions[name]
	case mod == 0:
		return t.hasPerl && perlOptions[name] || t.hasCookie && cookieOptions[name]
	case mod.perl():
		return perlOptions[name] || (mod == AuthenNTLMCookie && cookieOptions[name])
	}
	return false
}

// findOuterOptions records NTLM options outside every block: mod_perl and
// mod_python merge them into the blocks below, so they apply to them.
// scope is the section around them (nil: the server), whose blocks they
// reach.
func (t *translator) findOuterOptions(ds []*Directive, inBlock bool, scope *Directive) {
	for _, d := range ds {
		if d.Section {
			inner := scope
			if !conditional(d) {
				inner = d
			}
			t.findOuterOptions(d.Children, inBlock || t.byDir[d] != nil, inner)
			continue
		}
		if inBlock || !t.isNTLMOption(d, 0) {
			continue
		}
		t.scopeOf[d] = scope
		if t.reachesNone(d) {
			t.add(d, Problem, "an NTLM option outside the NTLM blocks and not around any of them: if it reaches one through <Location>/<Directory> merging, move it into that block and run again")
			continue
		}
		t.add(d, Note, "outside the NTLM blocks: applies to the blocks within its section (as mod_perl / mod_python merged it); translated below, then remove it from your configuration")
		if d.Is("PythonOption") {
			t.outerPy = append(t.outerPy, d)
		} else {
			t.outerPerl = append(t.outerPerl, d)
		}
	}
}

// depth says how close the section around an outer option d is to block
// b: 0 for the server level, -1 when d does not reach b.
func (t *translator) depth(d *Directive, b *block) int {
	sc := t.scopeOf[d]
	if sc == nil {
		return 0
	}
	for i, o := range b.outer {
		if o == sc {
			return i + 1
		}
	}
	return -1
}

func (t *translator) reachesNone(d *Directive) bool {
	for _, b := range t.blocks {
		if t.depth(d, b) >= 0 {
			return false
		}
	}
	return true
}

// outerFor returns the outer options that reach b, farthest first, so
// that a closer one, applied later, overrides.
func (t *translator) outerFor(b *block, ds []*Directive) []*Directive {
	var out []*Directive
	for dep := 0; dep <= len(b.outer); dep++ {
		for _, d := range ds {
			if t.depth(d, b) == dep {
				out = append(out, d)
			}
		}
	}
	return out
}

// findStrayGroups reports Require group outside the blocks: in a section
// that inherits an NTLM block's authentication it would still go to
// mod_authz_groupfile.
func (t *translator) findStrayGroups(ds []*Directive, inBlock bool) {
	for _, d := range ds {
		if d.Section {
			t.findStrayGroups(d.Children, inBlock || t.byDir[d] != nil)
			if !inBlock && t.byDir[d] == nil && !hasDirective(d.Children, "AuthGroupFile", "AuthDBMGroupFile", "AuthLDAPURL") {
				for _, c := range d.Children {
					if c.Is("Require") && len(c.Args) > 0 && strings.EqualFold(c.Args[0], "group") {
						t.add(c, Note, "Require group outside the NTLM blocks, with no AuthGroupFile here: if this section inherits an NTLM block's login, rewrite it as that block's groups are (Require expr or external-group); left alone")
					}
				}
			}
		}
	}
}

func hasDirective(ds []*Directive, names ...string) bool {
	for _, d := range ds {
		for _, n := range names {
			if d.Is(n) {
				return true
			}
		}
		if d.Section && conditional(d) && hasDirective(d.Children, names...) {
			return true
		}
	}
	return false
}

// value checks an option's value before it goes into conf.toml.
func (t *translator) value(d *Directive, v string) bool {
	switch {
	case !utf8.ValidString(v):
		t.add(d, Problem, "the value is not valid UTF-8")
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		t.add(d, Problem, "the value holds control characters")
	case strings.Contains(v, "${"):
		t.add(d, Problem, "the value uses a ${VARIABLE} that Apache would expand: write the value itself")
	default:
		return true
	}
	return false
}

// collect reads one block's options (its own and those outside every
// block) and records what each became.
func (t *translator) collect(b *block) {
	switch b.mod {
	case PyAuthenNTLM2:
		b.nameFmt = setting{"sam", b.handler.Pos}
		b.schemes = []string{"ntlm", "basic"}
		t.add(b.handler, Translated, "PyAuthenNTLM2 → AuthnzFcgiCheckAuthnProvider ntlm (mod_authnz_fcgi); it offered NTLM and Basic: [auth] schemes = [\"ntlm\", \"basic\"]")
	default:
		// Apache::AuthenNTLM's default REMOTE_USER is DOMAIN\user.
		b.nameFmt = setting{"logon", b.handler.Pos}
		t.add(b.handler, Translated, "%s → AuthnzFcgiCheckAuthnProvider ntlm (mod_authnz_fcgi)", b.mod)
	}
	if b.mod == AuthenNTLMCookie {
		b.cookie = map[string]setting{}
	}
	outer := t.outerFor(b, t.outerPerl)
	if b.mod == PyAuthenNTLM2 {
		outer = t.outerFor(b, t.outerPy)
	}
	for _, d := range outer {
		if name, _ := optionName(d); b.mod != AuthenNTLMCookie && cookieOptions[name] && !perlOptions[name] {
			continue // the cookie module's, for its blocks
		}
		t.option(b, d)
	}
	var pyDomain, pdc, bdc *Directive
	var walk func(ds []*Directive)
	walk = func(ds []*Directive) {
		for _, d := range ds {
			if d.Section {
				walk(d.Children)
				continue
			}
			if d.Is("AuthName") && len(d.Args) == 1 && t.value(d, d.Args[0]) {
				b.realm = setting{d.Args[0], d.Pos}
			}
			if d.Is("AuthType") && b.mod.perl() {
				b.schemes = nil
				v := strings.ToLower(strings.Join(d.Args, ","))
				if strings.Contains(v, "ntlm") {
					b.schemes = append(b.schemes, "ntlm")
				}
				if strings.Contains(v, "basic") {
					b.schemes = append(b.schemes, "basic")
				}
				if len(b.schemes) == 0 {
					t.add(d, Problem, "AuthType must name ntlm and/or basic for %s", b.mod)
				}
			}
			if !t.isNTLMOption(d, b.mod) {
				continue
			}
			if d.Is("PythonOption") {
				switch name, _ := optionName(d); name {
				case "domain":
					pyDomain = d
				case "pdc":
					pdc = d
				case "bdc":
					bdc = d
				default:
					t.option(b, d)
				}
				continue
			}
			t.option(b, d)
		}
	}
	walk(b.d.Children)
	if b.schemes == nil && b.mod.perl() {
		b.schemes = []string{"ntlm"}
		t.add(b.handler, Note, "no AuthType in this block: assumed ntlm")
	}
	if b.mod == PyAuthenNTLM2 {
		// The block's own options win; then the closest section's.
		outer := t.outerFor(b, t.outerPy)
		for i := len(outer) - 1; i >= 0; i-- {
			d := outer[i]
			switch name, _ := optionName(d); {
			case name == "domain" && pyDomain == nil:
				pyDomain = d
			case name == "pdc" && pdc == nil:
				pdc = d
			case name == "bdc" && bdc == nil:
				bdc = d
			}
		}
	}
	if b.mod == PyAuthenNTLM2 {
		t.pyDomain(b, pyDomain, pdc, bdc)
	}
	if len(b.domains) == 0 && b.mod.perl() {
		t.add(b.handler, Problem, "no PerlAddVar ntdomain \"DOMAIN pdc bdc\" for this block: which domain controllers?")
	}
}

// option translates one Perl option, or a PyAuthenNTLM2 NameFmt.
func (t *translator) option(b *block, d *Directive) {
	name, _ := optionName(d)
	if len(d.Args) != 2 && !(name == "ntdomain" && d.Is("PerlAddVar")) {
		t.add(d, Problem, "expected one value")
		return
	}
	if d.Is("PerlAddVar") && name != "ntdomain" {
		t.add(d, Note, "PerlAddVar adds a value; only ntdomain takes several, the others read one")
	}
	v := ""
	if len(d.Args) > 1 {
		v = d.Args[1]
	}
	if !t.value(d, v) {
		return
	}
	switch name {
	case "namefmt":
		switch strings.ToLower(v) {
		case "sam":
			b.nameFmt = setting{"sam", d.Pos}
			t.add(d, Translated, "[auth] name_format = \"sam\"")
		case "logon":
			b.nameFmt = setting{"logon", d.Pos}
			t.add(d, Translated, "[auth] name_format = \"logon\"")
		default:
			t.add(d, Problem, "NameFmt must be SAM or LogOn")
		}
	case "ntdomain":
		if d.Is("PerlSetVar") {
			b.domains = nil // PerlSetVar replaces what was added before
		}
		if len(d.Args) != 2 {
			t.add(d, Problem, "PerlAddVar adds each word as its own value: write the domain and its DCs as one quoted string, \"DOMAIN pdc bdc\"")
			return
		}
		f := strings.Fields(v)
		if len(f) < 2 {
			t.add(d, Problem, "ntdomain needs a domain and at least one domain controller (\"DOMAIN pdc bdc\")")
			return
		}
		dom := &domain{name: f[0], pos: d.Pos}
		for _, h := range f[1:] {
			if strings.ContainsAny(h, "/\\") {
				t.add(d, Problem, "domain controller %q is not a host name or address", h)
				return
			}
			dom.dcs = append(dom.dcs, h)
		}
		b.domains = append(b.domains, dom)
		t.add(d, Translated, "[[domain]] name = %q, dcs = %s", dom.name, tomlList(dom.dcs))
	case "defaultdomain":
		b.defDom = setting{v, d.Pos}
		t.add(d, Translated, "[auth] default_domain = %q", v)
	case "fallbackdomain":
		b.fallDom = setting{v, d.Pos}
		t.add(d, Translated, "[auth] fallback_domain = %q: its DCs answer for domains not configured", v)
	case "splitdomainprefix":
		switch v {
		case "1":
			b.nameFmt = setting{"sam", d.Pos}
			t.add(d, Translated, "[auth] name_format = \"sam\" (REMOTE_USER = user)")
		case "0", "":
			b.nameFmt = setting{"logon", d.Pos}
			t.add(d, Translated, "[auth] name_format = \"logon\" (REMOTE_USER = DOMAIN\\user)")
		default:
			t.add(d, Problem, "splitdomainprefix must be 0 or 1")
		}
	case "ntlmauthoritative", "basicauthoritative":
		switch strings.ToLower(v) {
		case "on", "1", "yes":
			t.add(d, Translated, "AuthnzFcgiCheckAuthnProvider ... Authoritative On (the default)")
		case "off", "0", "no":
			b.authOff = append(b.authOff, d.Pos)
			t.add(d, Note, "AuthnzFcgiCheckAuthnProvider ... Authoritative Off, for NTLM and Basic alike (mod_authnz_fcgi has one switch): a failed login goes on to the next authn provider")
		default:
			t.add(d, Problem, "%s must be on or off", name)
		}
	case "ntlmsemkey", "ntlmsemtimeout":
		t.add(d, Dropped, "not needed: logins are not serialised; many run at once over shared DC connections, bounded by [dc] max_in_flight_per_dc and queue_timeout")
	case "ntlmdebug":
		switch v {
		case "0", "1", "2":
			b.debug = setting{v, d.Pos}
			t.add(d, Translated, "ntlm_debug = %s (needs log_level = \"debug\"; message bytes, hashes and responses are never logged)", v)
		default:
			t.add(d, Problem, "ntlmdebug must be 0, 1 or 2")
		}
	case "cookie_name", "domain", "expires", "path", "refresh", "secret":
		t.cookieOption(b, d, name, v)
	}
}

var expiresRe = regexp.MustCompile(`^\+?([0-9]{1,9})([smhdMy]?)$`)

func (t *translator) cookieOption(b *block, d *Directive, name, v string) {
	set := func(k, val, what string, l Level) {
		b.cookie[k] = setting{val, d.Pos}
		t.add(d, l, "[cookie] %s", what)
	}
	switch name {
	case "cookie_name":
		set("name", v, fmt.Sprintf("name = %q", v), Translated)
	case "domain":
		set("domain", v, fmt.Sprintf("domain = %q", v), Translated)
	case "path":
		set("path", v, fmt.Sprintf("path = %q", v), Translated)
	case "refresh":
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			t.add(d, Problem, "refresh must be a number of seconds")
			return
		}
		dur := (time.Duration(n) * time.Second).String()
		set("refresh", dur, fmt.Sprintf("refresh = %q", dur), Translated)
	case "expires":
		m := expiresRe.FindStringSubmatch(v)
		if m == nil {
			t.add(d, Problem, "expires %q: only relative times (+30m, +4h, +1d, seconds) are translated; write [cookie] lifetime by hand", v)
			return
		}
		n, _ := strconv.Atoi(m[1])
		unit := map[string]time.Duration{"": time.Second, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "M": 30 * 24 * time.Hour, "y": 365 * 24 * time.Hour}[m[2]]
		dur := (time.Duration(n) * unit).String()
		what := fmt.Sprintf("lifetime = %q (how long the browser keeps it)", dur)
		l := Translated
		if m[2] == "M" || m[2] == "y" {
			l, what = Note, what+"; a month taken as 30 days, a year as 365"
		}
		set("lifetime", dur, what, l)
	case "secret":
		b.cookie["secret"] = setting{"", d.Pos}
		// The value is a secret: it is never echoed into the report.
		t.record(Finding{Pos: d.Pos, Directive: d.Name + " secret (value not shown)", Level: Note,
			What: "not carried over: old cookies cannot be verified by the new HMAC-SHA256 anyway; a new random secret file is named in [cookie] secret_files"})
	}
}

// pyDomain builds the domain of a PyAuthenNTLM2 block from Domain, PDC
// and BDC; a PDC or BDC written as ldap://server/baseDN also gives LDAP.
func (t *translator) pyDomain(b *block, dom, pdc, bdc *Directive) {
	if dom == nil || len(dom.Args) != 2 || dom.Args[1] == "" {
		t.add(firstNonNil(dom, b.handler), Problem, "PythonOption Domain (the NT domain name) is missing or has no value")
		return
	}
	if !t.value(dom, dom.Args[1]) {
		return
	}
	d := &domain{name: dom.Args[1], pos: dom.Pos}
	t.add(dom, Translated, "[[domain]] name = %q; also [auth] default_domain (PyAuthenNTLM2 sent every login to this domain's DCs)", d.name)
	b.defDom = setting{d.name, dom.Pos}
	for i, o := range []*Directive{pdc, bdc} {
		if o == nil {
			if i == 0 {
				t.add(dom, Problem, "no PythonOption PDC for domain %s", d.name)
			}
			continue
		}
		if len(o.Args) != 2 || o.Args[1] == "" {
			t.add(o, Problem, "no address given")
			continue
		}
		v := o.Args[1]
		if !t.value(o, v) {
			continue
		}
		if !strings.Contains(v, "://") {
			if strings.ContainsAny(v, "/\\") {
				t.add(o, Problem, "%q is not a host name or address", v)
				continue
			}
			d.dcs = append(d.dcs, v)
			t.add(o, Translated, "dcs += %q (SMB, port 445)", v)
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Hostname() == "" {
			t.add(o, Problem, "%q: expected a host, or ldap://server[:port]/baseDN", v)
			continue
		}
		host := u.Hostname()
		d.dcs = append(d.dcs, host)
		lu := "ldaps://" + host
		if u.Scheme == "ldaps" && u.Port() != "" {
			lu = "ldaps://" + net.JoinHostPort(host, u.Port())
		} else if u.Scheme == "ldap" && u.Port() != "" && u.Port() != "389" {
			t.add(o, Problem, "LDAP on port %s: GoAuthenNTLM binds over LDAPS (636) or StartTLS; write ldap_urls by hand", u.Port())
			continue
		}
		d.ldapURLs = append(d.ldapURLs, lu)
		if dn := strings.TrimPrefix(u.Path, "/"); dn != "" {
			d.baseDN = dn
		}
		what := fmt.Sprintf("LDAP mode: dcs += %q (the AD server also serves SMB logins), ldap_urls += %q", host, lu)
		if d.baseDN != "" {
			what += fmt.Sprintf(", ldap_base_dn = %q", d.baseDN)
		}
		if u.Scheme == "ldap" {
			what += "; ldap:// became ldaps:// because the DC refuses binds in the clear (its certificate's CA goes in ldap_ca_file)"
		}
		t.add(o, Note, "%s", what)
	}
	if len(d.dcs) > 0 {
		b.domains = append(b.domains, d)
	}
}

func firstNonNil(ds ...*Directive) *Directive {
	for _, d := range ds {
		if d != nil {
			return d
		}
	}
	return nil
}
