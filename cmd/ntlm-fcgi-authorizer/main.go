// Command ntlm-fcgi-authorizer is the FastCGI authorizer Apache's
// mod_authnz_fcgi calls for NTLM single sign-on. It relays the browser's
// NTLM messages to a domain controller and tells Apache who logged in.
//
//	ntlm-fcgi-authorizer -config /etc/goauthenntlm/conf.toml
//
// SIGTERM or SIGINT: finish the requests in flight, then exit. SIGHUP:
// read the configuration again; logins survive, a bad file is logged and
// the running configuration kept. This file is wiring only: flags,
// configuration, logging and signals.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/buildinfo"
	"github.com/goauthenntlm/goauthenntlm/internal/sdnotify"
	"github.com/goauthenntlm/goauthenntlm/pkg/authorizer"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/delegation"
	"github.com/goauthenntlm/goauthenntlm/pkg/discover"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
	"github.com/goauthenntlm/goauthenntlm/pkg/metrics"
	"github.com/goauthenntlm/goauthenntlm/pkg/preflight"
)

func main() {
	confPath := flag.String("config", envOr("GOAUTHENNTLM_CONFIG", "/etc/goauthenntlm/conf.toml"), "configuration file")
	check := flag.Bool("check", false, "check the configuration and the files it names, then exit: silent and 0 when all is well, else every problem and 2")
	probe := flag.Bool("probe", false, "with -check: also connect to each DC and LDAP server and print one line for each (exit 1 if one fails)")
	apacheConf := flag.String("apache-config", "/etc/apache2/apache2.conf", "with -check: Apache's main configuration file, read (with its includes) for a LimitRequestFieldSize too small for Kerberos tickets when it asks this authorizer")
	listen := flag.String("listen", "", "listen here instead of the configuration's listen")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address (for profiling)")
	version := flag.Bool("version", false, "print the version and exit")
	loginUser := flag.String("test-login", "", "log this user (EXAMPLE\\jdoe) in through the configured DCs, password from the terminal or stdin; print the DC, NTSTATUS, REMOTE_USER and groups; exit 0 accepted, 1 refused, 2 error")
	testKrb := flag.Bool("test-kerberos", false, "log in by Kerberos from the caller's ticket cache (KRB5CCNAME; kinit first) with a ticket for the first service principal; print REMOTE_USER and groups; exit 0 accepted, 1 refused, 2 error")
	flag.Parse()
	if *version {
		fmt.Println(buildinfo.String("ntlm-fcgi-authorizer"))
		return
	}

	base, err := config.Load(*confPath)
	if err != nil {
		// One line per problem, each with the program's name, as -check
		// prints the problems with the files.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(os.Stderr, "ntlm-fcgi-authorizer: %s\n", line)
		}
		os.Exit(2)
	}
	// The DCs of domains given by dns_name alone, from DNS.
	cfg, err := discovered(context.Background(), base)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ntlm-fcgi-authorizer: %s: %v\n", base.Path(), err)
		os.Exit(2)
	}
	if *check {
		os.Exit(runCheck(cfg, *probe, *apacheConf))
	}
	if *testKrb {
		os.Exit(testKerberos(cfg, os.Stdout, os.Stderr))
	}
	if *loginUser != "" {
		os.Exit(testLogin(cfg, *loginUser, os.Stdin, os.Stdout, os.Stderr))
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *pprofAddr != "" {
		if err := servePprof(*pprofAddr); err != nil {
			fmt.Fprintf(os.Stderr, "ntlm-fcgi-authorizer: %v\n", err)
			os.Exit(2)
		}
	}
	if err := run(base, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "ntlm-fcgi-authorizer: %v\n", err)
		os.Exit(1)
	}
}

// checkApacheFieldSize is the warning, or "", about the Apache at
// apacheConf: when it asks this authorizer, Kerberos is on, and nothing in
// its configuration raises LimitRequestFieldSize to what a big ticket
// needs. Where it cannot tell (no such file, another Apache, a value in
// some virtual host) it says nothing.
func checkApacheFieldSize(cfg *config.Config, apacheConf string) string {
	kerberos := false
	for i := range cfg.Domains {
		kerberos = kerberos || cfg.Domains[i].KeytabFile != ""
	}
	if !kerberos || !cfg.Auth.Offers(config.SchemeNegotiate) {
		return ""
	}
	a, err := preflight.ApacheConfig(apacheConf)
	if err != nil || !a.Asks(cfg.Listen) || a.LargestFieldSize >= preflight.KerberosFieldSize {
		return ""
	}
	return fmt.Sprintf("Apache's LimitRequestFieldSize is %d (%s and its includes): the Kerberos tickets of users in more than about 550 groups are answered 400 \"Size of a request header field exceeds server limit\" before the authorizer sees them; set LimitRequestFieldSize %d in the server config (apache/goauthenntlm.conf does)",
		a.FieldSize, apacheConf, preflight.KerberosFieldSize)
}

// runCheck is -check: every problem with the files the configuration names,
// and with probe one line per server.
func runCheck(cfg *config.Config, probe bool, apacheConf string) int {
	failed := false
	for _, err := range append(preflight.Files(cfg), preflight.Squattable(cfg.Listen)) {
		if err == nil {
			continue
		}
		fmt.Fprintf(os.Stderr, "ntlm-fcgi-authorizer: %v\n", err)
		failed = failed || !preflight.IsWarning(err)
	}
	if w := checkApacheFieldSize(cfg, apacheConf); w != "" {
		fmt.Fprintf(os.Stderr, "ntlm-fcgi-authorizer: warning: %s\n", w)
	}
	if failed {
		return 2
	}
	krc := checkKerberos(cfg, probe, os.Stdout, os.Stderr)
	if krc == 2 {
		return 2
	}
	if !probe {
		return 0
	}
	results, err := preflight.Probe(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ntlm-fcgi-authorizer: %v\n", err)
		return 2
	}
	rc := krc
	for _, r := range results {
		fmt.Println(r)
		if r.Err != nil {
			rc = 1
		}
	}
	return rc
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// run serves until SIGTERM. base is the configuration as read, cfg the
// same with the DCs DNS gave (see discovered).
func run(base, cfg *config.Config) error {
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel.Level())
	log := newLogger(os.Stderr, cfg.LogFormat, level, underJournald(os.Stderr))
	slog.SetDefault(log)

	// One key for the process, so that binding cookies outlive reloads.
	bindingKey := make([]byte, 32)
	rand.Read(bindingKey)
	h := &current{}
	var obs authorizer.Observer
	var health *metrics.Health
	var mln net.Listener
	if cfg.MetricsListen != "" {
		health = metrics.NewHealth(h.get, cfg.HealthInterval.D(), cfg.DC.DialTimeout.D())
		m := metrics.New(h.get, health)
		var err error
		if mln, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return fmt.Errorf("metrics_listen: %w", err)
		}
		obs = m
		msrv := &http.Server{Handler: m.Handler(health), ReadHeaderTimeout: 10 * time.Second}
		go msrv.Serve(mln)
		defer msrv.Close()
	}
	// The credential caches outlive reloads: a login's file stays its
	// own. Opening removes the files an earlier run left.
	var ccaches *delegation.Store
	if d := cfg.Delegation; d.Enabled() {
		var err error
		ccaches, err = delegation.Open(delegation.Options{Dir: d.CCacheDir, Group: d.AppGroup, Max: d.MaxCCaches, Idle: d.CCacheIdle.D(), Logger: log})
		if err != nil {
			return err
		}
		defer ccaches.Close()
	}
	a, err := build(cfg, log, nil, bindingKey, obs, ccaches)
	if err != nil {
		return err
	}
	h.set(a)
	defer func() { h.get().Close() }()
	// After the requests in flight (defers run last first): the replay
	// file is flushed to disk as the daemon stops.
	defer func() {
		if s := h.get().KerberosReplay(); s != nil {
			if err := s.Close(); err != nil {
				log.Warn("replay file: not flushed at exit", "err", err)
			}
		}
	}()

	ln, held, err := listen(cfg.Listen)
	if err != nil {
		return err
	}
	srv := &fcgi.Server{Handler: h, Logger: log}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sweepCtx, stopSweep := context.WithCancel(ctx)
	go a.Run(sweepCtx)
	if health != nil {
		go health.Run(ctx)
	}

	// swap puts next in service with its configuration.
	swap := func(next *authorizer.Authorizer, nextCfg *config.Config) {
		old := h.get()
		h.set(next)
		stopSweep()
		sweepCtx, stopSweep = context.WithCancel(ctx)
		go next.Run(sweepCtx)
		// Handshakes in flight on the old DC connections finish or
		// expire before those connections close.
		time.AfterFunc(cfg.Auth.HandshakeTimeout.D(), func() { old.Close() })
		cfg = nextCfg
	}
	refresh := time.NewTicker(base.DC.DNSRefresh.D())
	defer refresh.Stop()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	if err := serveGroupChecks(ctx, cfg, h, log); err != nil {
		// Logins and the other group routes work without it; only
		// ntlm-group-check's cache misses go unanswered (and are refused).
		log.Error("ntlm-group-check's cache misses cannot be answered", "err", err)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("ntlm-fcgi-authorizer ready", "listen", ln.Addr().String(), "socket_activation", held, "config", cfg.Path(), "domains", len(cfg.Domains))
	if mln != nil {
		log.Info("serving /metrics and /healthz", "metrics_listen", mln.Addr().String())
		if !cfg.MetricsIsLoopback() {
			log.Warn("metrics_listen is not a loopback address: whoever reaches it sees user counts and DC state", "metrics_listen", cfg.MetricsListen)
		}
	}
	if !held {
		if err := preflight.Squattable(cfg.Listen); err != nil {
			log.Warn("the listen address is bound by this process alone", "problem", err.Error())
		}
	}
	switch {
	case !cfg.ListenIsLoopback() && cfg.CallerSecretFile == "":
		log.Warn("listen is not a loopback address: anyone who can reach it can ask for a login; set caller_secret_file", "listen", cfg.Listen)
	case cfg.CallerSecretFile == "":
		log.Warn("no caller_secret_file: any local process can ask about logins, end them, or pose as Apache; see apache/goauthenntlm.conf", "listen", cfg.Listen)
	}
	notify(log, "READY=1\nSTATUS=listening on "+ln.Addr().String())

	for {
		select {
		case err := <-errc:
			stopSweep()
			return fmt.Errorf("serve: %w", err)
		case <-hup:
			notify(log, "RELOADING=1")
			next, err := reload(cfg.Path(), h.get(), log, level, bindingKey, obs, ccaches)
			if err != nil {
				log.Error("reload failed; keeping the running configuration", "err", err)
				notify(log, "READY=1\nSTATUS=reload failed; running the previous configuration")
				continue
			}
			for _, k := range []struct{ key, was, now string }{
				{"listen", cfg.Listen, next.cfg.Listen},
				{"metrics_listen", cfg.MetricsListen, next.cfg.MetricsListen},
				{"log_format", string(cfg.LogFormat), string(next.cfg.LogFormat)},
				{"health_interval", cfg.HealthInterval.D().String(), next.cfg.HealthInterval.D().String()},
				{"delegation.ccache_dir", cfg.Delegation.CCacheDir, next.cfg.Delegation.CCacheDir},
				{"delegation.app_group", cfg.Delegation.AppGroup, next.cfg.Delegation.AppGroup},
			} {
				if k.was != k.now {
					log.Warn(k.key+" changed: takes effect on restart only", k.key, k.was, "new", k.now)
				}
			}
			next.cfg.Listen = cfg.Listen
			base = next.base
			refresh.Reset(base.DC.DNSRefresh.D())
			swap(next.a, next.cfg)
			log.Info("configuration reloaded", "config", cfg.Path())
			notify(log, "READY=1\nSTATUS=listening on "+ln.Addr().String())
		case <-refresh.C:
			if !discover.Needed(base) {
				continue
			}
			next, err := discovered(ctx, base)
			if err != nil {
				log.Warn("DCs not looked up again in DNS; keeping the ones in use", "err", err)
				continue
			}
			if discover.Same(next, cfg) {
				continue
			}
			next.Listen = cfg.Listen
			a, err := build(next, log, h.get(), bindingKey, obs, ccaches)
			if err != nil {
				log.Error("DCs changed in DNS, but the new DC pools cannot be built; keeping the ones in use", "err", err)
				continue
			}
			for i := range next.Domains {
				if d := next.Domains[i]; !slices.Equal(d.DCs, cfg.Domains[i].DCs) {
					log.Info("DCs changed in DNS", "domain", d.Name, "dcs", strings.Join(d.DCs, " "), "was", strings.Join(cfg.Domains[i].DCs, " "))
				}
			}
			swap(a, next)
		case <-ctx.Done():
			stopSweep()
			notify(log, "STOPPING=1")
			log.Info("shutting down: finishing requests in flight")
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				log.Warn("shutdown", "err", err)
			}
			if err := <-errc; err != nil && !errors.Is(err, fcgi.ErrServerClosed) {
				return err
			}
			return nil
		}
	}
}

// listen returns the FastCGI listener on addr (the configuration's
// listen) and whether another process holds it too. Under socket
// activation (systemd's ntlm-fcgi-authorizer.socket, the stacks' holder)
// it is the socket passed, which root bound and keeps while this process
// is stopped or restarting, so that no one else can take the address; it
// must be addr, or Apache, pointed at addr, would not reach this process.
// Otherwise addr is bound here (refused if someone holds it) and is free
// again whenever this process is not running.
func listen(addr string) (net.Listener, bool, error) {
	files, err := sdnotify.Files()
	if err != nil {
		return nil, false, err
	}
	if len(files) == 0 {
		ln, err := fcgi.Listen(context.Background(), "tcp", addr)
		if errors.Is(err, syscall.EACCES) {
			err = fmt.Errorf("%w: only root binds a port below 1024; let systemd hold it for this daemon (ntlm-fcgi-authorizer.socket: README, Install)", err)
		}
		if err != nil {
			return nil, false, fmt.Errorf("listen: %w", err)
		}
		return ln, false, nil
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if len(files) != 1 {
		return nil, false, fmt.Errorf("listen: socket activation passed %d sockets; the authorizer takes one, its listen address %s", len(files), addr)
	}
	ln, err := net.FileListener(files[0])
	if err != nil {
		return nil, false, fmt.Errorf("listen: the socket passed by socket activation: %w", err)
	}
	got, ok := ln.Addr().(*net.TCPAddr)
	want, err := net.ResolveTCPAddr("tcp", addr)
	if !ok || err != nil || got.Port != want.Port || !got.IP.Equal(want.IP) {
		ln.Close()
		return nil, false, fmt.Errorf("listen: socket activation passed a socket on %s, but listen is %s: Apache is pointed at listen, so make the .socket unit's ListenStream= and listen the same address", ln.Addr(), addr)
	}
	return ln, true, nil
}

// build makes the Authorizer for cfg, taking over prev's logins and
// Kerberos replay cache if set (a reload must not reopen a replay window).
func build(cfg *config.Config, log *slog.Logger, prev *authorizer.Authorizer, bindingKey []byte, obs authorizer.Observer, ccaches *delegation.Store) (*authorizer.Authorizer, error) {
	// The secret files as -check sees them: a keytab or secret opened to
	// others since -check ran is refused here too.
	var exposed []string
	for _, err := range preflight.Secrets(cfg) {
		if preflight.IsWarning(err) {
			log.Warn("secret file", "problem", err.Error())
			continue
		}
		exposed = append(exposed, err.Error())
	}
	if len(exposed) > 0 {
		return nil, errors.New(strings.Join(exposed, "; "))
	}
	secret, err := cfg.CallerSecret()
	if err != nil {
		return nil, err
	}
	opt := authorizer.Options{Logger: log, CallerSecret: secret, BindingKey: bindingKey, Observer: obs}
	if cfg.Delegation.Enabled() {
		opt.CCaches = ccaches
	}
	if prev != nil {
		opt.Table, opt.KerberosReplay = prev.Table(), prev.KerberosReplay()
	}
	return authorizer.New(cfg, opt)
}

type reloaded struct {
	base, cfg *config.Config // as read; with the DCs DNS gave
	a         *authorizer.Authorizer
}

func reload(path string, old *authorizer.Authorizer, log *slog.Logger, level *slog.LevelVar, bindingKey []byte, obs authorizer.Observer, ccaches *delegation.Store) (reloaded, error) {
	base, err := config.Load(path)
	if err != nil {
		return reloaded{}, err
	}
	cfg, err := discovered(context.Background(), base)
	if err != nil {
		return reloaded{}, err
	}
	a, err := build(cfg, log, old, bindingKey, obs, ccaches)
	if err != nil {
		return reloaded{}, err
	}
	level.Set(cfg.LogLevel.Level())
	return reloaded{base, cfg, a}, nil
}

// discovered is base with the DCs of the domains given by dns_name alone
// looked up in DNS, or base itself when there are none.
func discovered(ctx context.Context, base *config.Config) (*config.Config, error) {
	if !discover.Needed(base) {
		return base, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*base.DC.DialTimeout.D())
	defer cancel()
	return discover.Apply(ctx, discover.NewResolver(base.DC.DNSServer, base.DC.DialTimeout.D()), base)
}

// notify tells systemd (Type=notify) the daemon's state; a failure to is
// logged, not fatal: the daemon serves either way.
func notify(log *slog.Logger, state string) {
	if err := sdnotify.Notify(state); err != nil {
		log.Warn("sd_notify", "state", state, "err", err)
	}
}

// current is the Authorizer in service, swapped on reload.
type current struct {
	p atomic.Pointer[authorizer.Authorizer]
}

func (c *current) get() *authorizer.Authorizer  { return c.p.Load() }
func (c *current) set(a *authorizer.Authorizer) { c.p.Store(a) }
func (c *current) ServeFCGI(ctx context.Context, r *fcgi.Request) *fcgi.Response {
	return c.p.Load().ServeFCGI(ctx, r)
}

// servePprof serves the profiler on a loopback address only: profiles show
// what the process is doing, for whoever can reach the port.
func servePprof(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-pprof: %w", err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return fmt.Errorf("-pprof %s: only a loopback IP address is allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go http.Serve(ln, mux)
	return nil
}

// serveGroupChecks opens the socket ntlm-group-check asks on a cache miss,
// when any domain has LDAP settings. The socket's place and who may ask
// are read at start only.
func serveGroupChecks(ctx context.Context, cfg *config.Config, h *current, log *slog.Logger) error {
	ldap := false
	for _, d := range cfg.Domains {
		ldap = ldap || len(d.LDAPURLs) > 0
	}
	if !ldap {
		return nil
	}
	uids, err := authorizer.HelperUIDs(cfg.Groups.HelperUsers)
	if err != nil {
		return err
	}
	gl, err := authorizer.ListenGroupChecks(cfg.Groups.CacheDir)
	if err != nil {
		return err
	}
	go authorizer.SweepMemberships(ctx, cfg.Groups.CacheDir, log)
	go func() {
		check := func(ctx context.Context, user, groups string) (bool, error) {
			return h.get().CheckGroups(ctx, user, groups)
		}
		allowed := func(uid uint32) bool { return uids[uid] }
		if err := authorizer.ServeGroupChecks(ctx, gl, allowed, check, log); err != nil {
			log.Error("group-check socket stopped", "err", err)
		}
	}()
	return nil
}
