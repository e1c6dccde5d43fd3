package firefox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/goauthenntlm/goauthenntlm/internal/realbrowser"
)

// User is one user context (Firefox's container: its own cookies, HTTP
// auth cache and connections) with one tab, whose authentication prompts
// are answered with its credentials once per request: a repeated prompt
// for the same request (a refused password) is cancelled, as a user would.
type User struct {
	b                  *Browser
	userContext, tab   string
	username, password string

	w       realbrowser.Watch // guards what follows
	loads   int
	docs    map[string]int // main-document status by navigation id
	lastDoc int
	asked   map[string]int // prompts per request
	prompts []realbrowser.Prompt
}

// NewUser opens a fresh user context with a blank tab. username is typed
// as given at the prompt (EXAMPLE\jdoe); "" cancels every prompt.
func (b *Browser) NewUser(ctx context.Context, username, password string) (*User, error) {
	u := &User{b: b, username: username, password: password, docs: map[string]int{}, asked: map[string]int{}}
	var uc struct{ UserContext string }
	if err := b.c.call(ctx, "browser.createUserContext", nil, &uc); err != nil {
		return nil, err
	}
	u.userContext = uc.UserContext
	var bc struct{ Context string }
	if err := b.c.call(ctx, "browsingContext.create", map[string]any{"type": "tab", "userContext": u.userContext}, &bc); err != nil {
		return nil, err
	}
	u.tab = bc.Context
	b.mu.Lock()
	b.users[u.tab] = u
	b.mu.Unlock()
	return u, nil
}

// event handles what the browser reports, on the socket's reading goroutine.
func (b *Browser) event(method string, params json.RawMessage) {
	var p struct {
		Context    string
		Navigation *string
		IsBlocked  bool
		Request    struct{ Request, URL string }
		Response   struct {
			Status         int
			AuthChallenges []struct{ Scheme, Realm string }
		}
	}
	if json.Unmarshal(params, &p) != nil {
		return
	}
	b.mu.Lock()
	u := b.users[p.Context]
	b.mu.Unlock()
	switch method {
	case "network.authRequired":
		if !p.IsBlocked {
			return
		}
		if u == nil { // a prompt in a tab of no user: nobody types anything
			b.c.send("network.continueWithAuth", map[string]any{"request": p.Request.Request, "action": "cancel"})
			return
		}
		pr := realbrowser.Prompt{URL: p.Request.URL}
		if len(p.Response.AuthChallenges) > 0 {
			pr.Scheme, pr.Realm = p.Response.AuthChallenges[0].Scheme, p.Response.AuthChallenges[0].Realm
		}
		u.w.Do(func() {
			u.asked[p.Request.Request]++
			pr.Answered = u.asked[p.Request.Request] == 1 && u.username != ""
			u.prompts = append(u.prompts, pr)
		})
		answer := map[string]any{"request": p.Request.Request, "action": "cancel"}
		if pr.Answered {
			answer = map[string]any{"request": p.Request.Request, "action": "provideCredentials",
				"credentials": map[string]any{"type": "password", "username": u.username, "password": u.password}}
		}
		b.c.send("network.continueWithAuth", answer)
	case "network.responseCompleted":
		if u != nil && p.Navigation != nil {
			u.w.Update(func() { u.docs[*p.Navigation] = p.Response.Status; u.lastDoc = p.Response.Status })
		}
	case "browsingContext.load":
		if u != nil {
			u.w.Update(func() { u.loads++ })
		}
	}
}

// Goto navigates as if the user typed url, answering prompts, and waits
// for the page to load. A network error is an error.
func (u *User) Goto(ctx context.Context, url string) (realbrowser.Page, error) {
	var nav struct{ Navigation string }
	if err := u.b.c.call(ctx, "browsingContext.navigate", map[string]any{"context": u.tab, "url": url, "wait": "complete"}, &nav); err != nil {
		return realbrowser.Page{}, fmt.Errorf("navigating to %s: %w", url, err)
	}
	var status int
	u.w.Do(func() { status = u.docs[nav.Navigation] })
	body, err := u.Eval(ctx, "document.body ? document.body.innerText : ''")
	return realbrowser.Page{Status: status, Body: body}, err
}

// SubmitForm adds a form to the current page, submits it as POST to action
// (a URL on the page's origin) with fields, and waits for the answer page.
func (u *User) SubmitForm(ctx context.Context, action string, fields map[string]string) (realbrowser.Page, error) {
	js, err := realbrowser.FormJS(action, fields)
	if err != nil {
		return realbrowser.Page{}, err
	}
	var n, status int
	u.w.Do(func() { n = u.loads })
	if _, err := u.Eval(ctx, js); err != nil {
		return realbrowser.Page{}, err
	}
	if err := u.w.Wait(ctx, func() bool { return u.loads > n }); err != nil {
		return realbrowser.Page{}, fmt.Errorf("form POST to %s: waiting for the page to load: %w", action, err)
	}
	u.w.Do(func() { status = u.lastDoc })
	body, err := u.Eval(ctx, "document.body ? document.body.innerText : ''")
	return realbrowser.Page{Status: status, Body: body}, err
}

// Eval runs JavaScript in the page, awaiting a promise, and returns the
// value (a string as is, anything else as JSON).
func (u *User) Eval(ctx context.Context, js string) (string, error) {
	var r struct {
		Type   string
		Result struct {
			Type  string
			Value json.RawMessage
		}
		ExceptionDetails struct{ Text string }
	}
	if err := u.b.c.call(ctx, "script.evaluate", map[string]any{
		"expression": js, "target": map[string]any{"context": u.tab}, "awaitPromise": true,
	}, &r); err != nil {
		return "", err
	}
	if r.Type == "exception" {
		return "", fmt.Errorf("javascript: %s", r.ExceptionDetails.Text)
	}
	var s string
	if r.Result.Type == "string" && json.Unmarshal(r.Result.Value, &s) == nil {
		return s, nil
	}
	return string(r.Result.Value), nil
}

// Prompts returns the authentication prompts so far.
func (u *User) Prompts() []realbrowser.Prompt {
	var ps []realbrowser.Prompt
	u.w.Do(func() { ps = append(ps, u.prompts...) })
	return ps
}

// cookie is a BiDi network.Cookie, as much of it as CopyCookies carries.
type cookie struct {
	Name  string `json:"name"`
	Value struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"value"`
	Domain   string `json:"domain"`
	Path     string `json:"path"`
	HTTPOnly bool   `json:"httpOnly"`
	Secure   bool   `json:"secure"`
	SameSite string `json:"sameSite,omitempty"`
	Expiry   *int64 `json:"expiry,omitempty"`
}

// CopyCookies stores u's cookies in to's user context (a new browser
// holding them: its requests go on connections of its own).
func (u *User) CopyCookies(ctx context.Context, to *User) error {
	var r struct{ Cookies []cookie }
	if err := u.b.c.call(ctx, "storage.getCookies", map[string]any{
		"partition": map[string]any{"type": "storageKey", "userContext": u.userContext},
	}, &r); err != nil {
		return err
	}
	for _, c := range r.Cookies {
		if err := to.b.c.call(ctx, "storage.setCookie", map[string]any{
			"cookie":    c,
			"partition": map[string]any{"type": "storageKey", "userContext": to.userContext},
		}, nil); err != nil {
			return fmt.Errorf("cookie %s: %w", c.Name, err)
		}
	}
	return nil
}
