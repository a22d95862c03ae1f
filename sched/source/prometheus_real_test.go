package source

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rewind-vod/rewind/internal/promtest"
	"github.com/rewind-vod/rewind/sched/qos"
)

// TestPrometheusMatchesInProcess feeds the same reports to a collector
// that a real Prometheus scrapes and that InProcess readers sample, and
// checks that the Prometheus reader's windows equal the in-process ones:
// over a minute (series new in the window count from 0), and over 4 s
// that start after the first reports (the offset subtracts them); after a
// collector restart, a counter reset counts from 0. Then Prometheus is
// stopped: the runner goes Stale within its deadline,
// carrying the last good windows.
func TestPrometheusMatchesInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("real Prometheus: not in -short")
	}
	reg := prometheus.NewRegistry()
	c := newCollector(t, reg)
	// The target serves one collector's metrics, then (a restart) another's.
	var served atomic.Pointer[http.Handler]
	serve := func(reg *prometheus.Registry) {
		h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		served.Store(&h)
	}
	serve(reg)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*served.Load()).ServeHTTP(w, r) }))
	t.Cleanup(target.Close)
	prom := promtest.Start(t, promtest.Config{Job: "collect", Targets: []string{target.Listener.Addr().String()}})
	promURL := prom.URL

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	newIn := func(span time.Duration) *InProcess {
		p, err := NewInProcess(c.Aggregator(), InProcessConfig{Span: span, Interval: 250 * time.Millisecond, Regions: testRegions})
		if err != nil {
			t.Fatal(err)
		}
		go p.Run(ctx)
		return p
	}
	newProm := func(span time.Duration) *Prometheus {
		p, err := NewPrometheus(PrometheusConfig{URL: promURL, Span: span, Timeout: 5 * time.Second,
			Selector: `job="collect"`, Regions: testRegions}, quietLog(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	inLong, inShort := newIn(time.Minute), newIn(4*time.Second)
	promLong, promShort := newProm(time.Minute), newProm(4*time.Second)
	compare := func(what string, in *InProcess, pr *Prometheus, want map[qos.Key]qos.Window) {
		t.Helper()
		a, err := in.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := pr.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Source != "prometheus" || b.State != qos.Fresh || b.Span != pr.Span() {
			t.Errorf("%s: prometheus snapshot header %+v", what, b)
		}
		assertWindows(t, what+": prometheus vs inprocess", b.Windows, a.Windows)
		assertWindows(t, what+": inprocess vs expected", a.Windows, want)
	}

	feedPhase1(t, c)
	fed1 := time.Now()
	prom.WaitScraped(t, fed1)
	scraped1 := time.Now()
	compare("phase 1, 1m", inLong, promLong, map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: with(phase1, func(w *qos.Window) { w.RelayConnectFailures = 1 }),
	})

	// A quiet gap longer than the short span, so that its window starts
	// after phase 1 on both sides (Prometheus's base is the scrape at or
	// before the start, the in-process one the sample at or after it).
	time.Sleep(time.Until(scraped1.Add(5 * time.Second)))
	feedPhase2(t, c)
	prom.WaitScraped(t, time.Now())
	scraped2 := time.Now()

	relayC := qos.Window{RelayReconnects: 2, RelayDroppedFrames: 7}
	push := qos.Window{PushPublishErrors: 1, PushDroppedFrames: 3, PushFrames: 600}
	relayA := func(n float64) func(*qos.Window) { return func(w *qos.Window) { w.RelayConnectFailures = n } }
	compare("phase 2, 4s", inShort, promShort, map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: with(qos.Window{}, relayA(1)),
		{CDN: "cdn-a", Region: "us"}: with(push, relayA(1)),
		{CDN: "cdn-b", Region: "us"}: phase2,
		{CDN: "cdn-c", Region: "eu"}: relayC,
		{CDN: "cdn-c", Region: "us"}: relayC,
	})
	full := map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: with(phase1, relayA(2)),
		{CDN: "cdn-a", Region: "us"}: with(push, relayA(2)),
		{CDN: "cdn-b", Region: "us"}: phase2,
		{CDN: "cdn-c", Region: "eu"}: relayC,
		{CDN: "cdn-c", Region: "us"}: relayC,
	}
	compare("phases 1 and 2, 1m", inLong, promLong, full)

	// The collector restarts (its counters from 0) and counts less than
	// before within the short span: a reset counts what the series holds
	// now; series the new collector does not have are gone.
	time.Sleep(time.Until(scraped2.Add(5 * time.Second)))
	reg2 := prometheus.NewRegistry()
	c2 := newCollector(t, reg2)
	c2.Aggregator().AddCMCD("cdn-a", "eu", parseCMCD(t, `br=3200,bs,d=4000,ot=v,sid="s9"`))
	serve(reg2)
	prom.WaitScraped(t, time.Now())
	after, err := promShort.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertWindows(t, "after a restart, 4s", after.Windows, map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: {Stalls: 1, WatchedSeconds: 4, Bytes: 1_600_000},
	})

	// Prometheus stopped: Stale within the deadline, the last good data
	// carried.
	clk := newFakeClock()
	var got []qos.Snapshot
	rn, err := NewRunner(promLong, nil, func(s qos.Snapshot) { got = append(got, s) },
		RunnerConfig{Interval: 10 * time.Second, Timeout: 2 * time.Second, MaxAge: time.Minute, Now: clk.Now}, quietLog(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	good := rn.Round(ctx)
	if good.State != qos.Fresh || len(good.Windows) == 0 {
		t.Fatalf("before the stop: %s with %d windows", good.State, len(good.Windows))
	}
	prom.Stop()
	clk.Advance(10 * time.Second)
	start := time.Now()
	s := rn.Round(ctx)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("round took %v with Prometheus stopped, deadline 2s", took)
	}
	if s.State != qos.Stale {
		t.Fatalf("Prometheus stopped: %s, want stale", s.State)
	}
	assertWindows(t, "stale", s.Windows, good.Windows)
	if len(got) != 2 {
		t.Fatalf("update called %d times, want 2", len(got))
	}
}
