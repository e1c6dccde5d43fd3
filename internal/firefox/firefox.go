// Package firefox drives a real, headless Firefox (Debian's firefox-esr)
// over WebDriver BiDi for the end-to-end tests: a browser process of its
// own per run with a fresh profile (prefs in user.js, nothing reachable but
// loopback), its HTTP log on (MOZ_LOG), one user context (Firefox's
// container: cookies, HTTP auth cache and connections of its own) per
// user, and credentials typed at the browser's own authentication prompt
// (network.authRequired answered with network.continueWithAuth), so that
// Firefox's HTTP stack (challenge parsing, scheme choice, its NTLM module,
// keep-alive) is what the tests exercise.
//
// BiDi is Firefox's only remote protocol now (no CDP); the WebSocket is
// github.com/coder/websocket's rather than one of our own.
package firefox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/realbrowser"
)

// Options configure Launch.
type Options struct {
	Binary string // the browser; default "firefox-esr"
	Dir    string // gets the profile, the HTTP log and firefox.log
	// TrustedURIs, if set, go to network.automatic-ntlm-auth.trusted-uris
	// and network.negotiate-auth.trusted-uris, as a domain's policy sets
	// them for its intranet sites (e.g. "127.0.0.1").
	TrustedURIs string
	Prefs       map[string]any // more user.js prefs (string, bool or int values)
	Env         []string       // added to the browser's environment (e.g. KRB5CCNAME=...)
	// AcceptInsecureCerts lets HTTPS sites with a certificate Firefox does
	// not trust load (WebDriver's capability), for a test CA's site.
	AcceptInsecureCerts bool
}

// basePrefs keep Firefox off the network on its own (first run, telemetry,
// updates, captive portal and connectivity checks, remote settings, safe
// browsing, prefetching) and send anything not for a loopback address to
// a proxy that is not there: nothing but loopback is ever reached.
func basePrefs() map[string]any {
	dead := "http://127.0.0.1:9/"
	return map[string]any{
		"browser.shell.checkDefaultBrowser":                     false,
		"browser.startup.homepage_override.mstone":              "ignore",
		"browser.startup.page":                                  0,
		"startup.homepage_welcome_url":                          "",
		"browser.aboutwelcome.enabled":                          false,
		"trailhead.firstrun.didSeeAboutWelcome":                 true,
		"datareporting.policy.dataSubmissionEnabled":            false,
		"datareporting.healthreport.uploadEnabled":              false,
		"toolkit.telemetry.enabled":                             false,
		"toolkit.telemetry.server":                              dead,
		"app.update.auto":                                       false,
		"app.update.enabled":                                    false,
		"app.update.url":                                        dead,
		"app.normandy.enabled":                                  false,
		"app.shield.optoutstudies.enabled":                      false,
		"messaging-system.rsexperimentloader.enabled":           false,
		"network.captive-portal-service.enabled":                false,
		"network.connectivity-service.enabled":                  false,
		"services.settings.server":                              dead,
		"browser.safebrowsing.malware.enabled":                  false,
		"browser.safebrowsing.phishing.enabled":                 false,
		"browser.safebrowsing.downloads.enabled":                false,
		"browser.safebrowsing.provider.mozilla.updateURL":       dead,
		"extensions.update.enabled":                             false,
		"extensions.getAddons.cache.enabled":                    false,
		"extensions.blocklist.enabled":                          false,
		"browser.newtabpage.enabled":                            false,
		"browser.newtabpage.activity-stream.feeds.topsites":     false,
		"browser.newtabpage.activity-stream.feeds.snippets":     false,
		"browser.region.network.url":                            "",
		"browser.search.geoip.url":                              "",
		"geo.provider.network.url":                              "",
		"network.dns.disablePrefetch":                           true,
		"network.prefetch-next":                                 false,
		"network.predictor.enabled":                             false,
		"network.http.speculative-parallel-limit":               0,
		"network.trr.mode":                                      5,
		"signon.rememberSignons":                                false,
		"signon.autofillForms":                                  false,
		"privacy.userContext.enabled":                           true,
		"network.proxy.type":                                    1,
		"network.proxy.http":                                    "127.0.0.1",
		"network.proxy.http_port":                               9,
		"network.proxy.ssl":                                     "127.0.0.1",
		"network.proxy.ssl_port":                                9,
		"network.proxy.no_proxies_on":                           "127.0.0.0/8",
		"network.proxy.allow_hijacking_localhost":               false,
		"network.proxy.share_proxy_settings":                    false,
		"network.http.network_access_on_socket_process.enabled": false,
		// No /favicon.ico after each page: it would hold the logged-in
		// connection while the test's next page goes out on a new one.
		"browser.chrome.site_icons": false,
		"browser.chrome.favicons":   false,
		// Every name resolves to 127.0.0.1 (Mozilla's own test harness
		// does the same): no DNS query leaves the machine either.
		"network.dns.native-is-localhost": true,
		// The HTTP log shows Authorization values (by default it prints
		// asterisks): a failing test must show which NTLM message went.
		"network.http.sanitize-headers-in-logs": false,
	}
}

// userJS renders prefs as user.js lines, sorted for a stable file.
func userJS(prefs map[string]any) (string, error) {
	keys := make([]string, 0, len(prefs))
	for k := range prefs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		var v string
		switch x := prefs[k].(type) {
		case string:
			v = fmt.Sprintf("%q", x)
		case bool, int:
			v = fmt.Sprint(x)
		default:
			return "", fmt.Errorf("pref %s: a %T is not a pref value", k, x)
		}
		// Values are quoted (%q: escapes the prefs parser reads); a name
		// is ours, plain.
		if strings.ContainsAny(k, "\"\n\\") {
			return "", fmt.Errorf("pref %q: not a plain name", k)
		}
		fmt.Fprintf(&b, "user_pref(%q, %s);\n", k, v)
	}
	return b.String(), nil
}

// Browser is a running Firefox.
type Browser struct {
	proc *realbrowser.Process
	c    *conn
	dir  string

	// LogPath is what the browser printed; the HTTP log is read with
	// ReadHTTPLog(HTTPLogGlob) once Close has returned.
	LogPath, HTTPLogGlob string
	Version              string // e.g. "firefox 153.8.0"

	mu    sync.Mutex
	users map[string]*User // by browsing context
}

var listening = regexp.MustCompile(`WebDriver BiDi listening on (ws://127\.0\.0\.1:\d+)`)

// Launch starts a browser and opens a BiDi session with it. The browser
// lives at most as long as ctx: when ctx ends, its process group is killed.
func Launch(ctx context.Context, o Options) (*Browser, error) {
	bin := o.Binary
	if bin == "" {
		bin = "firefox-esr"
	}
	b := &Browser{
		dir:         o.Dir,
		LogPath:     filepath.Join(o.Dir, "firefox.log"),
		HTTPLogGlob: filepath.Join(o.Dir, "http.log*"),
		users:       map[string]*User{},
	}
	profile := filepath.Join(o.Dir, "profile")
	if err := os.MkdirAll(profile, 0o700); err != nil {
		return nil, err
	}
	prefs := basePrefs()
	if o.TrustedURIs != "" {
		prefs["network.automatic-ntlm-auth.trusted-uris"] = o.TrustedURIs
		prefs["network.negotiate-auth.trusted-uris"] = o.TrustedURIs
	}
	for k, v := range o.Prefs {
		prefs[k] = v
	}
	js, err := userJS(prefs)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(js), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(b.LogPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--headless", "--no-remote", "--profile", profile, "--remote-debugging-port=0", "about:blank")
	home := filepath.Join(o.Dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		logf.Close()
		return nil, err
	}
	cmd.Env = append(os.Environ(),
		"HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		// nsHttp logs every request and response header block and the
		// auth provider's decisions (level 5 for the NTLM scheme's: whether
		// default credentials are allowed, the system module missing);
		// NTLM and negotiateauth the modules' own.
		"MOZ_LOG=timestamp,nsHttp:5,NTLM:5,negotiateauth:5,nsHostResolver:3",
		"MOZ_LOG_FILE="+filepath.Join(o.Dir, "http.log"),
		"MOZ_CRASHREPORTER_DISABLE=1")
	cmd.Env = append(cmd.Env, o.Env...)
	// Its stderr through a pipe of our own (not StderrPipe, which Wait
	// would close under the reader): it names the BiDi endpoint.
	stderr, w, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, w
	b.proc, err = realbrowser.Start(cmd)
	w.Close()
	if err != nil {
		stderr.Close()
		logf.Close()
		return nil, err
	}
	url := make(chan string, 1)
	go func() {
		// Copy what it prints to the log, noting where BiDi listens,
		// until the last process holding the pipe ends.
		defer logf.Close()
		defer stderr.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			io.WriteString(logf, line+"\n")
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case url <- m[1]:
				default:
				}
			}
		}
		io.Copy(logf, stderr)
	}()
	life := ctx
	b.proc.KillWhenDone(life)
	ctx, cancel := context.WithTimeout(life, 90*time.Second)
	defer cancel()
	fail := func(err error) (*Browser, error) {
		b.proc.Kill()
		out, _ := os.ReadFile(b.LogPath)
		return nil, fmt.Errorf("%s: %w\n%s", bin, err, out)
	}
	var u string
	select {
	case u = <-url:
	case <-b.proc.Exited:
		return fail(errors.New("exited before its WebDriver BiDi endpoint listened"))
	case <-ctx.Done():
		return fail(fmt.Errorf("no WebDriver BiDi endpoint: %w", ctx.Err()))
	}
	if b.c, err = dial(ctx, u+"/session", b.event); err != nil {
		return fail(err)
	}
	var sess struct {
		Capabilities struct{ BrowserName, BrowserVersion string }
	}
	caps := map[string]any{}
	if o.AcceptInsecureCerts {
		caps["alwaysMatch"] = map[string]any{"acceptInsecureCerts": true}
	}
	if err := b.c.call(ctx, "session.new", map[string]any{"capabilities": caps}, &sess); err != nil {
		return fail(err)
	}
	b.Version = sess.Capabilities.BrowserName + " " + sess.Capabilities.BrowserVersion
	if err := b.c.call(ctx, "session.subscribe", map[string]any{"events": []string{
		"network.authRequired", "network.responseCompleted", "browsingContext.load",
	}}, nil); err != nil {
		return fail(err)
	}
	// Every prompt blocks until answered (continueWithAuth).
	if err := b.c.call(ctx, "network.addIntercept", map[string]any{"phases": []string{"authRequired"}}, nil); err != nil {
		return fail(err)
	}
	return b, nil
}

// Close ends the browser (which then completes its HTTP log) and kills
// whatever of its process group is left.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The browser may exit before its answer is read: only its exit counts.
	b.c.call(ctx, "browser.close", nil, nil)
	defer b.c.close()
	return b.proc.AwaitExit(20 * time.Second)
}
