package metrics

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/goauthenntlm/goauthenntlm/pkg/authorizer"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc"
	"github.com/goauthenntlm/goauthenntlm/pkg/dc/dctest"
	"github.com/goauthenntlm/goauthenntlm/pkg/fcgi"
)

// setup is an Authorizer on a fake DC with jdoe, observed by a Metrics.
func setup(t *testing.T) (*Metrics, *authorizer.Authorizer, *dctest.DC) {
	t.Helper()
	cfg, err := config.Parse("t.toml", []byte("[auth]\nschemes = [\"basic\"]\n[[domain]]\nname = \"EXAMPLE\"\ndcs = [\"127.0.0.1:1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	fake := dctest.New("EXAMPLE")
	fake.SetPassword("jdoe", "Secr3t!Pass")
	var a *authorizer.Authorizer
	src := func() *authorizer.Authorizer { return a }
	m := New(src, NewHealth(src, time.Hour, time.Second))
	a, err = authorizer.New(cfg, authorizer.Options{Observer: m, NewRelay: func(dc.Config) (dc.Relay, error) { return fake, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return m, a, fake
}

func basic(a *authorizer.Authorizer, user, password string) *fcgi.Response {
	return a.ServeFCGI(context.Background(), &fcgi.Request{ID: 1, Role: fcgi.RoleAuthorizer, Params: map[string]string{
		"FCGI_APACHE_ROLE": "AUTHENTICATOR", "HTTPS": "on",
		"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "443",
		"HTTP_AUTHORIZATION": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password)),
	}})
}

func TestLoginsCounted(t *testing.T) {
	m, a, fake := setup(t)
	if r := basic(a, `EXAMPLE\jdoe`, "Secr3t!Pass"); r.Status != http.StatusOK {
		t.Fatalf("right password: %d", r.Status)
	}
	if r := basic(a, `EXAMPLE\jdoe`, "wrong"); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", r.Status)
	}
	fake.Fault = func(dctest.Step) error { return dctest.Unavailable() }
	if r := basic(a, `EXAMPLE\jdoe`, "Secr3t!Pass"); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("DC down: %d", r.Status)
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"Basic", "ok", "STATUS_SUCCESS"}, 1},
		{[]string{"Basic", "refused", "STATUS_LOGON_FAILURE"}, 1},
		{[]string{"Basic", "dc_failure", ""}, 1},
	} {
		if got := testutil.ToFloat64(m.logins.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("logins_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	for code, want := range map[int]float64{200: 1, 401: 1, 503: 1} {
		if got := testutil.ToFloat64(m.byCode[code]); got != want {
			t.Errorf("responses_total{code=%d} = %v, want %v", code, got, want)
		}
	}

	m.EPARefused(authorizer.EPABindingMismatch)
	// The whole exposition lints clean and carries the gauges.
	rec := httptest.NewRecorder()
	m.Handler(NewHealth(func() *authorizer.Authorizer { return a }, time.Hour, time.Second)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{"goauthenntlm_tracked_connections 0", "goauthenntlm_pending_handshakes 0", "go_goroutines",
		`goauthenntlm_epa_refused_total{cause="binding_mismatch"} 1`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if probs, err := testutil.GatherAndLint(m.reg); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %v", err, probs)
	}
}

// The hot path's hooks cost no allocation.
func TestHotPathAllocs(t *testing.T) {
	m, _, _ := setup(t)
	if n := testing.AllocsPerRun(1000, func() {
		m.Answered(200)
		m.Reused(authorizer.ViaConnection)
		m.GroupsCached(true)
	}); n != 0 {
		t.Errorf("%v allocations per authenticated request", n)
	}
}

// /healthz says 503 before the first probe and while a domain has no DC
// that answers.
func TestHealthz(t *testing.T) {
	_, a, _ := setup(t)
	h := NewHealth(func() *authorizer.Authorizer { return a }, time.Hour, 200*time.Millisecond)
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != 503 || !strings.Contains(body, "not probed") {
		t.Errorf("before a probe: %d %q", code, body)
	}
	// The fake relay reports no DCs, so the domain has none up.
	h.probe(context.Background())
	if code, body := get(); code != 503 || !strings.Contains(body, "EXAMPLE: no DC up") {
		t.Errorf("no DC up: %d %q", code, body)
	}
}
