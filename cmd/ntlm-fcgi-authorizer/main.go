// Command ntlm-fcgi-authorizer is the FastCGI authorizer Apache's
// mod_authnz_fcgi calls for NTLM single sign-on. It relays the browser's
// NTLM messages to a domain controller and tells Apache who logged in.
//
//	ntlm-fcgi-authorizer -config /etc/goauthenntlm/conf.toml
//
// SIGTERM or SIGINT: finish the requests in flight, then exit.
// This file is wiring only: flags, configuration, logging and signals.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
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
	confPath := flag.String("config", envOr("GOAUTHENNTLM_CONFIG", "/etc/goauthenntlm/conf.toml"), "configuration file")
	check := flag.Bool("check", false, "check the configuration and exit")
	flag.Parse()

	cfg, err := config.Load(*confPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ntlm-fcgi-authorizer: %v\n", err)
		os.Exit(2)
	}
	if *check {
		fmt.Printf("%s: configuration OK\n", cfg.Path())
		return
	}
	if err := run(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "ntlm-fcgi-authorizer: %v\n", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(cfg *config.Config) error {
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel.Level())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	secret, err := readSecret(cfg.CallerSecretFile)
	if err != nil {
		return err
	}
	a, err := authorizer.New(cfg, authorizer.Options{Logger: log, CallerSecret: secret})
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &fcgi.Server{Handler: a, Logger: log}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go a.Run(ctx)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("ntlm-fcgi-authorizer ready", "listen", ln.Addr().String(), "config", cfg.Path(), "domains", len(cfg.Domains))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
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

// readSecret reads a one-line secret file; "" when no file is configured.
func readSecret(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("caller secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 16 {
		return "", fmt.Errorf("caller secret in %s: at least 16 characters, please", path)
	}
	return s, nil
}
