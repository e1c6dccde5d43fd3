// Command trivialauthz is the benchmark's ceiling for a FastCGI authorizer:
// it answers every mod_authnz_fcgi call with 200 and Variable-REMOTE_USER,
// through the project's own pkg/fcgi server, and does nothing else. The
// bench compares ntlm-fcgi-authorizer's keep-alive path against it.
//
//	trivialauthz -listen 127.0.0.1:9399
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9399", "address to listen on (loopback)")
	user := flag.String("user", "trivial", "REMOTE_USER to answer")
	flag.Parse()

	ln, err := fcgi.Listen(context.Background(), "tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "trivialauthz: %v\n", err)
		os.Exit(1)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := &fcgi.Server{
		Logger: log,
		Handler: fcgi.HandlerFunc(func(ctx context.Context, r *fcgi.Request) *fcgi.Response {
			return &fcgi.Response{Status: http.StatusOK, Variables: map[string]string{"REMOTE_USER": *user}}
		}),
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); err != nil && err != fcgi.ErrServerClosed {
		fmt.Fprintf(os.Stderr, "trivialauthz: %v\n", err)
		os.Exit(1)
	}
}
