package source

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestProber: a healthy CDN passes, one answering 503 fails, one that
// hangs fails at the timeout without holding the round; a redirect is an
// answer (passes). Results leave the window with time.
func TestProber(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 4096))
	}))
	t.Cleanup(healthy.Close)
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	t.Cleanup(unavailable.Close)
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) }) // runs before hanging.Close
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, hanging.URL, http.StatusFound) // not followed
	}))
	t.Cleanup(redirect.Close)

	clk := newFakeClock()
	reg := prometheus.NewRegistry()
	p, err := NewProber(ProberConfig{
		Targets:  map[string]string{"cdn-a": healthy.URL, "cdn-b": unavailable.URL, "cdn-c": hanging.URL, "cdn-d": redirect.URL},
		Interval: 10 * time.Second, Timeout: 300 * time.Millisecond, Keep: time.Minute, Now: clk.Now,
	}, quietLog(), reg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		start := time.Now()
		p.ProbeOnce(context.Background())
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("a round took %v, timeout 300ms", took)
		}
		clk.Advance(10 * time.Second)
	}
	want := map[string]ProbeCount{"cdn-a": {Successes: 2}, "cdn-b": {Failures: 2}, "cdn-c": {Failures: 2}, "cdn-d": {Successes: 2}}
	if got := p.Counts(time.Minute); !equalCounts(got, want) {
		t.Fatalf("Counts = %+v, want %+v", got, want)
	}
	for cdn, c := range want {
		for result, n := range map[string]float64{"success": c.Successes, "failure": c.Failures} {
			if got := testutil.ToFloat64(p.total.WithLabelValues(cdn, result)); got != n {
				t.Errorf("rewind_sched_probe_total{%s,%s} = %v, want %v", cdn, result, got, n)
			}
		}
	}
	// Probes at t0 and t0+10; now is t0+20. A 15 s window holds one, a
	// 5 s window none; after Keep all are gone.
	if got := p.Counts(15 * time.Second); !equalCounts(got, map[string]ProbeCount{
		"cdn-a": {Successes: 1}, "cdn-b": {Failures: 1}, "cdn-c": {Failures: 1}, "cdn-d": {Successes: 1}}) {
		t.Fatalf("Counts(15s) = %+v", got)
	}
	if got := p.Counts(5 * time.Second); len(got) != 0 {
		t.Fatalf("Counts(5s) = %+v", got)
	}
	clk.Advance(2 * time.Minute)
	p.ProbeOnce(context.Background())
	p.mu.Lock()
	kept := len(p.results["cdn-a"])
	p.mu.Unlock()
	if kept != 1 {
		t.Fatalf("%d results kept past Keep, want 1", kept)
	}
}

// TestProberShutdown: a round cut short by its context records nothing
// (shutdown is not a CDN failure) and Run stops.
func TestProberShutdown(t *testing.T) {
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hanging.Close)
	p, err := NewProber(ProberConfig{Targets: map[string]string{"cdn-a": hanging.URL}, Interval: time.Minute, Timeout: 30 * time.Second},
		quietLog(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	if got := p.Counts(time.Hour); len(got) != 0 {
		t.Fatalf("shutdown recorded %+v", got)
	}
}

func TestProberConfig(t *testing.T) {
	for _, cfg := range []ProberConfig{
		{},
		{Targets: map[string]string{"cdn-a": "ftp://x/"}},
		{Targets: map[string]string{"cdn-a": "http:///path"}},
		{Targets: map[string]string{"bad cdn": "http://x/"}},
		{Targets: map[string]string{"cdn-a": "http://x/"}, Interval: -time.Second},
		{Targets: map[string]string{"cdn-a": "http://x/"}, Interval: time.Second, Timeout: 2 * time.Second},
	} {
		if _, err := NewProber(cfg, nil, prometheus.NewRegistry()); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	p, err := NewProber(ProberConfig{Targets: map[string]string{"cdn-a": "http://x/"}}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if def := DefaultProberConfig(); p.cfg.Interval != def.Interval || p.cfg.Timeout != def.Timeout || p.cfg.Keep != def.Keep {
		t.Errorf("zero config got %+v, want the defaults", p.cfg)
	}
}

func equalCounts(a, b map[string]ProbeCount) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
