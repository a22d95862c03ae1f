package source

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/sched/qos"
)

// fakePrometheus answers /api/v1/query with a fixed vector, an error, or
// not at all (it hangs until the client gives up), as mode says.
type fakePrometheus struct {
	mode    atomic.Value // "ok", "error", "hang"
	queries atomic.Int64
	srv     *httptest.Server
}

const fakeVector = `{"status":"success","data":{"resultType":"vector","result":[
 {"metric":{"field":"stalls","cdn":"cdn-a","region":"eu"},"value":[1764644400,"3"]},
 {"metric":{"field":"watched_seconds","cdn":"cdn-a","region":"eu"},"value":[1764644400,"120.5"]},
 {"metric":{"field":"relay_reconnects","cdn":"cdn-b"},"value":[1764644400,"2"]}]}}`

func newFakePrometheus(t *testing.T) *fakePrometheus {
	f := &fakePrometheus{}
	f.mode.Store("ok")
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		f.queries.Add(1)
		if !strings.Contains(r.FormValue("query"), "rewind_qos_stalls_total") {
			http.Error(w, `{"status":"error","errorType":"bad_data","error":"unexpected query"}`, http.StatusBadRequest)
			return
		}
		switch f.mode.Load() {
		case "hang":
			<-r.Context().Done()
		case "error":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"error","errorType":"unavailable","error":"tsdb not ready"}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(fakeVector))
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

var fakeWindows = map[qos.Key]qos.Window{
	{CDN: "cdn-a", Region: "eu"}: {Stalls: 3, WatchedSeconds: 120.5},
	{CDN: "cdn-b", Region: "eu"}: {RelayReconnects: 2}, // relay-only: the regions the snapshot has
}

func gauge(t *testing.T, g *prometheus.GaugeVec, lv ...string) float64 {
	t.Helper()
	return testutil.ToFloat64(g.WithLabelValues(lv...))
}

// TestRunnerDegrades: Fresh while Prometheus answers; Stale, carrying the
// last good windows, within the deadline when it hangs or fails; Missing
// once the last good answer is older than MaxAge; Fresh again when it
// answers. The state and age gauges follow.
func TestRunnerDegrades(t *testing.T) {
	fake := newFakePrometheus(t)
	clk := newFakeClock()
	reg := prometheus.NewRegistry()
	pr, err := NewPrometheus(PrometheusConfig{URL: fake.srv.URL, Span: time.Minute, Timeout: 5 * time.Second, Now: clk.Now}, quietLog(), reg)
	if err != nil {
		t.Fatal(err)
	}
	var updates []qos.Snapshot
	rn, err := NewRunner(pr, nil, func(s qos.Snapshot) { updates = append(updates, s) },
		RunnerConfig{Interval: 10 * time.Second, Timeout: 300 * time.Millisecond, MaxAge: 30 * time.Second, Now: clk.Now}, quietLog(), reg)
	if err != nil {
		t.Fatal(err)
	}
	if rn.State() != qos.Missing || gauge(t, rn.stateGauge, "prometheus", "missing") != 1 {
		t.Fatal("before the first round: not missing")
	}
	round := func(what string, want qos.State, maxTook time.Duration) qos.Snapshot {
		t.Helper()
		start := time.Now()
		s := rn.Round(context.Background())
		if took := time.Since(start); took > maxTook {
			t.Fatalf("%s: round took %v, want under %v", what, took, maxTook)
		}
		if s.State != want || rn.State() != want {
			t.Fatalf("%s: state %s, want %s", what, s.State, want)
		}
		for _, st := range states {
			v := 0.0
			if st == want {
				v = 1
			}
			if g := gauge(t, rn.stateGauge, "prometheus", string(st)); g != v {
				t.Fatalf("%s: rewind_sched_input_state{state=%s} = %v, want %v", what, st, g, v)
			}
		}
		if s.Source != "prometheus" || s.Span != time.Minute {
			t.Fatalf("%s: header %+v", what, s)
		}
		if updates[len(updates)-1].State != want {
			t.Fatalf("%s: update got %s", what, updates[len(updates)-1].State)
		}
		return s
	}

	fresh := round("answering", qos.Fresh, 2*time.Second)
	assertWindows(t, "fresh", fresh.Windows, fakeWindows)
	if !fresh.At.Equal(clk.Now()) {
		t.Fatalf("At %v, want the query time %v", fresh.At, clk.Now())
	}
	goodAt := fresh.At

	fake.mode.Store("hang")
	clk.Advance(10 * time.Second)
	s := round("hanging", qos.Stale, 2*time.Second) // deadline 300 ms
	assertWindows(t, "stale (hang)", s.Windows, fakeWindows)
	if !s.At.Equal(goodAt) {
		t.Fatalf("stale At %v, want the last good one %v", s.At, goodAt)
	}
	if age := gauge(t, rn.ageGauge, "prometheus"); age != 10 {
		t.Fatalf("age %v, want 10", age)
	}

	fake.mode.Store("error")
	clk.Advance(10 * time.Second)
	s = round("failing", qos.Stale, 2*time.Second)
	assertWindows(t, "stale (error)", s.Windows, fakeWindows)

	clk.Advance(11 * time.Second) // 31 s since the last good answer
	s = round("too old", qos.Missing, 2*time.Second)
	if len(s.Windows) != 0 || !s.At.Equal(clk.Now()) {
		t.Fatalf("missing snapshot carries %+v at %v", s.Windows, s.At)
	}
	if age := gauge(t, rn.ageGauge, "prometheus"); age != 31 {
		t.Fatalf("age %v, want 31", age)
	}

	fake.mode.Store("ok")
	clk.Advance(10 * time.Second)
	round("answering again", qos.Fresh, 2*time.Second)
	if age := gauge(t, rn.ageGauge, "prometheus"); age != 0 {
		t.Fatalf("age %v, want 0", age)
	}
	if n := testutil.ToFloat64(pr.queries.WithLabelValues("timeout")); n != 1 {
		t.Errorf("timeout queries %v, want 1", n)
	}
	if n := testutil.ToFloat64(pr.queries.WithLabelValues("error")); n != 2 { // failing and too old
		t.Errorf("error queries %v, want 2", n)
	}
	if n := testutil.ToFloat64(pr.queries.WithLabelValues("ok")); n != 2 {
		t.Errorf("ok queries %v, want 2", n)
	}
}

// TestRunnerMissingFirst: a reader that never answered is Missing, not
// Stale, and a hanging Prometheus never holds a round past its deadline
// even when the reader's own timeout is longer.
func TestRunnerMissingFirst(t *testing.T) {
	fake := newFakePrometheus(t)
	fake.mode.Store("hang")
	pr, err := NewPrometheus(PrometheusConfig{URL: fake.srv.URL, Timeout: time.Minute}, quietLog(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	rn, err := NewRunner(pr, nil, func(qos.Snapshot) {}, RunnerConfig{Interval: time.Second, Timeout: 200 * time.Millisecond}, quietLog(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if s := rn.Round(context.Background()); s.State != qos.Missing || len(s.Windows) != 0 {
		t.Fatalf("first round against a hanging server: %+v", s)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("round took %v, deadline 200ms", took)
	}
}

// TestRunnerRunAndProbes: Run reads at once and on every tick, merges the
// probe counts into every window of the probed CDN (and into the
// configured regions for a CDN no window has), and stops cleanly.
func TestRunnerRunAndProbes(t *testing.T) {
	c := newCollector(t, prometheus.NewRegistry())
	feedPhase1(t, c)
	in, err := NewInProcess(c.Aggregator(), InProcessConfig{Span: time.Minute, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	feedPhase1(t, c) // after the base sample: in the window

	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	t.Cleanup(ok.Close)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	pb, err := NewProber(ProberConfig{Targets: map[string]string{"cdn-a": ok.URL, "cdn-c": down.URL},
		Interval: time.Second, Timeout: 500 * time.Millisecond}, quietLog(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	pb.ProbeOnce(context.Background())
	pb.ProbeOnce(context.Background())

	got := make(chan qos.Snapshot, 100)
	reg := prometheus.NewRegistry()
	rn, err := NewRunner(in, pb, func(s qos.Snapshot) { got <- s },
		RunnerConfig{Interval: 20 * time.Millisecond, Timeout: 10 * time.Millisecond, MaxAge: time.Second, Regions: testRegions}, quietLog(), reg)
	if err != nil {
		t.Fatal(err)
	}
	// A second runner on the same registry (another source) shares the
	// gauges instead of failing to register.
	if _, err := NewRunner(in, nil, func(qos.Snapshot) {}, RunnerConfig{}, quietLog(), reg); err != nil {
		t.Fatalf("second runner on one registry: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- rn.Run(ctx) }()
	var snaps []qos.Snapshot
	for len(snaps) < 3 {
		select {
		case s := <-got:
			snaps = append(snaps, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d updates in 5s, want 3", len(snaps))
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	s := snaps[2]
	if s.State != qos.Fresh || s.Source != "inprocess" {
		t.Fatalf("snapshot %s from %s", s.State, s.Source)
	}
	probedDown := qos.Window{ProbeFailures: 2}
	assertWindows(t, "merged", s.Windows, map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: with(phase1, func(w *qos.Window) {
			w.Sessions, w.FirstFrameSum = 0, 0                    // once per session
			w.Stalls, w.StalledSeconds, w.DroppedFrames = 1, 0, 0 // absolute per session
			w.RelayConnectFailures, w.ProbeSuccesses = 1, 2
		}),
		{CDN: "cdn-c", Region: "eu"}: probedDown,
		{CDN: "cdn-c", Region: "us"}: probedDown,
	})
	// The reader's own answer is not changed by the merge.
	s2, _ := in.Read(context.Background())
	if w := s2.Windows[qos.Key{CDN: "cdn-a", Region: "eu"}]; w.ProbeSuccesses != 0 {
		t.Fatalf("probe counts leaked into the reader's windows: %+v", w)
	}
}

func TestRunnerConfig(t *testing.T) {
	in, err := NewInProcess(newCollector(t, prometheus.NewRegistry()).Aggregator(), InProcessConfig{})
	if err != nil {
		t.Fatal(err)
	}
	up := func(qos.Snapshot) {}
	if _, err := NewRunner(nil, nil, up, RunnerConfig{}, nil, prometheus.NewRegistry()); err == nil {
		t.Error("nil reader: no error")
	}
	if _, err := NewRunner(in, nil, nil, RunnerConfig{}, nil, prometheus.NewRegistry()); err == nil {
		t.Error("nil update: no error")
	}
	for _, cfg := range []RunnerConfig{
		{Interval: -time.Second},
		{Timeout: -time.Second},
		{MaxAge: -time.Second},
		{Interval: time.Second, Timeout: 2 * time.Second},
		{Interval: time.Minute, MaxAge: time.Second},
		{Regions: []string{""}},
	} {
		if _, err := NewRunner(in, nil, up, cfg, nil, prometheus.NewRegistry()); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	rn, err := NewRunner(in, nil, up, RunnerConfig{}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if def := DefaultRunnerConfig(); rn.cfg.Interval != def.Interval || rn.cfg.Timeout != def.Timeout || rn.cfg.MaxAge != def.MaxAge {
		t.Errorf("zero config got %+v, want the defaults", rn.cfg)
	}
}
