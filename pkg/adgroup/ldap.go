package adgroup

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/goauthenntlm/goauthenntlm/internal/failover"
	"github.com/goauthenntlm/goauthenntlm/internal/flight"
)

// LDAPConfig says how to reach the directory. The zero values of Timeout
// and MaxConns mean their defaults.
type LDAPConfig struct {
	URLs         []string       // ldaps://host[:port] or ldap://host[:port] (needs StartTLS), in failover order
	BaseDN       string         // e.g. DC=example,DC=test
	BindUser     string         // e.g. svc-ntlm@EXAMPLE.TEST or a DN
	BindPassword string         // read from a file by the caller; never logged
	RootCAs      *x509.CertPool // nil = system roots; TLS verification is always on
	StartTLS     bool           // required for ldap:// URLs: a password is never sent in clear
	Timeout      time.Duration  // per LDAP operation, dial and TLS handshake included; default 5s
	MaxConns     int            // pooled connections; default 2
}

// Defaults for LDAPConfig's zero values.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultMaxConns = 2
)

// LogValue keeps the password out of structured logs even when a caller
// logs the whole config.
func (c LDAPConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("urls", c.URLs),
		slog.String("base_dn", c.BaseDN),
		slog.String("bind_user", c.BindUser),
		slog.String("bind_password", redacted(c.BindPassword)),
		slog.Bool("start_tls", c.StartTLS),
		slog.Duration("timeout", c.Timeout),
		slog.Int("max_conns", c.MaxConns),
	)
}

// String and GoString keep the password out of fmt output (%v, %+v, %#v).
func (c LDAPConfig) String() string {
	return fmt.Sprintf("{URLs:%v BaseDN:%q BindUser:%q BindPassword:%s StartTLS:%t Timeout:%v MaxConns:%d}",
		c.URLs, c.BaseDN, c.BindUser, redacted(c.BindPassword), c.StartTLS, c.Timeout, c.MaxConns)
}

// GoString: see String.
func (c LDAPConfig) GoString() string { return "adgroup.LDAPConfig" + c.String() }

func redacted(s string) string {
	if s == "" {
		return "(empty)"
	}
	return "(redacted)"
}

// ErrNoSuchUser is returned (wrapped) by Resolver.Groups when no user
// object has the given sAMAccountName.
var ErrNoSuchUser = errors.New("no such user")

// ErrClosed is returned by a Resolver after Close.
var ErrClosed = errors.New("resolver closed")

const (
	// downFor is how long a server that failed to connect is tried only
	// after the others, so a dead first DC does not cost a timeout per
	// request.
	downFor = 30 * time.Second
	// maxIdle: discard pooled connections idle for longer, before the
	// server's own idle timeout (Samba and AD default to 15 minutes) makes
	// the first request on them fail.
	maxIdle = 5 * time.Minute
	// sidsPerSearch bounds the OR filter that resolves tokenGroups SIDs,
	// well below server filter and size limits (AD: 1000 entries a page).
	sidsPerSearch = 200
	// pageSize for the in-chain fallback search, which can be large.
	pageSize = 500
	// matchingRuleInChain is LDAP_MATCHING_RULE_IN_CHAIN: transitive
	// membership evaluated by the server.
	matchingRuleInChain = "1.2.840.113556.1.4.1941"
)

// Resolver finds a user's groups in AD. It is safe for concurrent use and
// keeps a small pool of bound connections.
type Resolver struct {
	cfg     LDAPConfig
	servers []*server
	log     *slog.Logger

	sem chan struct{} // one token per connection in use or being dialed

	mu      sync.Mutex
	idle    []*pconn
	flights flight.Group[[]Group] // by lower-case user: queries in progress
	closed  bool

	dials atomic.Int64 // connection attempts, for tests
}

type server struct {
	url      string // as configured, for messages
	hostport string
	host     string // TLS ServerName
	ldaps    bool
	health   *failover.Mark
}

type pconn struct {
	srv      *server
	raw      net.Conn // the TCP connection under any TLS, to abort blocked I/O
	l        *ldap.Conn
	lastUsed time.Time
}

// NewResolver checks cfg and returns a Resolver. It does not connect:
// the first Groups call does, so a daemon can start while the DCs are down.
// log may be nil (logs are discarded).
func NewResolver(cfg LDAPConfig, log *slog.Logger) (*Resolver, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if len(cfg.URLs) == 0 {
		return nil, errors.New("ldap: no server URLs configured")
	}
	if strings.TrimSpace(cfg.BaseDN) == "" {
		return nil, errors.New("ldap: no base DN configured")
	}
	if _, err := ldap.ParseDN(cfg.BaseDN); err != nil {
		return nil, fmt.Errorf("ldap: base DN %q: %w", cfg.BaseDN, err)
	}
	// An empty password would make a "successful" unauthenticated bind on
	// some servers and then fail every search; refuse it up front.
	if cfg.BindUser == "" || cfg.BindPassword == "" {
		return nil, errors.New("ldap: bind user and password are required")
	}
	r := &Resolver{
		cfg: cfg,
		log: log,
		sem: make(chan struct{}, cfg.MaxConns),
	}
	for _, s := range cfg.URLs {
		srv, err := parseServerURL(s, cfg.StartTLS)
		if err != nil {
			return nil, err
		}
		r.servers = append(r.servers, &srv)
	}
	return r, nil
}

func parseServerURL(s string, startTLS bool) (server, error) {
	u, err := url.Parse(s)
	if err != nil {
		return server{}, fmt.Errorf("ldap: server URL %q: %w", s, err)
	}
	if u.User != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return server{}, fmt.Errorf("ldap: server URL %q: want ldaps://host[:port] or ldap://host[:port]", s)
	}
	srv := server{url: s, host: u.Hostname(), health: new(failover.Mark)}
	port := u.Port()
	switch strings.ToLower(u.Scheme) {
	case "ldaps":
		srv.ldaps = true
		if port == "" {
			port = "636"
		}
	case "ldap":
		if !startTLS {
			return server{}, fmt.Errorf("ldap: server URL %q: ldap:// needs StartTLS (the bind password is never sent in clear)", s)
		}
		if port == "" {
			port = "389"
		}
	default:
		return server{}, fmt.Errorf("ldap: server URL %q: scheme must be ldaps or ldap", s)
	}
	srv.hostport = net.JoinHostPort(srv.host, port)
	return srv, nil
}

// Close closes pooled connections. Calls in flight finish on their own
// connections, which are then closed instead of pooled.
func (r *Resolver) Close() error {
	r.mu.Lock()
	r.closed = true
	idle := r.idle
	r.idle = nil
	r.mu.Unlock()
	for _, pc := range idle {
		pc.close()
	}
	return nil
}

// Groups returns every group user is a member of: direct, nested, and the
// primary group (usually Domain Users). user is a sAMAccountName. A missing
// user gives an error wrapping ErrNoSuchUser. Groups are sorted by SAM.
//
// How: find the user (DN, objectSid, primaryGroupID); read its tokenGroups
// (a constructed attribute the DC computes: the SIDs of all groups in the
// user's security token, nested and primary included, in one read); then
// resolve those SIDs to group entries in one OR-filter search per 200
// SIDs. If tokenGroups cannot be read, fall back to a search with the
// in-chain matching rule plus the group whose objectSid is the domain SID
// followed by primaryGroupID. Note that tokenGroups only holds security
// groups; distribution groups never grant access anyway.
func (r *Resolver) Groups(ctx context.Context, user string) ([]Group, error) {
	if !plausibleUser(user) {
		return nil, fmt.Errorf("ldap: search groups of %q: %w", user, ErrNoSuchUser)
	}
	// Concurrent requests for one user (a browser opening several
	// connections at once) share one directory query. The query runs
	// detached from the first caller's cancellation, still bounded by
	// Timeout per operation; each caller waits only as long as its ctx.
	groups, err := r.flights.Do(ctx, strings.ToLower(user), func(ctx context.Context) ([]Group, error) {
		return r.groupsNow(ctx, user)
	})
	if ctx.Err() != nil && errors.Is(err, context.Cause(ctx)) {
		// This caller gave up waiting (the query's own errors say what
		// was being done already).
		return nil, fmt.Errorf("ldap: search groups of %q: %w", user, err)
	}
	// Each caller gets its own slice: callers may modify theirs.
	return append([]Group(nil), groups...), err
}

func (r *Resolver) groupsNow(ctx context.Context, user string) ([]Group, error) {
	var groups []Group
	err := r.withConn(ctx, func(pc *pconn) error {
		var err error
		groups, err = r.groups(ctx, pc, user)
		if err != nil {
			return fmt.Errorf("ldap %s: search groups of %q: %w", pc.srv.url, user, err)
		}
		return nil
	})
	return groups, err
}

func (r *Resolver) groups(ctx context.Context, pc *pconn, user string) ([]Group, error) {
	res, err := r.search(ctx, pc, userSearch(r.cfg.BaseDN, user), false)
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return nil, errors.New("more than one user has this sAMAccountName")
		}
		return nil, fmt.Errorf("find user: %w", err)
	}
	if len(res.Entries) == 0 {
		return nil, ErrNoSuchUser
	}
	if len(res.Entries) > 1 {
		return nil, errors.New("more than one user has this sAMAccountName")
	}
	u := res.Entries[0]
	if u.DN == "" {
		return nil, errors.New("find user: entry without DN")
	}

	// The primary group never appears in member/memberOf, so derive it
	// from the user's own SID: same domain, RID = primaryGroupID.
	var primary sid
	if userSID, err := parseSID(u.GetRawAttributeValue("objectSid")); err != nil {
		r.log.Debug("ldap: user has no valid objectSid; primary group taken from tokenGroups only", "user", user, "dn", u.DN)
	} else if pgid, ok := parseRID(u.GetAttributeValue("primaryGroupID")); !ok {
		r.log.Debug("ldap: user has no valid primaryGroupID", "user", user, "dn", u.DN)
	} else if dom, ok := userSID.domain(); ok {
		primary, _ = dom.withRID(pgid)
	}

	sids, err := r.tokenGroups(ctx, pc, u.DN)
	if err != nil {
		if isBroken(pc, err) {
			return nil, err
		}
		r.log.Debug("ldap: tokenGroups unreadable; using the in-chain rule", "user", user, "err", err)
	}
	if len(sids) == 0 {
		// tokenGroups always holds at least the primary group when it
		// works, so empty means unsupported or not permitted.
		return r.inChainGroups(ctx, pc, u.DN, primary)
	}
	if primary != "" {
		sids = append(sids, primary)
	}
	return r.resolveSIDs(ctx, pc, sids)
}

// plausibleUser rejects names no AD account can have before they reach
// the server: empty, absurdly long, or with control characters. Samba
// stops comparing at a NUL, so "jdoe\x00" would otherwise find jdoe.
func plausibleUser(user string) bool {
	if user == "" || len(user) > 256 {
		return false
	}
	for _, c := range []byte(user) {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// userSearch finds a user by sAMAccountName. user is escaped: it comes
// from the client's NTLM message and must never change the filter.
func userSearch(baseDN, user string) *ldap.SearchRequest {
	return &ldap.SearchRequest{
		BaseDN: baseDN,
		Scope:  ldap.ScopeWholeSubtree,
		// objectClass=user also matches computer accounts (their names end
		// in $), which is right: they authenticate over NTLM too.
		Filter:     "(&(objectClass=user)(sAMAccountName=" + ldap.EscapeFilter(user) + "))",
		Attributes: []string{"objectSid", "primaryGroupID"},
		SizeLimit:  2,
	}
}

func parseRID(s string) (uint32, bool) {
	var v uint64
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 1<<32-1 {
		return 0, false
	}
	return uint32(v), true
}

func (r *Resolver) tokenGroups(ctx context.Context, pc *pconn, userDN string) ([]sid, error) {
	// tokenGroups is constructed: the DC only computes it on a base search.
	res, err := r.search(ctx, pc, &ldap.SearchRequest{
		BaseDN:     userDN,
		Scope:      ldap.ScopeBaseObject,
		Filter:     "(objectClass=*)",
		Attributes: []string{"tokenGroups"},
	}, false)
	if err != nil {
		return nil, err
	}
	if len(res.Entries) != 1 {
		return nil, nil
	}
	var sids []sid
	for _, raw := range res.Entries[0].GetRawAttributeValues("tokenGroups") {
		s, err := parseSID(raw)
		if err != nil {
			r.log.Debug("ldap: skipping malformed SID in tokenGroups", "dn", userDN, "len", len(raw))
			continue
		}
		sids = append(sids, s)
	}
	return sids, nil
}

// resolveSIDs turns group SIDs into groups. SIDs with no group under the
// base DN (well-known SIDs, other domains) are left out.
func (r *Resolver) resolveSIDs(ctx context.Context, pc *pconn, sids []sid) ([]Group, error) {
	entries, err := r.searchSIDs(ctx, pc, sids, "sAMAccountName", "cn")
	if err != nil {
		return nil, err
	}
	return r.toGroups(entries), nil
}

// searchSIDs finds the group entries of sids, in searches of at most
// sidsPerSearch SIDs each.
func (r *Resolver) searchSIDs(ctx context.Context, pc *pconn, sids []sid, attrs ...string) ([]*ldap.Entry, error) {
	seen := make(map[sid]bool, len(sids))
	uniq := sids[:0:0]
	for _, s := range sids {
		if !seen[s] {
			seen[s] = true
			uniq = append(uniq, s)
		}
	}
	var entries []*ldap.Entry
	for start := 0; start < len(uniq); start += sidsPerSearch {
		chunk := uniq[start:min(start+sidsPerSearch, len(uniq))]
		var f strings.Builder
		f.WriteString("(&(objectClass=group)(|")
		for _, s := range chunk {
			f.WriteString("(objectSid=")
			f.WriteString(s.filterValue())
			f.WriteString(")")
		}
		f.WriteString("))")
		res, err := r.search(ctx, pc, &ldap.SearchRequest{
			BaseDN:     r.cfg.BaseDN,
			Scope:      ldap.ScopeWholeSubtree,
			Filter:     f.String(),
			Attributes: attrs,
		}, false)
		if err != nil {
			return nil, fmt.Errorf("resolve group SIDs: %w", err)
		}
		entries = append(entries, res.Entries...)
	}
	return entries, nil
}

// GroupsBySID resolves group SIDs in their S-1-5-21-... form (a Kerberos
// PAC's) to the groups of this directory, keyed by the SID as given.
// SIDs that are no group here, or do not parse, are left out.
func (r *Resolver) GroupsBySID(ctx context.Context, sids []string) (map[string]Group, error) {
	bin := make([]sid, 0, len(sids))
	byBin := make(map[sid]string, len(sids))
	for _, s := range sids {
		if b, err := parseSIDString(s); err == nil {
			bin = append(bin, b)
			byBin[b] = s
		}
	}
	out := make(map[string]Group, len(bin))
	if len(bin) == 0 {
		return out, nil
	}
	err := r.withConn(ctx, func(pc *pconn) error {
		entries, err := r.searchSIDs(ctx, pc, bin, "sAMAccountName", "cn", "objectSid")
		if err != nil {
			return err
		}
		for _, e := range entries {
			b, err := parseSID(e.GetRawAttributeValue("objectSid"))
			if err != nil || byBin[b] == "" {
				continue
			}
			if gs := r.toGroups([]*ldap.Entry{e}); len(gs) == 1 {
				out[byBin[b]] = gs[0]
			}
		}
		return nil
	})
	return out, err
}

// inChainGroups is the fallback when tokenGroups is not available: the
// server evaluates nested membership with the in-chain matching rule, and
// the primary group is fetched by SID.
func (r *Resolver) inChainGroups(ctx context.Context, pc *pconn, userDN string, primary sid) ([]Group, error) {
	filter := "(&(objectClass=group)(member:" + matchingRuleInChain + ":=" + ldap.EscapeFilter(userDN) + "))"
	if primary != "" {
		filter = "(&(objectClass=group)(|(member:" + matchingRuleInChain + ":=" + ldap.EscapeFilter(userDN) + ")(objectSid=" + primary.filterValue() + ")))"
	}
	res, err := r.search(ctx, pc, &ldap.SearchRequest{
		BaseDN:     r.cfg.BaseDN,
		Scope:      ldap.ScopeWholeSubtree,
		Filter:     filter,
		Attributes: []string{"sAMAccountName", "cn"},
	}, true)
	if err != nil {
		return nil, fmt.Errorf("in-chain group search: %w", err)
	}
	// Groups nested inside the primary group are not found by either
	// filter; that nesting is unusual and Windows' own token has it only
	// through tokenGroups, which is why tokenGroups is preferred.
	return r.toGroups(res.Entries), nil
}

func (r *Resolver) toGroups(entries []*ldap.Entry) []Group {
	seen := make(map[string]bool, len(entries))
	groups := make([]Group, 0, len(entries))
	for _, e := range entries {
		g := Group{DN: e.DN, SAM: e.GetAttributeValue("sAMAccountName"), CN: e.GetAttributeValue("cn")}
		if g.DN == "" || g.SAM == "" {
			r.log.Debug("ldap: skipping group entry without DN or sAMAccountName", "dn", g.DN)
			continue
		}
		if g.CN == "" {
			g.CN = firstRDNValue(g.DN)
		}
		key := strings.ToLower(g.DN)
		if seen[key] {
			continue
		}
		seen[key] = true
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool {
		if a, b := strings.ToLower(groups[i].SAM), strings.ToLower(groups[j].SAM); a != b {
			return a < b
		}
		return groups[i].DN < groups[j].DN
	})
	return groups
}

func firstRDNValue(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 || len(d.RDNs[0].Attributes) == 0 {
		return ""
	}
	return d.RDNs[0].Attributes[0].Value
}

// search runs one request bounded by ctx and the configured Timeout.
func (r *Resolver) search(ctx context.Context, pc *pconn, req *ldap.SearchRequest, paged bool) (*ldap.SearchResult, error) {
	var res *ldap.SearchResult
	err := r.bounded(ctx, pc, func() error {
		var err error
		if paged {
			res, err = pc.l.SearchWithPaging(req, pageSize)
		} else {
			res, err = pc.l.Search(req)
		}
		return err
	})
	return res, err
}

// bounded runs op on pc, aborting the connection if ctx ends or Timeout
// passes first. go-ldap has no context support for Bind and Search, so the
// way to interrupt a blocked operation is to make its I/O fail: an expired
// deadline on the raw TCP connection, then Close. A connection aborted
// this way is closing, so withConn discards it.
func (r *Resolver) bounded(ctx context.Context, pc *pconn, op func() error) error {
	opCtx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	stop := context.AfterFunc(opCtx, func() {
		_ = pc.raw.SetDeadline(time.Unix(1, 0))
		if pc.l != nil {
			_ = pc.l.Close()
		}
	})
	// The timer backs up go-ldap's own request timeout, which cannot see
	// the context.
	if pc.l != nil {
		pc.l.SetTimeout(r.cfg.Timeout)
	}
	err := op()
	if !stop() {
		// The abort ran (or is running): report why, whatever op said.
		if cerr := context.Cause(opCtx); cerr != nil && err != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		} else if err == nil {
			err = context.Cause(opCtx)
		}
	}
	return err
}

// isBroken says whether pc must not be reused after err.
func isBroken(pc *pconn, err error) bool {
	return pc.l == nil || pc.l.IsClosing() ||
		ldap.IsErrorWithCode(err, ldap.ErrorNetwork) ||
		errors.Is(err, net.ErrClosed) ||
		// go-ldap reports a failed write with fmt.Errorf("unable to send
		// request: %s") (conn.go), which keeps no error type: when the write
		// on a connection the server dropped beats its reader noticing,
		// only the text tells.
		strings.Contains(err.Error(), "unable to send request") ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// withConn runs fn on a pooled or new connection. If fn fails because the
// connection broke (typically a pooled one the server had dropped), fn is
// retried once on a freshly dialed connection.
func (r *Resolver) withConn(ctx context.Context, fn func(*pconn) error) error {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("ldap: waiting for a connection: %w", context.Cause(ctx))
	}
	defer func() { <-r.sem }()

	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var pc *pconn
		if attempt == 0 {
			pc = r.takeIdle()
		}
		if pc == nil {
			if pc, err = r.dial(ctx); err != nil {
				return err
			}
		}
		err = fn(pc)
		if err == nil || !isBroken(pc, err) {
			r.putIdle(pc)
			return err
		}
		pc.close()
		if ctx.Err() != nil {
			return err
		}
		r.log.Debug("ldap: connection broke; retrying on a new one", "url", pc.srv.url, "err", err)
	}
	return err
}

func (r *Resolver) takeIdle() *pconn {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.idle) > 0 {
		pc := r.idle[len(r.idle)-1]
		r.idle = r.idle[:len(r.idle)-1]
		if pc.l.IsClosing() || time.Since(pc.lastUsed) > maxIdle {
			go pc.close() // Close may wait briefly for go-ldap's goroutines
			continue
		}
		return pc
	}
	return nil
}

func (r *Resolver) putIdle(pc *pconn) {
	pc.lastUsed = time.Now()
	r.mu.Lock()
	if !r.closed && !pc.l.IsClosing() && len(r.idle) < r.cfg.MaxConns {
		r.idle = append(r.idle, pc)
		pc = nil
	}
	r.mu.Unlock()
	if pc != nil {
		pc.close()
	}
}

func (pc *pconn) close() {
	if pc.l != nil {
		_ = pc.l.Close()
	} else if pc.raw != nil {
		_ = pc.raw.Close()
	}
}

// order lists servers in configured order, those marked down moved last
// (and still tried: a stale mark must not make every server unusable).
func (r *Resolver) order() []*server {
	return failover.Order(r.servers, func(s *server) *failover.Mark { return s.health })
}

func (r *Resolver) markDown(s *server, err error) {
	if s.health.Down(downFor) {
		r.log.Warn("ldap: server unreachable; trying it last for a while", "url", s.url, "for", downFor, "err", err)
	}
}

func (r *Resolver) markUp(s *server) {
	if s.health.Up() {
		r.log.Info("ldap: server reachable again", "url", s.url)
	}
}

// dial connects and binds to the first server that works, in failover
// order. A bind refused by a server (wrong password, locked account) is a
// configuration problem that every DC would repeat, so it stops the search.
func (r *Resolver) dial(ctx context.Context) (*pconn, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	var errs []error
	for _, s := range r.order() {
		if err := ctx.Err(); err != nil {
			errs = append(errs, context.Cause(ctx))
			break
		}
		pc, err := r.dialOne(ctx, s)
		if err == nil {
			r.markUp(s)
			return pc, nil
		}
		err = fmt.Errorf("ldap %s: connect: %w", s.url, err)
		var lerr *ldap.Error
		if errors.As(err, &lerr) && lerr.ResultCode != ldap.ErrorNetwork {
			// The server answered: it is up, but refuses us.
			return nil, err
		}
		r.markDown(s, err)
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (r *Resolver) dialOne(ctx context.Context, s *server) (*pconn, error) {
	r.dials.Add(1)
	tlsCfg := &tls.Config{
		RootCAs:    r.cfg.RootCAs,
		ServerName: s.host,
		MinVersion: tls.VersionTLS12,
	}
	opCtx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	d := net.Dialer{}
	raw, err := d.DialContext(opCtx, "tcp", s.hostport)
	if err != nil {
		return nil, err
	}
	pc := &pconn{srv: s, raw: raw}
	var c net.Conn = raw
	if s.ldaps {
		tc := tls.Client(raw, tlsCfg)
		if err := tc.HandshakeContext(opCtx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("TLS: %w", err)
		}
		c = tc
	}
	pc.l = ldap.NewConn(c, s.ldaps)
	pc.l.Start()
	if !s.ldaps {
		if err := r.bounded(ctx, pc, func() error { return pc.l.StartTLS(tlsCfg) }); err != nil {
			pc.close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	if err := r.bounded(ctx, pc, func() error { return pc.l.Bind(r.cfg.BindUser, r.cfg.BindPassword) }); err != nil {
		pc.close()
		// go-ldap's bind errors carry the server's diagnostic, never the
		// password.
		return nil, fmt.Errorf("bind as %q: %w", r.cfg.BindUser, err)
	}
	return pc, nil
}
