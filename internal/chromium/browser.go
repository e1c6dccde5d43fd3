// Package chromium drives a real, headless Chromium over the DevTools
// protocol for the end-to-end tests: a browser process of its own per run
// (fresh profile, NetLog on), one browser context per user, and
// credentials typed at the browser's own authentication prompt, so that
// Chromium's HTTP stack (challenge parsing, scheme choice, NTLM, keep-alive)
// is what the tests exercise.
//
// The DevTools client is a small one of its own over --remote-debugging-pipe
// (a few commands, JSON over two pipes): no debugging port to allocate
// beside other test stacks on the machine, and no websocket and protocol
// bindings to depend on.
package chromium

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/goauthenntlm/goauthenntlm/internal/realbrowser"
)

// baseFlags are the command-line flags every browser gets: headless, no
// sandbox (tests run as root), and nothing that talks to the network on
// its own; nothing but 127.0.0.1 resolves (Chromium's own services name
// hosts on the Internet).
func baseFlags() []string {
	return []string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-extensions",
		"--disable-dev-shm-usage", "--password-store=basic", "--use-mock-keychain",
		"--no-pings", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
	}
}

// Options configure Launch.
type Options struct {
	Binary string   // the browser; default "chromium"
	Dir    string   // gets the profile, netlog.json and chromium.log
	Flags  []string // added to the base flags, e.g. --auth-server-allowlist=127.0.0.1
}

// Browser is a running Chromium.
type Browser struct {
	proc *realbrowser.Process
	c    *conn
	pipe *os.File // our end of the browser's command pipe

	// NetLogPath is Chromium's NetLog (--log-net-log), complete once Close
	// has returned; LogPath is what the browser printed.
	NetLogPath, LogPath string

	mu    sync.Mutex
	users map[string]*User // by DevTools session
}

// Launch starts a browser and waits until it answers.
func Launch(ctx context.Context, o Options) (*Browser, error) {
	bin := o.Binary
	if bin == "" {
		bin = "chromium"
	}
	b := &Browser{
		NetLogPath: filepath.Join(o.Dir, "netlog.json"),
		LogPath:    filepath.Join(o.Dir, "chromium.log"),
		users:      map[string]*User{},
	}
	logf, err := os.Create(b.LogPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := append(baseFlags(), o.Flags...)
	args = append(args,
		"--user-data-dir="+filepath.Join(o.Dir, "profile"),
		"--remote-debugging-pipe",
		"--log-net-log="+b.NetLogPath, "--net-log-capture-mode=IncludeSensitive",
		"about:blank")
	// No speculative connections: a navigation may otherwise be sent on a
	// socket preconnected while the previous page's was still busy, and a
	// test could not tell which connection a page used.
	def := filepath.Join(o.Dir, "profile", "Default")
	if err := os.MkdirAll(def, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(def, "Preferences"), []byte(`{"net":{"network_prediction_options":2}}`), 0o600); err != nil {
		return nil, err
	}
	toBrowser, ours, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	fromBrowser, theirs, err := os.Pipe()
	if err != nil {
		toBrowser.Close()
		ours.Close()
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.ExtraFiles = []*os.File{toBrowser, theirs} // fds 3 and 4
	cmd.Stdout, cmd.Stderr = logf, logf
	b.proc, err = realbrowser.Start(cmd)
	toBrowser.Close()
	theirs.Close()
	if err != nil {
		ours.Close()
		fromBrowser.Close()
		return nil, err
	}
	b.pipe = ours
	b.c = &conn{w: ours, onEvent: b.event}
	go b.c.read(fromBrowser)

	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var v struct{ Product string }
	if err := b.c.call(ctx, "", "Browser.getVersion", nil, &v); err != nil {
		b.proc.Kill()
		b.pipe.Close()
		log, _ := os.ReadFile(b.LogPath)
		return nil, fmt.Errorf("%s did not answer over the devtools pipe: %w\n%s", bin, err, log)
	}
	return b, nil
}

// Close ends the browser (which then completes its NetLog).
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The browser may exit before its answer is read: only its exit counts.
	b.c.call(ctx, "", "Browser.close", nil, nil)
	defer b.pipe.Close()
	return b.proc.AwaitExit(20 * time.Second)
}

// Prompt is one authentication prompt the browser showed (Fetch.authRequired).
type Prompt = realbrowser.Prompt

// User is one browser context (its own cookies, cache and connections) with
// one page, whose authentication prompts are answered with its credentials,
// once per request: a repeated prompt for the same request is cancelled,
// as a user would, instead of looping to ERR_TOO_MANY_RETRIES.
type User struct {
	b                  *Browser
	context, session   string
	username, password string

	w       realbrowser.Watch // guards what follows
	loads   int
	docs    map[string]int // main-document status by loader id
	lastDoc int
	asked   map[string]int // prompts per request
	prompts []Prompt
}

// NewUser opens a fresh browser context with a blank page. username is
// typed as given at the prompt (EXAMPLE\jdoe); "" cancels every prompt.
func (b *Browser) NewUser(ctx context.Context, username, password string) (*User, error) {
	u := &User{b: b, username: username, password: password, docs: map[string]int{}, asked: map[string]int{}}
	var bc struct{ BrowserContextID string }
	if err := b.c.call(ctx, "", "Target.createBrowserContext", map[string]any{"disposeOnDetach": true}, &bc); err != nil {
		return nil, err
	}
	u.context = bc.BrowserContextID
	var tg struct{ TargetID string }
	if err := b.c.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank", "browserContextId": u.context}, &tg); err != nil {
		return nil, err
	}
	var at struct{ SessionID string }
	if err := b.c.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": tg.TargetID, "flatten": true}, &at); err != nil {
		return nil, err
	}
	u.session = at.SessionID
	b.mu.Lock()
	b.users[u.session] = u
	b.mu.Unlock()
	for _, m := range []struct {
		method string
		params any
	}{
		{"Fetch.enable", map[string]any{"handleAuthRequests": true}},
		{"Network.enable", nil},
		{"Page.enable", nil},
	} {
		if err := b.c.call(ctx, u.session, m.method, m.params, nil); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// event handles what the browser reports, on the pipe's reading goroutine.
func (b *Browser) event(session, method string, params json.RawMessage) {
	b.mu.Lock()
	u := b.users[session]
	b.mu.Unlock()
	if u == nil {
		return
	}
	switch method {
	case "Fetch.requestPaused":
		var p struct{ RequestID string }
		if json.Unmarshal(params, &p) == nil {
			b.c.send(session, "Fetch.continueRequest", map[string]any{"requestId": p.RequestID})
		}
	case "Fetch.authRequired":
		var p struct {
			RequestID     string
			Request       struct{ URL string }
			AuthChallenge struct {
				Scheme, Realm string
			}
		}
		if json.Unmarshal(params, &p) != nil {
			return
		}
		var answer bool
		u.w.Do(func() {
			u.asked[p.RequestID]++
			answer = u.asked[p.RequestID] == 1 && u.username != ""
			u.prompts = append(u.prompts, Prompt{URL: p.Request.URL, Scheme: p.AuthChallenge.Scheme, Realm: p.AuthChallenge.Realm, Answered: answer})
		})
		resp := map[string]any{"response": "CancelAuth"}
		if answer {
			resp = map[string]any{"response": "ProvideCredentials", "username": u.username, "password": u.password}
		}
		b.c.send(session, "Fetch.continueWithAuth", map[string]any{"requestId": p.RequestID, "authChallengeResponse": resp})
	case "Page.loadEventFired":
		u.w.Update(func() { u.loads++ })
	case "Network.responseReceived":
		var p struct {
			LoaderID string
			Type     string
			Response struct{ Status int }
		}
		if json.Unmarshal(params, &p) == nil && p.Type == "Document" {
			u.w.Update(func() { u.docs[p.LoaderID] = p.Response.Status; u.lastDoc = p.Response.Status })
		}
	}
}

// waitLoads waits until more than n page loads have happened.
func (u *User) waitLoads(ctx context.Context, n int) error {
	if err := u.w.Wait(ctx, func() bool { return u.loads > n }); err != nil {
		return fmt.Errorf("waiting for the page to load: %w", err)
	}
	return nil
}

// Page is what a navigation ended on.
type Page = realbrowser.Page

// Goto navigates as if the user typed url, answering prompts, and waits
// for the page to load. A network error (net::ERR_...) is an error.
func (u *User) Goto(ctx context.Context, url string) (Page, error) {
	var n int
	u.w.Do(func() { n = u.loads })
	var nav struct{ LoaderID, ErrorText string }
	if err := u.b.c.call(ctx, u.session, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return Page{}, err
	}
	if nav.ErrorText != "" {
		return Page{}, fmt.Errorf("navigating to %s: %s", url, nav.ErrorText)
	}
	if err := u.waitLoads(ctx, n); err != nil {
		return Page{}, fmt.Errorf("%s: %w", url, err)
	}
	var status int
	u.w.Do(func() { status = u.docs[nav.LoaderID] })
	body, err := u.Eval(ctx, "document.body ? document.body.innerText : ''")
	return Page{Status: status, Body: body}, err
}

// SubmitForm adds a form to the current page, submits it as POST to action
// (a URL on the page's origin) with fields, and waits for the answer page.
func (u *User) SubmitForm(ctx context.Context, action string, fields map[string]string) (Page, error) {
	js, err := realbrowser.FormJS(action, fields)
	if err != nil {
		return Page{}, err
	}
	var n int
	u.w.Do(func() { n = u.loads })
	if _, err := u.Eval(ctx, js); err != nil {
		return Page{}, err
	}
	if err := u.waitLoads(ctx, n); err != nil {
		return Page{}, fmt.Errorf("form POST to %s: %w", action, err)
	}
	var status int
	u.w.Do(func() { status = u.lastDoc })
	body, err := u.Eval(ctx, "document.body ? document.body.innerText : ''")
	return Page{Status: status, Body: body}, err
}

// Eval runs JavaScript in the page, awaiting a promise, and returns the
// value (a string as is, anything else as JSON).
func (u *User) Eval(ctx context.Context, js string) (string, error) {
	var r struct {
		Result struct {
			Type  string
			Value json.RawMessage
		}
		ExceptionDetails *struct {
			Text      string
			Exception struct{ Description string }
		}
	}
	if err := u.b.c.call(ctx, u.session, "Runtime.evaluate", map[string]any{"expression": js, "awaitPromise": true, "returnByValue": true}, &r); err != nil {
		return "", err
	}
	if e := r.ExceptionDetails; e != nil {
		return "", fmt.Errorf("javascript: %s %s", e.Text, e.Exception.Description)
	}
	var s string
	if json.Unmarshal(r.Result.Value, &s) == nil {
		return s, nil
	}
	return string(r.Result.Value), nil
}

// Prompts returns the authentication prompts so far.
func (u *User) Prompts() []Prompt {
	var ps []Prompt
	u.w.Do(func() { ps = append(ps, u.prompts...) })
	return ps
}

// Cookie is a browser cookie, as much of it as CopyCookies carries.
type Cookie struct {
	Name     string  `json:"name"`
	Value    string  `json:"value"`
	Domain   string  `json:"domain"`
	Path     string  `json:"path"`
	Expires  float64 `json:"expires,omitempty"`
	HTTPOnly bool    `json:"httpOnly"`
	Secure   bool    `json:"secure"`
	SameSite string  `json:"sameSite,omitempty"`
}

// Cookies returns the cookies of u's browser context.
func (u *User) Cookies(ctx context.Context) ([]Cookie, error) {
	var r struct{ Cookies []Cookie }
	err := u.b.c.call(ctx, "", "Storage.getCookies", map[string]any{"browserContextId": u.context}, &r)
	return r.Cookies, err
}

// SetCookies stores cookies in u's browser context.
func (u *User) SetCookies(ctx context.Context, cs []Cookie) error {
	for i := range cs {
		if cs[i].Expires < 0 {
			cs[i].Expires = 0 // a session cookie
		}
	}
	return u.b.c.call(ctx, "", "Storage.setCookies", map[string]any{"cookies": cs, "browserContextId": u.context}, nil)
}
