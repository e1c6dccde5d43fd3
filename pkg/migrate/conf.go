package migrate

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

// global is what one authorizer serves for all blocks: the blocks'
// settings merged, with disagreements reported.
type global struct {
	nameFmt, realm, defDom, fallDom setting
	schemes                         []string
	schemesPos                      Pos
	debug                           int
	domains                         []*domain
	cookie                          map[string]setting // nil: no cookie
	hostAccess                      bool
}

func (g *global) domain(name string) *domain {
	for _, d := range g.domains {
		if strings.EqualFold(d.name, name) {
			return d
		}
	}
	return nil
}

// agree records a daemon-wide setting; a block that wants another value
// is a problem, since one authorizer serves them all.
func (t *translator) agree(key string, cur *setting, s setting, b *block) {
	if s.pos.Line == 0 && s.pos.File == "" {
		return
	}
	if cur.pos.File == "" && cur.pos.Line == 0 {
		*cur = s
		return
	}
	if !strings.EqualFold(cur.v, s.v) {
		t.addAt(s.pos, Problem, "blocks disagree on %s: %q here (block of %s), %q at %s; one authorizer serves every block: run one authorizer per setting (each with its own listen and provider name) or make them agree", key, s.v, b.d.Pos, cur.v, cur.pos)
	}
}

func sameHosts(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

func (t *translator) merge() *global {
	g := &global{}
	domainSets := map[string]*block{}
	for _, b := range t.blocks {
		t.agree("[auth] name_format", &g.nameFmt, b.nameFmt, b)
		t.agree("[auth] default_domain", &g.defDom, b.defDom, b)
		t.agree("[auth] fallback_domain", &g.fallDom, b.fallDom, b)
		if b.realm.v != "" {
			if g.realm.v == "" {
				g.realm = b.realm
			} else if g.realm.v != b.realm.v {
				t.addAt(b.realm.pos, Note, "[auth] realm is daemon-wide and is %q (from %s); this block's AuthName %q stays in the block but Basic's dialog shows the first", g.realm.v, g.realm.pos, b.realm.v)
			}
		}
		if len(b.schemes) > 0 {
			if g.schemes == nil {
				g.schemes, g.schemesPos = b.schemes, b.handler.Pos
			} else if strings.Join(g.schemes, ",") != strings.Join(b.schemes, ",") {
				t.addAt(b.handler.Pos, Problem, "blocks disagree on the schemes: %s here, %s for the block of %s; one authorizer offers the same to every block", tomlList(b.schemes), tomlList(g.schemes), g.schemesPos)
			}
		}
		if n, _ := strconv.Atoi(b.debug.v); n > g.debug {
			g.debug = n
		}
		var names []string
		for _, d := range b.domains {
			names = append(names, strings.ToUpper(d.name))
			cur := g.domain(d.name)
			if cur == nil {
				cp := *d
				g.domains = append(g.domains, &cp)
				continue
			}
			if !sameHosts(cur.dcs, d.dcs) {
				t.addAt(d.pos, Problem, "domain %s has DCs %s here and %s at %s: which ones?", d.name, tomlList(d.dcs), tomlList(cur.dcs), cur.pos)
			}
			if d.baseDN != "" && cur.baseDN != "" && !strings.EqualFold(d.baseDN, cur.baseDN) {
				t.addAt(d.pos, Problem, "domain %s has LDAP base DN %q here and %q at %s", d.name, d.baseDN, cur.baseDN, cur.pos)
			}
			if cur.baseDN == "" {
				cur.baseDN = d.baseDN
			}
			if len(cur.ldapURLs) == 0 {
				cur.ldapURLs = d.ldapURLs
			}
		}
		sort.Strings(names)
		key := strings.Join(names, " ")
		if b.fallDom.v == "" && len(names) > 0 {
			domainSets[key] = b
		}
		if b.cookie != nil {
			if g.cookie == nil {
				g.cookie = map[string]setting{}
			}
			for k, v := range b.cookie {
				cur := g.cookie[k]
				t.agree("[cookie] "+k, &cur, v, b)
				g.cookie[k] = cur
			}
		}
	}
	for _, sch := range g.schemes {
		if sch == "basic" {
			t.addAt(g.schemesPos, Note, "Basic is offered as before, but refused (403) over plain HTTP unless [auth] allow_basic_over_http = true: the old module accepted passwords in the clear")
		}
	}
	if len(domainSets) > 1 {
		for k, b := range domainSets {
			t.addAt(b.handler.Pos, Problem, "this block accepted logins of %s only; the merged configuration serves every configured domain in every block: restrict it by hand, e.g. Require expr \"%%{reqenv:AUTH_DOMAIN} in {'%s'}\" beside its Require lines, or run one authorizer per block", k, strings.Join(strings.Fields(k), "','"))
		}
	}
	if g.nameFmt.v == "sam" && len(g.domains) > 1 {
		// The authorizer refuses "sam" with several domains (OTHER\jdoe
		// and EXAMPLE\jdoe would be one REMOTE_USER): write the form that
		// passes its check, and leave the consequences to a person.
		var names []string
		for _, d := range g.domains {
			names = append(names, d.name)
		}
		t.addAt(g.nameFmt.pos, Problem, "REMOTE_USER was the bare user name for %d domains (%s), so same-named accounts of different domains were one user; the authorizer refuses that, and conf.toml says name_format = \"logon\" (DOMAIN\\user): change Require user lines, user and group files and applications that keep user names to that form", len(names), strings.Join(names, ", "))
		g.nameFmt.v = "logon"
	}
	if g.cookie != nil {
		for _, b := range t.blocks {
			if b.cookie == nil {
				t.addAt(b.handler.Pos, Note, "the login cookie is daemon-wide: this block (no cookie before) accepts it too; it proves the same DC login")
			}
		}
		if _, ok := g.cookie["path"]; !ok {
			t.addAt(Pos{}, Note, "[cookie] path: the old default was none (the browser's default, the page's directory); here \"/\"")
		}
	}
	return g
}

// groupsNeeds makes sure each domain can answer group checks when a block
// checks groups: LDAP URLs (every AD DC serves LDAP), a base DN and a
// service account.
func (t *translator) groupsNeeds(g *global) {
	var first *block
	for _, b := range t.blocks {
		if b.groups {
			first = b
			break
		}
	}
	if first == nil {
		return
	}
	for _, d := range g.domains {
		if len(d.ldapURLs) == 0 {
			for _, h := range d.dcs {
				d.ldapURLs = append(d.ldapURLs, "ldaps://"+h)
			}
			t.addAt(first.groupPos, Note, "groups are read over LDAP: domain %s gets ldap_urls = %s (its DCs, over LDAPS)", d.name, tomlList(d.ldapURLs))
		}
		if d.baseDN == "" {
			t.addAt(first.groupPos, Problem, "groups need domain %s's LDAP base DN (like DC=example,DC=com): write ldap_base_dn in conf.toml", d.name)
		}
	}
	if t.opt.LDAPBindUser == "" || t.opt.LDAPBindPasswordFile == "" {
		t.addAt(first.groupPos, Problem, "groups need an LDAP service account: run again with -ldap-bind-user and -ldap-password-file (and -ldap-ca-file for the DCs' CA)")
	}
}

// fallbackNeeds gives fallback_domain's domain the LDAP settings the
// authorizer requires for it: its trust list tells the domain's own
// accounts from those of domains it trusts, which the old modules mixed up.
func (t *translator) fallbackNeeds(g *global) {
	d := g.domain(g.fallDom.v)
	if d == nil {
		return // the configuration check names it
	}
	if len(d.ldapURLs) == 0 {
		for _, h := range d.dcs {
			d.ldapURLs = append(d.ldapURLs, "ldaps://"+h)
		}
		t.addAt(g.fallDom.pos, Note, "fallback_domain needs its domain's directory (a trusted domain's login must not pass as this domain's account): domain %s gets ldap_urls = %s (its DCs, over LDAPS)", d.name, tomlList(d.ldapURLs))
	}
	if d.baseDN == "" {
		t.addAt(g.fallDom.pos, Problem, "fallback_domain needs domain %s's LDAP base DN (like DC=example,DC=com): write ldap_base_dn in conf.toml", d.name)
	}
	if t.opt.LDAPBindUser == "" || t.opt.LDAPBindPasswordFile == "" {
		t.addAt(g.fallDom.pos, Problem, "fallback_domain needs an LDAP service account: run again with -ldap-bind-user and -ldap-password-file (and -ldap-ca-file for the DCs' CA)")
	}
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// conf writes conf.toml. unresolved, when not empty, is written as a key
// the configuration check refuses, so that the file fails
// ntlm-fcgi-authorizer -check until a person has dealt with the list.
func (t *translator) conf(g *global, unresolved []string) []byte {
	var w strings.Builder
	w.WriteString("# Written by ntlm-migrate. Keys not written here have their defaults;\n# conf.toml.example explains every key. Check it with\n#     ntlm-fcgi-authorizer -config conf.toml -check\n\n")
	if len(unresolved) > 0 {
		w.WriteString("# Not translated (see ntlm-migrate's report). This key stops the\n# configuration check until they are resolved and it is deleted.\n")
		fmt.Fprintf(&w, "ntlm_migrate_unresolved = %s\n\n", tomlList(unresolved))
	}
	fmt.Fprintf(&w, "listen = %s\n", tomlString(t.opt.Listen))
	if g.debug > 0 {
		fmt.Fprintf(&w, "log_level = \"debug\"\n# was: ntlmdebug\nntlm_debug = %d\n", g.debug)
	}
	w.WriteString("\n[auth]\n")
	if g.schemes != nil {
		fmt.Fprintf(&w, "schemes = %s\n", tomlList(g.schemes))
	}
	if g.realm.v != "" {
		fmt.Fprintf(&w, "# was: AuthName (%s)\nrealm = %s\n", g.realm.pos, tomlString(g.realm.v))
	}
	if g.nameFmt.v != "" {
		fmt.Fprintf(&w, "# REMOTE_USER's form, as before (%s)\nname_format = %s\n", g.nameFmt.pos, tomlString(g.nameFmt.v))
	}
	if g.defDom.v != "" {
		fmt.Fprintf(&w, "# %s\ndefault_domain = %s\n", g.defDom.pos, tomlString(g.defDom.v))
	}
	if g.fallDom.v != "" {
		fmt.Fprintf(&w, "# %s\nfallback_domain = %s\n", g.fallDom.pos, tomlString(g.fallDom.v))
	}
	for _, d := range g.domains {
		fmt.Fprintf(&w, "\n# %s\n[[domain]]\nname = %s\ndcs = %s\n", d.pos, tomlString(d.name), tomlList(d.dcs))
		if len(d.ldapURLs) > 0 {
			fmt.Fprintf(&w, "ldap_urls = %s\nldap_base_dn = %s\n", tomlList(d.ldapURLs), tomlString(d.baseDN))
			fmt.Fprintf(&w, "ldap_bind_user = %s\nldap_bind_password_file = %s\n", tomlString(t.opt.LDAPBindUser), tomlString(t.opt.LDAPBindPasswordFile))
			if t.opt.LDAPCAFile != "" {
				fmt.Fprintf(&w, "ldap_ca_file = %s\n", tomlString(t.opt.LDAPCAFile))
			}
		}
	}
	if t.opt.GroupsCacheDir != "" {
		fmt.Fprintf(&w, "\n[groups]\ncache_dir = %s\n", tomlString(t.opt.GroupsCacheDir))
	}
	if g.cookie != nil {
		w.WriteString("\n# was: Apache2::AuthenNTLM::Cookie\n[cookie]\nenabled = true\n")
		for _, k := range []string{"name", "domain", "path", "refresh", "lifetime"} {
			if s, ok := g.cookie[k]; ok {
				fmt.Fprintf(&w, "%s = %s\n", k, tomlString(s.v))
			}
		}
		fmt.Fprintf(&w, "# a new random secret (head -c 32 /dev/urandom | base64)\nsecret_files = %s\n", tomlList([]string{t.opt.CookieSecretFile}))
	}
	return []byte(w.String())
}

// selfCheck runs the authorizer's own configuration check on conf.toml and
// compares what it read with what was meant: a quoting mistake here must
// not produce a file that passes while meaning something else.
func (t *translator) selfCheck(conf []byte, g *global) {
	c, err := config.Parse("conf.toml", conf)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			t.addAt(Pos{File: "conf.toml"}, Problem, "the written configuration fails the authorizer's check: %s", line)
		}
		return
	}
	mismatch := func(what string, got, want any) {
		if !reflect.DeepEqual(got, want) {
			t.addAt(Pos{File: "conf.toml"}, Problem, "internal error: %s reads back as %v, meant %v", what, got, want)
		}
	}
	for i, d := range g.domains {
		mismatch("domain name", c.Domains[i].Name, d.name)
		mismatch("domain dcs", c.Domains[i].DCs, d.dcs)
	}
	mismatch("name_format", string(c.Auth.NameFormat), g.nameFmt.v)
	mismatch("default_domain", c.Auth.DefaultDomain, g.defDom.v)
	mismatch("fallback_domain", c.Auth.FallbackDomain, g.fallDom.v)
	var schemes []string
	for _, s := range c.Auth.Schemes {
		schemes = append(schemes, string(s))
	}
	if g.schemes != nil {
		mismatch("schemes", schemes, g.schemes)
	}
	mismatch("cookie enabled", c.Cookie.Enabled, g.cookie != nil)
	if g.cookie != nil {
		if s, ok := g.cookie["name"]; ok {
			mismatch("cookie name", c.Cookie.Name, s.v)
		}
		if s, ok := g.cookie["refresh"]; ok {
			d, _ := time.ParseDuration(s.v)
			mismatch("cookie refresh", c.Cookie.Refresh.D(), d)
		}
	}
}
