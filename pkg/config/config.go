// Package config owns GoAuthenNTLM's configuration file: one TOML file read
// by ntlm-fcgi-authorizer (ntlm-group-check reads no configuration). It decodes, fills in
// defaults and validates; a mistake stops the start with the file, the line
// and what is wrong, because an auth component that guesses is worse than
// one that does not start.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole file. Field comments name the option of the module
// it replaces, where there is one; conf.toml.example documents each key.
type Config struct {
	// Listen is the TCP address Apache's AuthnzFcgiDefineProvider names.
	Listen string `toml:"listen"`
	// LogLevel sets the slog level: debug, info, warn or error.
	LogLevel LogLevel `toml:"log_level"`
	// LogFormat is "text" (logfmt) or "json" (one object per line).
	LogFormat LogFormat `toml:"log_format"`
	// MetricsListen, when set, serves /metrics (Prometheus) and /healthz
	// on this address; HealthInterval is how often /healthz probes DCs.
	MetricsListen  string   `toml:"metrics_listen"`
	HealthInterval Duration `toml:"health_interval"`
	// NTLMDebug is Apache::AuthenNTLM's ntlmdebug: 0, 1 (steps) or 2
	// (message flags and AV pairs; never responses or hashes).
	NTLMDebug int `toml:"ntlm_debug"`
	// CallerSecretFile, when set, holds a secret Apache must pass in the
	// GoAuthenNTLM-Secret request header (or the AUTHORIZER_SECRET
	// variable); calls without it are refused.
	CallerSecretFile string `toml:"caller_secret_file"`

	Auth    Auth     `toml:"auth"`
	DC      DC       `toml:"dc"`
	Domains []Domain `toml:"domain"`
	Groups  Groups   `toml:"groups"`
	Cookie  Cookie   `toml:"cookie"`
	Replay  Replay   `toml:"replay"`
	// Delegation hands applications credential caches to act as the
	// user (package delegation).
	Delegation Delegation `toml:"delegation"`

	// path is the file this came from, for messages; data its text, to
	// point later checks (Problem) at the right line.
	path string
	data []byte
}

// Auth is how clients log in.
type Auth struct {
	// Schemes offered to clients, in order: "ntlm", "negotiate", "basic"
	// (Apache::AuthenNTLM's AuthType ntlm,basic).
	Schemes []Scheme `toml:"schemes"`
	// Realm is shown by browsers in the Basic login dialog (AuthName).
	Realm string `toml:"realm"`
	// AllowBasicOverHTTP permits Basic on plain HTTP, where the password
	// crosses the network readable. Off by default.
	AllowBasicOverHTTP bool `toml:"allow_basic_over_http"`
	// NameFormat is what REMOTE_USER holds (PyAuthenNTLM2 NameFmt,
	// Apache::AuthenNTLM splitdomainprefix).
	NameFormat NameFormat `toml:"name_format"`
	// LowercaseUser lower-cases the user part of REMOTE_USER.
	LowercaseUser bool `toml:"lowercase_user"`
	// HandshakeTimeout is how long a challenge (Type2) waits for its
	// Type3. Browsers answer within milliseconds (they ask the user for a
	// password before the Type1, not after the Type2), so a long wait only
	// keeps abandoned handshakes and their DC sessions around.
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	// KeepAliveTimeout should equal Apache's KeepAliveTimeout: a
	// connection idle longer than this is forgotten, because Apache has
	// closed it and its address may now belong to another client.
	KeepAliveTimeout Duration `toml:"keepalive_timeout"`
	// BindConnections ties each authenticated connection to a random
	// per-browser cookie (BindingCookie) set at login: a request on that
	// connection without it is challenged again. It stops a client that
	// comes to hold another's address and port (NAT, a proxy, or plain
	// ephemeral port reuse, which some network stacks do at random and
	// soon) from inheriting its login. On by default; clients that keep no
	// cookies (curl without -b) then handshake on every request.
	BindConnections bool   `toml:"bind_connections"`
	BindingCookie   string `toml:"binding_cookie"`
	// DefaultDomain serves clients that send no domain (defaultdomain).
	DefaultDomain string `toml:"default_domain"`
	// FallbackDomain serves domains that are not configured
	// (fallbackdomain): its DCs are asked, trusting the domain to decide.
	FallbackDomain string `toml:"fallback_domain"`
	// LoginLifetime ends a connection's login this long after the DC
	// checked it: the next request on it handshakes again, so a disabled
	// account or a changed password takes effect on kept-alive
	// connections too (Apache's MaxKeepAliveRequests 0 keeps them open
	// indefinitely).
	LoginLifetime Duration `toml:"login_lifetime"`
	// MaxPending caps handshakes between Type1 and Type3, in all and per
	// client address (IPv6: per /64), so that a flood of Type1s cannot
	// exhaust memory. At a cap the oldest handshake is dropped for the new
	// one (see package conntable).
	MaxPending      int `toml:"max_pending"`
	MaxPendingPerIP int `toml:"max_pending_per_ip"`
	// MaxConnections caps the authenticated connections remembered; the
	// least recently used is forgotten first.
	MaxConnections int `toml:"max_connections"`
	// ServerNames are the host names clients reach this site by (what
	// they type in the URL, e.g. "intranet.example.com"), lower case,
	// without port or scheme. A login is meant for this site when the
	// service it names is HTTP/ one of them: the Kerberos service
	// principals accepted by default and the NTLM target names
	// (MsvAvTargetName) accepted under Extended Protection. They come
	// from here, never from the request's Host header, which the client
	// chooses.
	ServerNames []string `toml:"server_names"`
	// BasicCacheTTL is how long a Basic password the KDC accepted (a
	// domain with basic = "kerberos") is taken again without asking the
	// KDC: clients send Basic with every request, and each check is two
	// KDC exchanges. 0 turns the cache off. Entries are keyed by an HMAC
	// (with a per-process random key) of the name and password; at most
	// BasicCacheSize are held.
	BasicCacheTTL  Duration `toml:"basic_cache_ttl"`
	BasicCacheSize int      `toml:"basic_cache_size"`
	// RefusalFloor is the least time the answer to a refused login (an
	// NTLM authenticate or a Basic password the DC did not accept) takes,
	// counted from the request's arrival: the DC answers an unknown
	// account sooner than a wrong password, which tells a stranger which
	// names exist. The wait holds only the request's own FastCGI
	// connection (bounded by the server's connection cap), no goroutine
	// of its own; 0 turns it off.
	RefusalFloor Duration `toml:"refusal_floor"`
	// ChannelBinding is Extended Protection for NTLM logins (also inside
	// Negotiate): "off", "when-sent" or "required", or unset (the
	// default, ChannelBindingDefault); see ChannelBinding and the README. Apache's CHANNEL_BINDING variable
	// (SetEnvIf) overrides it per location. Under when-sent and required
	// a target name (MsvAvTargetName) the client sends must also be HTTP/
	// and one of ServerNames, or, when ServerNames is empty, HTTP/ and the
	// SERVER_NAME Apache passes (its ServerName under UseCanonicalName On).
	ChannelBinding ChannelBinding `toml:"channel_binding"`
}

// DC is how domain controllers are talked to; see package dc.
type DC struct {
	DialTimeout        Duration `toml:"dial_timeout"`
	RequestTimeout     Duration `toml:"request_timeout"`
	MaxConnsPerDC      int      `toml:"max_conns_per_dc"`
	MaxSessionsPerConn int      `toml:"max_sessions_per_conn"`
	MaxInFlightPerDC   int      `toml:"max_in_flight_per_dc"`
	DownBackoff        Duration `toml:"down_backoff"`
	// QueueTimeout bounds the wait for a free slot at a busy DC; past it
	// the client gets 503 with Retry-After.
	QueueTimeout Duration `toml:"queue_timeout"`
	// DNSServer, when set, is the DNS server asked for the DCs of domains
	// given by dns_name alone (host:port); default the system's resolver.
	// DNSRefresh is how often they are looked up again.
	DNSServer  string   `toml:"dns_server"`
	DNSRefresh Duration `toml:"dns_refresh"`
}

// Domain is one NT domain and where to reach it (Apache::AuthenNTLM's
// ntdomain "name pdc bdc", PyAuthenNTLM2's Domain/PDC/BDC).
type Domain struct {
	// Name is the NetBIOS name, as clients send it in the Type3 (EXAMPLE).
	Name string `toml:"name"`
	// DNSName is the DNS domain (example.test), for name_format = "upn",
	// and to find the DCs in DNS when DCs is empty.
	DNSName string `toml:"dns_name"`
	// DCs in order of preference: the PDC first, then backups. Empty: the
	// DCs DNS names for DNSName (package discover).
	DCs []string `toml:"dcs"`

	// LDAP, for group checks. Empty LDAPURLs means no group lookups.
	LDAPURLs             []string `toml:"ldap_urls"`
	LDAPBaseDN           string   `toml:"ldap_base_dn"`
	LDAPBindUser         string   `toml:"ldap_bind_user"`
	LDAPBindPasswordFile string   `toml:"ldap_bind_password_file"`
	LDAPCAFile           string   `toml:"ldap_ca_file"`
	LDAPStartTLS         bool     `toml:"ldap_start_tls"`

	// Kerberos, inside the Negotiate scheme (package kerberos). Empty
	// KeytabFile: Kerberos tokens are answered with a challenge for NTLM.
	// ServicePrincipals default to HTTP/ each of auth.server_names;
	// MaxClockSkew (0: 5m) is how far a client's clock may be off.
	KeytabFile        string   `toml:"keytab_file"`
	ServicePrincipals []string `toml:"service_principals"`
	MaxClockSkew      Duration `toml:"max_clock_skew"`

	// Basic is how a Basic password for this domain is checked: "ntlm"
	// (the default: relayed to a DC as an NTLM network logon), "kerberos"
	// (an AS exchange with the password and a TGS exchange for our own
	// service principal at the domain's KDCs, the ticket opened with
	// keytab_file: for domains with NTLM switched off), or "auto"
	// (kerberos when keytab_file is set, else ntlm).
	Basic string `toml:"basic"`

	// Delegation (package delegation): the backends' SPNs a delegating
	// location's logins get tickets to from the KDC (S4U2Proxy, and
	// protocol transition for NTLM and Basic), with the keys of
	// keytab_file, which are ServiceAccount's (its sAMAccountName).
	DelegateTo     []string `toml:"delegate_to"`
	ServiceAccount string   `toml:"service_account"`
	// TrustedRealms are the client realms, besides the keytab's own,
	// whose users' tickets (cross-realm, from a trusted domain) this
	// domain's keytab accepts. Default none: a ticket whose client realm
	// is not the keytab's is refused.
	TrustedRealms []string `toml:"trusted_realms"`
}

// Replay is where the Kerberos replay cache is kept (package replay).
type Replay struct {
	// File keeps the replay cache across restarts, in the daemon's state
	// directory (systemd's StateDirectory=goauthenntlm). Empty: in memory
	// only, and a token accepted before a restart is accepted once more
	// after it.
	File string `toml:"file"`
	// RedisURL, when set, keeps the replay cache in Redis instead, shared
	// by every node behind a load balancer (redis://host:port/db,
	// rediss:// for TLS): a token one node accepted is a replay on the
	// others. File is then not used. RedisPasswordFile holds Redis's
	// password (AUTH), if it has one.
	RedisURL          string `toml:"redis_url"`
	RedisPasswordFile string `toml:"redis_password_file"`
}

// Basic checks of a Domain.
const (
	BasicNTLM     = "ntlm"
	BasicKerberos = "kerberos"
	BasicAuto     = "auto"
)

// BasicByKDC reports whether d's Basic passwords are checked by the KDC.
func (d *Domain) BasicByKDC() bool {
	return d.Basic == BasicKerberos || d.Basic == BasicAuto && d.KeytabFile != ""
}

// Groups is the memberships cache shared by the authorizer and
// ntlm-group-check.
type Groups struct {
	CacheDir      string   `toml:"cache_dir"`
	CacheTTL      Duration `toml:"cache_ttl"`
	NegativeTTL   Duration `toml:"negative_ttl"`
	StaleGrace    Duration `toml:"stale_grace"`
	LookupTimeout Duration `toml:"lookup_timeout"`
	// HelperUsers may ask the authorizer, over the socket in CacheDir,
	// what the cache cannot answer: the users Apache runs ntlm-group-check
	// as (names or uids). Root and the authorizer's own user always may.
	HelperUsers []string `toml:"helper_users"`
	// Variable names the Variable- the authorizer exports the groups in,
	// for Apache's Require expr; empty disables it.
	Variable string `toml:"variable"`
}

// Cookie is the login cookie (Apache2::AuthenNTLM::Cookie, done right).
type Cookie struct {
	Enabled bool   `toml:"enabled"`
	Name    string `toml:"name"`
	Path    string `toml:"path"`
	Domain  string `toml:"domain"`
	// Refresh is how long after the DC accepted a login its cookie proves
	// it (the old module's refresh): then the browser logs in again, so a
	// user disabled at the DC loses access within Refresh.
	Refresh Duration `toml:"refresh"`
	// Lifetime is how long the browser keeps the cookie (the old
	// module's expires): 0 means until the browser closes.
	Lifetime Duration `toml:"lifetime"`
	// SecretFiles: the first signs, all verify (for rotation).
	SecretFiles []string `toml:"secret_files"`
	Secure      bool     `toml:"secure"`
	HTTPOnly    bool     `toml:"http_only"`
	SameSite    string   `toml:"same_site"`
	// Generation is in every cookie's MAC: raising it (and reloading)
	// revokes every login cookie issued before, at once.
	Generation uint32 `toml:"generation"`
}

// Delegation is where the credential caches handed to applications as
// KRB5CCNAME live (mod_auth_gssapi's GssapiDelegCcacheDir). Empty
// CCacheDir: no location delegates. A location delegates with Apache's
// DELEGATE=on (SetEnvIf), off by default.
type Delegation struct {
	// CCacheDir is the daemon's directory, group AppGroup, mode 2710.
	CCacheDir string `toml:"ccache_dir"`
	// AppGroup is the application's group (Apache's), which reads the
	// files.
	AppGroup string `toml:"app_group"`
	// MaxCCaches bounds the files; past it logins get none (and a WARN).
	MaxCCaches int `toml:"max_ccaches"`
	// CCacheIdle: a file is removed this long after the last request it
	// was handed to (and when its tickets end, and at start and stop).
	CCacheIdle Duration `toml:"ccache_idle"`
	// KDCTimeout bounds the KDC calls of one login (delegate_to); past it
	// the login goes on without credentials.
	KDCTimeout Duration `toml:"kdc_timeout"`
	// MaxInFlight bounds the logins asking the KDC at once.
	MaxInFlight int `toml:"max_in_flight"`
}

// Enabled reports whether any location may delegate.
func (d *Delegation) Enabled() bool { return d.CCacheDir != "" }

// hasCookiePrefix reports whether name starts with a prefix browsers give
// a meaning (RFC 6265bis 4.1.3): the authorizer adds __Host- itself where
// it can, and a configured one would be doubled.
func hasCookiePrefix(name string) bool {
	l := strings.ToLower(name)
	return strings.HasPrefix(l, "__host-") || strings.HasPrefix(l, "__secure-")
}

// Error is a configuration mistake, with where it is.
type Error struct {
	File string
	Line int // 0 when the key is absent (a missing value) or unknown
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Defaults returns a Config with every default filled in and no domain.
func Defaults() Config {
	return Config{
		Listen:         "127.0.0.1:930",
		LogLevel:       LogLevel(slog.LevelInfo),
		LogFormat:      LogText,
		HealthInterval: Duration(10 * time.Second),
		Auth: Auth{
			Schemes:          []Scheme{SchemeNTLM},
			Realm:            "Intranet",
			NameFormat:       NameSAM,
			HandshakeTimeout: Duration(10 * time.Second),
			KeepAliveTimeout: Duration(5 * time.Second),
			LoginLifetime:    Duration(10 * time.Hour),
			MaxPending:       10000,
			MaxPendingPerIP:  64,
			MaxConnections:   100000,
			BindConnections:  true,
			BindingCookie:    "NTLM_CONN",
			RefusalFloor:     Duration(100 * time.Millisecond),
			BasicCacheTTL:    Duration(time.Minute),
			BasicCacheSize:   10000,
		},
		DC: DC{
			DialTimeout:        Duration(3 * time.Second),
			RequestTimeout:     Duration(10 * time.Second),
			MaxConnsPerDC:      4,
			MaxSessionsPerConn: 500,
			MaxInFlightPerDC:   64,
			DownBackoff:        Duration(30 * time.Second),
			QueueTimeout:       Duration(2 * time.Second),
			DNSRefresh:         Duration(5 * time.Minute),
		},
		Groups: Groups{
			CacheDir:      "/var/cache/goauthenntlm/groups",
			CacheTTL:      Duration(3 * time.Hour),
			NegativeTTL:   Duration(time.Minute),
			LookupTimeout: Duration(5 * time.Second),
			HelperUsers:   []string{"www-data"},
			Variable:      "AD_GROUPS",
		},
		Replay: Replay{File: "/var/lib/goauthenntlm/replay"},
		Delegation: Delegation{
			AppGroup:    "www-data",
			MaxCCaches:  10000,
			CCacheIdle:  Duration(5 * time.Minute),
			KDCTimeout:  Duration(3 * time.Second),
			MaxInFlight: 16,
		},
		Cookie: Cookie{
			Name:     "NTLM_AUTHEN",
			Path:     "/",
			Refresh:  Duration(4 * time.Hour),
			HTTPOnly: true,
			SameSite: "Lax",
		},
	}
}

// Load reads, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for data already read; path is used in messages and to
// resolve relative file names.
func Parse(path string, data []byte) (*Config, error) {
	c := Defaults()
	c.Auth.Schemes = nil
	c.path = path
	c.data = data
	var errs []error
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		// Again key by key, to report every mistake in one go.
		c = Defaults()
		c.Auth.Schemes = nil
		c.path, c.data = path, data
		errs = decodeEach(path, data, &c)
	} else {
		for _, k := range md.Undecoded() {
			errs = append(errs, &Error{File: path, Line: lineOf(data, k), Msg: fmt.Sprintf("unknown key %q", k.String())})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !md.IsDefined("auth", "schemes") {
		c.Auth.Schemes = []Scheme{SchemeNTLM}
	}
	base := filepath.Dir(path)
	c.CallerSecretFile = resolve(base, c.CallerSecretFile)
	for i := range c.Domains {
		c.Domains[i].LDAPBindPasswordFile = resolve(base, c.Domains[i].LDAPBindPasswordFile)
		c.Domains[i].LDAPCAFile = resolve(base, c.Domains[i].LDAPCAFile)
		c.Domains[i].KeytabFile = resolve(base, c.Domains[i].KeytabFile)
	}
	for i := range c.Cookie.SecretFiles {
		c.Cookie.SecretFiles[i] = resolve(base, c.Cookie.SecretFiles[i])
	}
	c.Groups.CacheDir = resolve(base, c.Groups.CacheDir)
	c.Replay.File = resolve(base, c.Replay.File)
	c.Delegation.CCacheDir = resolve(base, c.Delegation.CCacheDir)
	c.Replay.RedisPasswordFile = resolve(base, c.Replay.RedisPasswordFile)
	if err := c.validate(data); err != nil {
		return nil, err
	}
	return &c, nil
}

func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// ListenIsLoopback reports whether Listen names a loopback address (or
// localhost). Not an error otherwise, since a separate Apache host is a
// real deployment; but the authorizer trusts its caller, so the daemon
// says so at start.
func (c *Config) ListenIsLoopback() bool { return isLoopback(c.Listen) }

// MetricsIsLoopback is ListenIsLoopback for metrics_listen.
func (c *Config) MetricsIsLoopback() bool { return isLoopback(c.MetricsListen) }

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// Problem is an *Error about the value of key (a top-level key, or table
// then key, as "groups", "cache_dir"), pointing at its line.
func (c *Config) Problem(key []string, format string, args ...any) *Error {
	return &Error{File: c.path, Line: lineOf(c.data, toml.Key(key)), Msg: fmt.Sprintf(format, args...)}
}

// DomainProblem is Problem for key in the i-th [[domain]].
func (c *Config) DomainProblem(i int, key string, format string, args ...any) *Error {
	return &Error{File: c.path, Line: domainKeyLine(c.data, i, key), Msg: fmt.Sprintf(format, args...)}
}

// CallerSecret reads caller_secret_file: "" when none is configured.
func (c *Config) CallerSecret() (string, error) {
	if c.CallerSecretFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.CallerSecretFile)
	if err != nil {
		return "", fmt.Errorf("caller secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 16 {
		return "", fmt.Errorf("caller secret in %s: at least 16 characters, please", c.CallerSecretFile)
	}
	return s, nil
}

// Path is the file the configuration was read from.
func (c *Config) Path() string { return c.path }

// Domain returns the configured domain named name (case-insensitive).
func (c *Config) Domain(name string) (*Domain, bool) {
	for i := range c.Domains {
		if strings.EqualFold(c.Domains[i].Name, name) {
			return &c.Domains[i], true
		}
	}
	return nil, false
}

// Principals are the service principals d accepts Kerberos tickets for,
// without realm: service_principals, else HTTP/ each of auth.server_names.
// Never a name from a request's Host header.
func (c *Config) Principals(d *Domain) []string {
	if len(d.ServicePrincipals) > 0 {
		return d.ServicePrincipals
	}
	p := make([]string, 0, len(c.Auth.ServerNames))
	for _, n := range c.Auth.ServerNames {
		p = append(p, "HTTP/"+n)
	}
	return p
}

// ClockSkew is d's max_clock_skew, 5m when not set.
func (d *Domain) ClockSkew() time.Duration {
	if d.MaxClockSkew == 0 {
		return 5 * time.Minute
	}
	return d.MaxClockSkew.D()
}

// Discovers reports whether d's DCs come from DNS: it names no dcs, only
// its dns_name (see package discover).
func (d *Domain) Discovers() bool { return len(d.DCs) == 0 && d.DNSName != "" }

// Offers reports whether scheme s is configured.
func (a *Auth) Offers(s Scheme) bool {
	for _, x := range a.Schemes {
		if x == s {
			return true
		}
	}
	return false
}

func (c *Config) validate(data []byte) error {
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, &Error{File: c.path, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	at := func(keys ...string) int { return lineOf(data, toml.Key(keys)) }

	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad(at("listen"), "listen: %q is not host:port: %v", c.Listen, err)
	}
	if c.DC.DNSServer != "" {
		if _, _, err := net.SplitHostPort(c.DC.DNSServer); err != nil {
			bad(at("dc", "dns_server"), "dc.dns_server: %q is not host:port: %v", c.DC.DNSServer, err)
		}
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			bad(at("metrics_listen"), "metrics_listen: %q is not host:port: %v", c.MetricsListen, err)
		}
	}
	if c.HealthInterval <= 0 {
		bad(at("health_interval"), "health_interval must be positive")
	}
	if d := &c.Delegation; d.Enabled() {
		if d.AppGroup == "" {
			bad(at("delegation", "app_group"), "delegation.app_group: the application's group (Apache's, e.g. www-data) is needed")
		}
		if d.MaxCCaches <= 0 {
			bad(at("delegation", "max_ccaches"), "delegation.max_ccaches must be positive")
		}
		if d.CCacheIdle <= 0 {
			bad(at("delegation", "ccache_idle"), "delegation.ccache_idle must be positive")
		}
		if d.KDCTimeout <= 0 || d.MaxInFlight <= 0 {
			bad(at("delegation", "kdc_timeout"), "delegation.kdc_timeout and max_in_flight must be positive")
		}
	}
	for i := range c.Domains {
		d := &c.Domains[i]
		if len(d.DelegateTo) == 0 {
			continue
		}
		switch {
		case !c.Delegation.Enabled():
			bad(domainKeyLine(data, i, "delegate_to"), "domain %s: delegate_to needs [delegation] ccache_dir, where the tickets go", d.Name)
		case d.KeytabFile == "" || d.ServiceAccount == "" || d.DNSName == "":
			bad(domainKeyLine(data, i, "delegate_to"), "domain %s: delegate_to needs keytab_file, service_account (the sAMAccountName whose keys it holds) and dns_name", d.Name)
		}
		for _, s := range d.DelegateTo {
			if !strings.Contains(s, "/") || strings.Contains(s, "@") {
				bad(domainKeyLine(data, i, "delegate_to"), "domain %s: delegate_to %q: a service principal without realm, as ldap/dc1.example.com", d.Name, s)
			}
		}
	}
	if c.NTLMDebug < 0 || c.NTLMDebug > 2 {
		bad(at("ntlm_debug"), "ntlm_debug must be 0, 1 or 2, not %d", c.NTLMDebug)
	}
	if len(c.Auth.Schemes) == 0 {
		bad(at("auth", "schemes"), "auth.schemes: offer at least one of ntlm, negotiate, basic")
	}
	for i, s := range c.Auth.Schemes {
		if slices.Contains(c.Auth.Schemes[:i], s) {
			// Each scheme has one header field of the answer (see
			// apache/goauthenntlm.conf): a repeat has none left.
			bad(at("auth", "schemes"), "auth.schemes: %s is listed twice", s)
			break
		}
	}
	for i, n := range c.Auth.ServerNames {
		switch {
		case n == "" || strings.ContainsAny(n, "/:@\\ \t") || strings.Trim(n, ".") != n:
			bad(at("auth", "server_names"), "auth.server_names: %q is not a host name (write it as clients type it in the URL, without scheme or port)", n)
		case strings.ToLower(n) != n:
			bad(at("auth", "server_names"), "auth.server_names: write %q in lower case", n)
		case slices.Contains(c.Auth.ServerNames[:i], n):
			bad(at("auth", "server_names"), "auth.server_names: %q is listed twice", n)
		}
	}
	if c.Auth.HandshakeTimeout <= 0 {
		bad(at("auth", "handshake_timeout"), "auth.handshake_timeout must be positive")
	}
	if c.Auth.LoginLifetime <= 0 {
		bad(at("auth", "login_lifetime"), "auth.login_lifetime must be positive")
	}
	if c.Auth.KeepAliveTimeout <= 0 {
		bad(at("auth", "keepalive_timeout"), "auth.keepalive_timeout must be positive (set it to Apache's KeepAliveTimeout)")
	}
	for _, kv := range []struct {
		key string
		v   int
	}{{"max_pending", c.Auth.MaxPending}, {"max_pending_per_ip", c.Auth.MaxPendingPerIP}, {"max_connections", c.Auth.MaxConnections}} {
		if kv.v <= 0 {
			bad(at("auth", kv.key), "auth.%s must be positive", kv.key)
		}
	}
	for _, kv := range []struct {
		key string
		v   int
	}{{"max_conns_per_dc", c.DC.MaxConnsPerDC}, {"max_sessions_per_conn", c.DC.MaxSessionsPerConn}, {"max_in_flight_per_dc", c.DC.MaxInFlightPerDC}} {
		if kv.v <= 0 {
			bad(at("dc", kv.key), "dc.%s must be positive", kv.key)
		}
	}
	for _, kv := range []struct {
		key string
		v   Duration
	}{{"dial_timeout", c.DC.DialTimeout}, {"request_timeout", c.DC.RequestTimeout}, {"down_backoff", c.DC.DownBackoff}, {"queue_timeout", c.DC.QueueTimeout}, {"dns_refresh", c.DC.DNSRefresh}} {
		if kv.v <= 0 {
			bad(at("dc", kv.key), "dc.%s must be positive", kv.key)
		}
	}

	if len(c.Domains) == 0 {
		bad(0, "no [[domain]]: name at least one domain and its domain controllers")
	}
	seen := map[string]bool{}
	for i, d := range c.Domains {
		line := headerLine(data, "domain", i)
		switch {
		case d.Name == "":
			bad(line, "domain #%d: name (the NetBIOS domain name) is required", i+1)
		case strings.ContainsAny(d.Name, `\/@ `) || len(d.Name) > 64:
			bad(line, "domain %q: name must be the NetBIOS name, like EXAMPLE", d.Name)
		case seen[strings.ToUpper(d.Name)]:
			bad(line, "domain %q is configured twice", d.Name)
		}
		seen[strings.ToUpper(d.Name)] = true
		if len(d.DCs) == 0 && d.DNSName == "" {
			bad(line, "domain %q: dcs needs at least one domain controller, or dns_name to find them in DNS", d.Name)
		}
		for _, a := range d.DCs {
			if a == "" || strings.Contains(a, "/") {
				bad(line, "domain %q: dc %q must be a host or host:port", d.Name, a)
			}
		}
		if len(d.LDAPURLs) > 0 || (d.Discovers() && d.LDAPBindUser != "") {
			for _, u := range d.LDAPURLs {
				if !strings.HasPrefix(u, "ldaps://") && !(strings.HasPrefix(u, "ldap://") && d.LDAPStartTLS) {
					bad(line, "domain %q: ldap url %q must be ldaps://, or ldap:// with ldap_start_tls = true (the DC refuses binds in the clear)", d.Name, u)
				}
			}
			if d.LDAPBaseDN == "" {
				bad(line, "domain %q: ldap_base_dn is required with ldap_urls", d.Name)
			}
			if d.LDAPBindUser == "" || d.LDAPBindPasswordFile == "" {
				bad(line, "domain %q: ldap_bind_user and ldap_bind_password_file are required with ldap_urls", d.Name)
			}
		}
	}
	for i := range c.Domains {
		c.validateKerberos(data, i, bad)
	}
	if c.Auth.NameFormat == NameSAM && len(c.Domains) > 1 {
		// A bare user name cannot say which domain it is from: OTHER\jdoe
		// and EXAMPLE\jdoe, two accounts, would both be REMOTE_USER "jdoe",
		// pass each other's Require user, and ntlm-group-check would
		// answer for the default domain's jdoe.
		bad(at("auth", "name_format"), "auth.name_format = \"sam\" (the default) cannot tell the users of %d domains apart: set name_format = \"logon\" (DOMAIN\\user) or \"upn\" (user@dns.domain)", len(c.Domains))
	}
	if c.Auth.NameFormat == NameUPN {
		for _, d := range c.Domains {
			if d.DNSName == "" {
				bad(headerLine(data, "domain", 0), "domain %q: dns_name is required with name_format = \"upn\"", d.Name)
			}
		}
	}
	for _, kv := range []struct{ key, v string }{{"default_domain", c.Auth.DefaultDomain}, {"fallback_domain", c.Auth.FallbackDomain}} {
		if kv.v != "" {
			if _, ok := c.Domain(kv.v); !ok {
				bad(at("auth", kv.key), "auth.%s %q is not a configured [[domain]]", kv.key, kv.v)
			}
		}
	}
	if d, ok := c.Domain(c.Auth.FallbackDomain); ok && len(d.LDAPURLs) == 0 && !(d.Discovers() && d.LDAPBindUser != "") {
		// Its DCs check an unknown domain name as their own account but
		// pass a trusted domain's name on; only its directory's trust
		// list tells the two apart.
		bad(at("auth", "fallback_domain"), "auth.fallback_domain %q needs that domain's LDAP settings (ldap_urls, ...): its trust list tells its own accounts from trusted domains' ones", d.Name)
	}
	if (c.Auth.BindConnections || c.Cookie.Enabled) && !validVarName(strings.ReplaceAll(c.Auth.BindingCookie, "-", "_")) {
		bad(at("auth", "binding_cookie"), "auth.binding_cookie %q: use letters, digits, - and _ only", c.Auth.BindingCookie)
	}
	if hasCookiePrefix(c.Auth.BindingCookie) {
		bad(at("auth", "binding_cookie"), "auth.binding_cookie %q: leave out the prefix; __Host- is added on HTTPS", c.Auth.BindingCookie)
	}
	if c.Auth.BasicCacheTTL < 0 || c.Auth.BasicCacheTTL.D() > time.Hour || c.Auth.BasicCacheSize < 0 {
		bad(at("auth", "basic_cache_ttl"), "auth.basic_cache_ttl must be between 0s and 1h, basic_cache_size not negative")
	}
	if c.Auth.RefusalFloor < 0 || c.Auth.RefusalFloor.D() > 10*time.Second {
		bad(at("auth", "refusal_floor"), "auth.refusal_floor must be between 0s and 10s")
	}
	if c.Groups.CacheTTL <= 0 || c.Groups.NegativeTTL <= 0 || c.Groups.LookupTimeout <= 0 || c.Groups.StaleGrace < 0 {
		bad(at("groups"), "groups: cache_ttl, negative_ttl and lookup_timeout must be positive, stale_grace not negative")
	}
	if c.Groups.Variable != "" && !validVarName(c.Groups.Variable) {
		bad(at("groups", "variable"), "groups.variable %q: use letters, digits and _ only", c.Groups.Variable)
	}
	if c.Cookie.Enabled {
		if len(c.Cookie.SecretFiles) == 0 {
			bad(at("cookie"), "cookie: secret_files is required when the cookie is enabled")
		}
		if !validVarName(strings.ReplaceAll(c.Cookie.Name, "-", "_")) {
			bad(at("cookie", "name"), "cookie.name %q: use letters, digits, - and _ only", c.Cookie.Name)
		}
		if hasCookiePrefix(c.Cookie.Name) {
			bad(at("cookie", "name"), "cookie.name %q: leave out the prefix; __Host- is added on HTTPS", c.Cookie.Name)
		}
		if c.Cookie.Refresh <= 0 || c.Cookie.Lifetime < 0 {
			bad(at("cookie"), "cookie: refresh must be positive, lifetime not negative")
		}
		if strings.EqualFold(c.Cookie.SameSite, "none") && !c.Cookie.Secure {
			bad(at("cookie", "same_site"), "cookie.same_site = \"None\" needs secure = true (browsers drop it otherwise)")
		}
		switch strings.ToLower(c.Cookie.SameSite) {
		case "lax", "strict", "none", "":
		default:
			bad(at("cookie", "same_site"), "cookie.same_site must be Lax, Strict or None")
		}
	}
	return errors.Join(errs...)
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// validateKerberos checks the i-th domain's Kerberos settings.
func (c *Config) validateKerberos(data []byte, i int, bad func(int, string, ...any)) {
	d := &c.Domains[i]
	switch d.Basic {
	case "":
		d.Basic = BasicNTLM
	case BasicNTLM, BasicAuto:
	case BasicKerberos:
		if d.KeytabFile == "" {
			bad(domainKeyLine(data, i, "basic"), "domain %q: basic = \"kerberos\" needs keytab_file: the service ticket the password gets is opened with it, which proves the KDC real", d.Name)
		}
	default:
		bad(domainKeyLine(data, i, "basic"), "domain %q: basic = %q: use \"ntlm\", \"kerberos\" or \"auto\"", d.Name, d.Basic)
	}
	switch {
	case d.MaxClockSkew < 0:
		bad(domainKeyLine(data, i, "max_clock_skew"), "domain %q: max_clock_skew must not be negative", d.Name)
	case d.MaxClockSkew.D() > time.Hour:
		// A token is remembered until its time plus the skew, up to twice
		// the skew from now; the replay file, read at start, drops entries
		// further than 24h off as torn, so a larger skew let tokens
		// accepted before a restart pass again after it. An hour is far
		// past any clock a Kerberos deployment keeps (AD's default: 5m).
		bad(domainKeyLine(data, i, "max_clock_skew"), "domain %q: max_clock_skew must be at most 1h (AD's default is 5m): a wider window is a wider replay window", d.Name)
	}
	if d.KeytabFile == "" {
		if len(d.ServicePrincipals) > 0 {
			bad(domainKeyLine(data, i, "service_principals"), "domain %q: service_principals needs keytab_file", d.Name)
		}
		if len(d.TrustedRealms) > 0 {
			bad(domainKeyLine(data, i, "trusted_realms"), "domain %q: trusted_realms needs keytab_file", d.Name)
		}
		return
	}
	for _, r := range d.TrustedRealms {
		// A trusted realm's users get a name in a served domain: without
		// one the login could not be named.
		if !slices.ContainsFunc(c.Domains, func(o Domain) bool { return strings.EqualFold(o.DNSName, r) }) {
			bad(domainKeyLine(data, i, "trusted_realms"), "domain %q: trusted realm %q is no [[domain]]'s dns_name: add a [[domain]] for it", d.Name, r)
		}
	}
	line := domainKeyLine(data, i, "keytab_file")
	if d.DNSName == "" {
		bad(line, "domain %q: keytab_file needs dns_name (the Kerberos realm is its upper case)", d.Name)
	}
	if len(c.Principals(d)) == 0 {
		bad(line, "domain %q: keytab_file needs service_principals, or auth.server_names to default them to HTTP/<name>", d.Name)
	}
	for _, p := range d.ServicePrincipals {
		svc, host, ok := strings.Cut(p, "/")
		if !ok || svc == "" || host == "" || strings.ContainsAny(p, "@ \t") || strings.Count(p, "/") != 1 {
			bad(domainKeyLine(data, i, "service_principals"), "domain %q: service principal %q: write it as HTTP/host.name, without @REALM", d.Name, p)
		}
	}
}
