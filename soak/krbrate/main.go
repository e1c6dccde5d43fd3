// Command krbrate logs one account in by Kerberos at a steady rate through
// a running stack's Apache, a new connection and a fresh authenticator per
// request (a script that keeps no connection alive), and counts the
// refusals: the replay cache must refuse none at legitimate rates (issue
// 29: 50 logins a second for 15 minutes).
//
//	go run ./soak/krbrate -stack .stack/test/stack.env [-rate 50] [-dur 15m]
//
// Every 30 s it prints the logins, the refusals and the authorizer's RSS;
// exit status 0 only if every login got 200 as the account. Loopback only;
// bounded by -dur (at most 20m) and so by rate × dur requests.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
)

func main() {
	envPath := flag.String("stack", "", "stack.env of a running stack (required)")
	rate := flag.Int("rate", 50, "logins a second (at most 500)")
	dur := flag.Duration("dur", 15*time.Minute, "how long (at most 20m)")
	user := flag.String("user", "jdoe", "the account")
	password := flag.String("password", "Secr3t!Pass", "its password (the stack's)")
	flag.Parse()
	if *envPath == "" || *rate < 1 || *rate > 500 || *dur <= 0 || *dur > 20*time.Minute {
		fmt.Fprintln(os.Stderr, "krbrate: -stack required; -rate 1..500; -dur up to 20m")
		os.Exit(2)
	}
	env, err := readEnv(*envPath)
	if err != nil {
		fatal(err)
	}
	host, port, realm := env["SPN_HOST"], env["APACHE_PORT"], env["KRB5_REALM"]
	if ip := net.ParseIP(env["DC_IP"]); ip == nil || !ip.IsLoopback() {
		fatal(fmt.Errorf("DC_IP %q is not a loopback address", env["DC_IP"]))
	}
	kcfg, err := kerberos.ClientConfig(realm, []string{env["DC_IP"]})
	if err != nil {
		fatal(err)
	}
	tkt, err := kerberos.TicketWithPassword(kcfg, *user, realm, *password, "HTTP/"+host)
	if err != nil {
		fatal(err)
	}
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
		},
	}}
	url := "http://" + host + ":" + port + "/private/whoami"
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	report := time.NewTicker(30 * time.Second)
	defer report.Stop()
	var (
		mu                  sync.Mutex
		ok, refused, failed int
		codes               = map[string]int{}
		wg                  sync.WaitGroup
	)
	line := func() {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf("%6.0fs logins %d ok %d refused %d errors %d authorizer RSS %s %v\n", time.Since(start).Seconds(), ok+refused+failed, ok, refused, failed, rss(env["AUTHZ_PID_FILE"]), codes)
	}
	// Each login in its own goroutine, so that a slow answer does not
	// lower the rate; at most 256 at once (a stall of the machine must not drop logins).
	slots := make(chan struct{}, 256)
	sent := 0
	login := func(tok []byte) {
		defer func() { <-slots; wg.Done() }()
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString(tok))
		resp, err := cl.Do(req)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed++
			codes[err.Error()]++
			return
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		if resp.StatusCode == 200 && strings.TrimSpace(string(body)) == *user {
			ok++
			return
		}
		refused++
		codes[strconv.Itoa(resp.StatusCode)]++
	}
	for time.Since(start) < *dur {
		select {
		case <-report.C:
			line()
			continue
		case <-tick.C:
		}
		// As many as the time says (a tick the runtime dropped catches up).
		for due := int(time.Since(start) * time.Duration(*rate) / time.Second); sent < due; sent++ {
			tok, err := tkt.Token()
			if err != nil {
				fatal(err)
			}
			select {
			case slots <- struct{}{}:
			default:
				mu.Lock()
				failed++
				codes["256 logins in flight: skipped"]++
				mu.Unlock()
				continue
			}
			wg.Add(1)
			go login(tok)
		}
	}
	wg.Wait()
	line()
	if refused+failed > 0 {
		os.Exit(1)
	}
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			env[strings.TrimSpace(k)] = v
		}
	}
	return env, sc.Err()
}

// rss is the authorizer's VmRSS, from its pid file.
func rss(pidFile string) string {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return "?"
	}
	st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "krbrate:", err)
	os.Exit(2)
}
