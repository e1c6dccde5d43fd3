// Package metrics shows what the authorizer does to Prometheus and to a
// health check, on a listener of its own (metrics_listen): /metrics and
// /healthz.
//
// Metrics implements authorizer.Observer: counters are bumped at the
// decision points, the ones on the authenticated hot path through label
// values resolved once, here, so that a request costs an atomic add and
// no allocation. Gauges (DC state, table sizes) are read at scrape time
// from the Authorizer in service. Everything lives in a private
// prometheus.Registry: nothing global.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/goauthenntlm/goauthenntlm/pkg/authorizer"
	"github.com/goauthenntlm/goauthenntlm/pkg/delegation"
	"github.com/goauthenntlm/goauthenntlm/pkg/kdc"
	"github.com/goauthenntlm/goauthenntlm/pkg/kerberos"
)

const ns = "goauthenntlm"

// Source is the Authorizer in service; a reload replaces it.
type Source func() *authorizer.Authorizer

// Metrics holds the counters and the registry they are exported from.
type Metrics struct {
	reg *prometheus.Registry

	logins        *prometheus.CounterVec   // scheme, result, status
	loginDuration *prometheus.HistogramVec // scheme, result
	responses     *prometheus.CounterVec   // code
	byCode        map[int]prometheus.Counter
	reused        [2]prometheus.Counter  // by authorizer.Via
	groupsCached  [2]prometheus.Counter  // miss, hit
	groupLookups  [3]prometheus.Counter  // by authorizer.LookupResult
	krbRefused    *prometheus.CounterVec // cause
	pacSIDs       prometheus.Counter
	delegations   *prometheus.CounterVec // outcome
	epaRefused    *prometheus.CounterVec // cause
	basicKDC      *prometheus.CounterVec // result
}

// commonCodes are the answers the authorizer gives; their counters are
// resolved up front.
var commonCodes = []int{200, 400, 401, 403, 500, 503}

// New registers the authorizer's metrics, Go's runtime metrics and the
// process's, and reads gauges from src and health at scrape time.
func New(src Source, health *Health) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "logins_total",
		Help: "Login attempts at a DC by scheme and result (ok, refused, not_allowed, dc_failure), with the DC's NTSTATUS when it gave one."},
		[]string{"scheme", "result", "status"})
	m.loginDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "login_duration_seconds",
		Help:    "Time from a login's first message (NTLM Type1, or the Basic request) to its answer.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}},
		[]string{"scheme", "result"})
	m.responses = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "responses_total",
		Help: "Answers to Apache by HTTP status."}, []string{"code"})
	m.byCode = map[int]prometheus.Counter{}
	for _, c := range commonCodes {
		m.byCode[c] = m.responses.WithLabelValues(strconv.Itoa(c))
	}
	reused := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "reused_total",
		Help: "Requests let through without a handshake: on an authenticated connection, or on the login cookie."}, []string{"via"})
	m.reused[authorizer.ViaConnection] = reused.WithLabelValues("connection")
	m.reused[authorizer.ViaCookie] = reused.WithLabelValues("cookie")
	cached := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "group_cache_requests_total",
		Help: "Memberships wanted by the authorizer, found fresh in its memory (hit) or not (miss: a lookup follows)."}, []string{"result"})
	m.groupsCached[0], m.groupsCached[1] = cached.WithLabelValues("miss"), cached.WithLabelValues("hit")
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "group_lookups_total",
		Help: "Memberships lookups (the shared disk cache, then LDAP) by result: ok, stale (LDAP down, expired entry served), failed."}, []string{"result"})
	m.groupLookups[authorizer.LookupOK] = lookups.WithLabelValues("ok")
	m.groupLookups[authorizer.LookupStale] = lookups.WithLabelValues("stale")
	m.groupLookups[authorizer.LookupFailed] = lookups.WithLabelValues("failed")

	m.krbRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "kerberos_refused_total",
		Help: "Kerberos tokens refused, by cause (no_key, kvno, decrypt, enctype, skew, ticket_time, realm, realm_untrusted, replay, pac, pac_client, malformed, replay_full, replay_principal_full): the WARN line of each says the remedy."}, []string{"cause"})
	for _, c := range kerberos.Causes {
		m.krbRefused.WithLabelValues(string(c))
	}
	m.pacSIDs = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "pac_sid_searches_total",
		Help: "Directory searches naming the group SIDs of Kerberos PACs: once per SID and groups.cache_ttl, not per login."})
	m.epaRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "epa_refused_total",
		Help: "Logins refused by Extended Protection (NTLM before the DC saw them, and Kerberos), by cause: binding_mismatch, binding_missing, binding_over_http, target_name, malformed."},
		[]string{"cause"})
	m.basicKDC = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "basic_kdc_total",
		Help: "Basic passwords checked by the KDC (domains with basic = \"kerberos\"), by result: ok (AS and TGS exchanges made), cached (taken from the Basic cache, no KDC exchange), ticket_refused (our keytab did not open the KDC's ticket), or the KDC's cause (wrong_credentials, account_disabled, account_locked, account_expired, password_expired, password_must_change, clock_skew, kdc_unreachable, ...)."},
		[]string{"result"})
	for _, r := range append([]string{"ok", "cached", "ticket_refused"}, kdcCauses()...) {
		m.basicKDC.WithLabelValues(r)
	}
	m.delegations = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "delegations_total",
		Help: "Logins at delegating locations, by how handing the application the user's credentials ended (forwarded, s4u2proxy, protocol_transition, not_delegable, kdc_refused, kdc_unreachable, busy, none_sent, bad_krbcred, full, write_failed): the log line of each says why."},
		[]string{"outcome"})
	for _, o := range delegation.Outcomes {
		m.delegations.WithLabelValues(string(o))
	}
	m.reg.MustRegister(m.logins, m.loginDuration, m.responses, reused, cached, lookups, m.krbRefused, m.pacSIDs, m.epaRefused, m.basicKDC, m.delegations,
		&gauges{src: src, health: health},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Login implements authorizer.Observer.
func (m *Metrics) Login(o authorizer.Outcome) {
	scheme, result := o.Scheme.String(), o.Result.String()
	status := ""
	if o.Result == authorizer.ResultOK || o.Status != 0 {
		status = o.Status.String()
	}
	m.logins.WithLabelValues(scheme, result, status).Inc()
	m.loginDuration.WithLabelValues(scheme, result).Observe(o.Took.Seconds())
}

var _ authorizer.KerberosObserver = (*Metrics)(nil)

// KerberosRefused implements authorizer.KerberosObserver.
func (m *Metrics) KerberosRefused(c kerberos.Cause) { m.krbRefused.WithLabelValues(string(c)).Inc() }

var _ authorizer.BasicKDCObserver = (*Metrics)(nil)

// BasicKDC implements authorizer.BasicKDCObserver.
func (m *Metrics) BasicKDC(result string) { m.basicKDC.WithLabelValues(result).Inc() }

func kdcCauses() []string {
	out := make([]string, 0, len(kdc.Causes))
	for _, c := range kdc.Causes {
		out = append(out, string(c))
	}
	return out
}

// PACSIDSearch implements authorizer.KerberosObserver.
func (m *Metrics) PACSIDSearch() { m.pacSIDs.Inc() }

var _ authorizer.DelegationObserver = (*Metrics)(nil)

// Delegated implements authorizer.DelegationObserver.
func (m *Metrics) Delegated(o delegation.Outcome) { m.delegations.WithLabelValues(string(o)).Inc() }

// Answered implements authorizer.Observer.
func (m *Metrics) Answered(code int) {
	if c, ok := m.byCode[code]; ok {
		c.Inc()
		return
	}
	m.responses.WithLabelValues(strconv.Itoa(code)).Inc()
}

// Reused implements authorizer.Observer.
func (m *Metrics) Reused(v authorizer.Via) {
	if int(v) < len(m.reused) {
		m.reused[v].Inc()
	}
}

// GroupsCached implements authorizer.Observer.
func (m *Metrics) GroupsCached(hit bool) {
	if hit {
		m.groupsCached[1].Inc()
	} else {
		m.groupsCached[0].Inc()
	}
}

// GroupLookup implements authorizer.Observer.
func (m *Metrics) GroupLookup(r authorizer.LookupResult) {
	if int(r) < len(m.groupLookups) {
		m.groupLookups[r].Inc()
	}
}

// EPARefused implements authorizer.EPAObserver.
func (m *Metrics) EPARefused(c authorizer.EPACause) {
	m.epaRefused.WithLabelValues(string(c)).Inc()
}

// Handler serves /metrics and /healthz.
func (m *Metrics) Handler(health *Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /healthz", health)
	return mux
}

// gauges reads the state of the Authorizer in service at scrape time.
type gauges struct {
	src    Source
	health *Health
}

var (
	dcUpDesc = prometheus.NewDesc(ns+"_dc_up",
		"1 when the DC answered the last health probe (SMB2 negotiate) and is not marked down after failed logins.", []string{"domain", "dc"}, nil)
	dcDownDesc = prometheus.NewDesc(ns+"_dc_marked_down",
		"1 while the relay skips the DC after a failure (dc.down_backoff).", []string{"domain", "dc"}, nil)
	dcInFlightDesc = prometheus.NewDesc(ns+"_dc_in_flight",
		"Handshake steps at the DC now (at most dc.max_in_flight_per_dc).", []string{"domain", "dc"}, nil)
	dcConnsDesc = prometheus.NewDesc(ns+"_dc_connections",
		"Open SMB2 connections to the DC.", []string{"domain", "dc"}, nil)
	pendingDesc = prometheus.NewDesc(ns+"_pending_handshakes",
		"Handshakes between their Type2 and Type3.", nil, nil)
	connsDesc = prometheus.NewDesc(ns+"_tracked_connections",
		"Authenticated client connections remembered.", nil, nil)
	evictedDesc = prometheus.NewDesc(ns+"_pending_evicted_total",
		"Pending handshakes dropped at a max_pending limit for a newer one.", nil, nil)
	replayDesc = prometheus.NewDesc(ns+"_kerberos_replay_entries",
		"Kerberos authenticators the replay cache holds (live, or expired and not yet swept); past 3/4 of kerberos_replay_slots the heaviest accounts are refused, past 7/8 every Kerberos login.", nil, nil)
	replaySlotsDesc = prometheus.NewDesc(ns+"_kerberos_replay_slots",
		"The replay cache's size in entries.", nil, nil)
)

// sizedStore is a replay store that tells its fill (replay.Table).
type sizedStore interface {
	Len() int
	Slots() int
}

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dcUpDesc, dcDownDesc, dcInFlightDesc, dcConnsDesc, pendingDesc, connsDesc, evictedDesc, replayDesc, replaySlotsDesc} {
		ch <- d
	}
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	a := g.src()
	if a == nil {
		return
	}
	for _, d := range a.DCStats() {
		for _, s := range d.DCs {
			ch <- prometheus.MustNewConstMetric(dcUpDesc, prometheus.GaugeValue, b2f(g.health.up(s)), d.Domain, s.Addr)
			ch <- prometheus.MustNewConstMetric(dcDownDesc, prometheus.GaugeValue, b2f(s.Down), d.Domain, s.Addr)
			ch <- prometheus.MustNewConstMetric(dcInFlightDesc, prometheus.GaugeValue, float64(s.InFlight), d.Domain, s.Addr)
			ch <- prometheus.MustNewConstMetric(dcConnsDesc, prometheus.GaugeValue, float64(s.Conns), d.Domain, s.Addr)
		}
	}
	st := a.Table().Stats()
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(connsDesc, prometheus.GaugeValue, float64(st.Connections))
	ch <- prometheus.MustNewConstMetric(evictedDesc, prometheus.CounterValue, float64(st.Evicted))
	if r, ok := a.KerberosReplay().(sizedStore); ok {
		ch <- prometheus.MustNewConstMetric(replayDesc, prometheus.GaugeValue, float64(r.Len()))
		ch <- prometheus.MustNewConstMetric(replaySlotsDesc, prometheus.GaugeValue, float64(r.Slots()))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var _ authorizer.Observer = (*Metrics)(nil)
