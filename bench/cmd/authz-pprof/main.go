// Command authz-pprof is ntlm-fcgi-authorizer's wiring (config, Authorizer,
// fcgi.Server, the sweeper) plus net/http/pprof on a loopback port, for
// profiling the authorizer under the benchmark without touching cmd/ or
// pkg/. No SIGHUP reload; otherwise the same packages doing the same work.
//
//	authz-pprof -config conf.toml [-listen 127.0.0.1:PORT] -pprof 127.0.0.1:6060
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/authorizer"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
)

func main() {
	confPath := flag.String("config", "/etc/goauthenntlm/conf.toml", "configuration file")
	listen := flag.String("listen", "", "override the config's listen address")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "net/http/pprof address (loopback)")
	flag.Parse()

	cfg, err := config.Load(*confPath)
	if err != nil {
		fail(err)
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if !strings.HasPrefix(*pprofAddr, "127.") && !strings.HasPrefix(*pprofAddr, "localhost:") {
		fail(fmt.Errorf("-pprof must be a loopback address"))
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel.Level()}))
	slog.SetDefault(log)

	secret := ""
	if cfg.CallerSecretFile != "" {
		b, err := os.ReadFile(cfg.CallerSecretFile)
		if err != nil {
			fail(err)
		}
		secret = strings.TrimSpace(string(b))
	}
	a, err := authorizer.New(cfg, authorizer.Options{Logger: log, CallerSecret: secret})
	if err != nil {
		fail(err)
	}
	defer a.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fail(err)
	}
	go func() {
		if err := http.ListenAndServe(*pprofAddr, nil); err != nil {
			log.Error("pprof", "err", err)
		}
	}()
	srv := &fcgi.Server{Handler: a, Logger: log}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go a.Run(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("authz-pprof ready", "listen", ln.Addr().String(), "pprof", *pprofAddr)
	select {
	case err := <-errc:
		fail(err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "authz-pprof: %v\n", err)
	os.Exit(1)
}
