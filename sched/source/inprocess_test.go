package source

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/sched/qos"
)

// TestFieldsCoverWindow: every Window value is read by the readers (the
// field table) or the runner (the two probe values), so a field added to
// the contract cannot silently stay zero.
func TestFieldsCoverWindow(t *testing.T) {
	if n := reflect.TypeOf(qos.Window{}).NumField(); n != len(fields)+2 {
		t.Fatalf("qos.Window has %d fields, the table %d plus 2 probe fields", n, len(fields))
	}
	seen := map[*float64]bool{}
	var w qos.Window
	for _, f := range fields {
		p := f.get(&w)
		if seen[p] {
			t.Fatalf("field %s maps onto a value already mapped", f.name)
		}
		seen[p] = true
	}
}

// TestInProcessWindows: a fixed sequence of reports and an injected
// clock; each window is the difference between the newest sample and the
// oldest one at or after now-Span, relay totals copied into the CDN's
// windows (and into the configured regions for a relay-only CDN).
func TestInProcessWindows(t *testing.T) {
	clk := newFakeClock()
	c := newCollector(t, prometheus.NewRegistry())
	p, err := NewInProcess(c.Aggregator(), InProcessConfig{Span: time.Minute, Interval: 10 * time.Second, Regions: testRegions, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	read := func() qos.Snapshot {
		t.Helper()
		s, err := p.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.Source != "inprocess" || s.Span != time.Minute || s.State != qos.Fresh || !s.At.Equal(clk.Now()) {
			t.Fatalf("snapshot header %+v", s)
		}
		return s
	}
	// tick advances the clock in 10 s steps, sampling as Run would.
	tick := func(n int) {
		for range n {
			clk.Advance(10 * time.Second)
			p.Sample()
		}
	}

	if s := read(); len(s.Windows) != 0 {
		t.Fatalf("empty aggregator: %+v", s.Windows)
	}
	clk.Advance(5 * time.Second) // t0+5
	feedPhase1(t, c)
	assertWindows(t, "t0+5", read().Windows, map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: with(phase1, func(w *qos.Window) { w.RelayConnectFailures = 1 }),
	})

	tick(2) // t0+15, t0+25
	feedPhase2(t, c)
	clk.Advance(5 * time.Second) // t0+30
	relayA2 := func(w *qos.Window) { w.RelayConnectFailures = 2 }
	relayC := qos.Window{RelayReconnects: 2, RelayDroppedFrames: 7}
	assertWindows(t, "t0+30", read().Windows, map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: with(phase1, relayA2),
		{CDN: "cdn-a", Region: "us"}: with(qos.Window{PushPublishErrors: 1, PushDroppedFrames: 3, PushFrames: 600}, relayA2),
		{CDN: "cdn-b", Region: "us"}: phase2,
		{CDN: "cdn-c", Region: "eu"}: relayC,
		{CDN: "cdn-c", Region: "us"}: relayC,
	})

	// t0+75: the window starts at t0+15, the first sample after phase 1.
	tick(4) // t0+40 .. t0+70
	clk.Advance(5 * time.Second)
	relayA1 := func(w *qos.Window) { w.RelayConnectFailures = 1 }
	assertWindows(t, "t0+75", read().Windows, map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: with(qos.Window{}, relayA1),
		{CDN: "cdn-a", Region: "us"}: with(qos.Window{PushPublishErrors: 1, PushDroppedFrames: 3, PushFrames: 600}, relayA1),
		{CDN: "cdn-b", Region: "us"}: phase2,
		{CDN: "cdn-c", Region: "eu"}: relayC,
		{CDN: "cdn-c", Region: "us"}: relayC,
	})

	// A minute after phase 2 nothing grew: every key is there, at zero.
	tick(3)
	s := read()
	for _, k := range s.Keys() {
		if s.Windows[k] != (qos.Window{}) {
			t.Errorf("t0+105: %v = %+v, want zero", k, s.Windows[k])
		}
	}
	if len(s.Windows) != 5 {
		t.Errorf("t0+105: %d windows, want 5", len(s.Windows))
	}
}

// TestInProcessSamplesBounded: reads far more often than the interval do
// not grow the sample ring past Span/Interval+2.
func TestInProcessSamplesBounded(t *testing.T) {
	clk := newFakeClock()
	c := newCollector(t, prometheus.NewRegistry())
	p, err := NewInProcess(c.Aggregator(), InProcessConfig{Span: time.Minute, Interval: 10 * time.Second, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		clk.Advance(time.Second / 3)
		if i%7 == 0 {
			feedPhase1(t, c)
		}
		if _, err := p.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
		p.mu.Lock()
		n := len(p.samples)
		p.mu.Unlock()
		if n > 8 {
			t.Fatalf("after %d reads: %d samples", i+1, n)
		}
	}
	// The window still spans 50..60 s (its base is the oldest sample in
	// the last minute, samples 10 s apart): one feed every 7/3 s, 21..26
	// (counted by watched time: the v2 session counters are absolute).
	s, _ := p.Read(context.Background())
	got := s.Windows[qos.Key{CDN: "cdn-a", Region: "eu"}].WatchedSeconds / phase1.WatchedSeconds
	if got < 20 || got > 27 {
		t.Fatalf("window holds %v feeds, want 21..26", got)
	}
}

func TestIncreaseResets(t *testing.T) {
	for _, c := range []struct{ cur, old, want float64 }{
		{10, 4, 6}, {4, 4, 0}, {3, 10, 3}, {0, 10, 0}, {5, 0, 5},
	} {
		if got := increase(c.cur, c.old); got != c.want {
			t.Errorf("increase(%v, %v) = %v, want %v", c.cur, c.old, got, c.want)
		}
	}
}

func TestInProcessConfig(t *testing.T) {
	c := newCollector(t, prometheus.NewRegistry())
	if _, err := NewInProcess(nil, InProcessConfig{}); err == nil {
		t.Error("nil aggregator: no error")
	}
	for _, cfg := range []InProcessConfig{
		{Span: -time.Second},
		{Interval: -time.Second},
		{Span: time.Minute, Interval: time.Minute},
		{Regions: []string{"eu", "eu"}},
		{Regions: []string{"e u"}},
	} {
		if _, err := NewInProcess(c.Aggregator(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	p, err := NewInProcess(c.Aggregator(), InProcessConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if def := DefaultInProcessConfig(); p.cfg.Span != def.Span || p.cfg.Interval != def.Interval {
		t.Errorf("zero config got %+v, want the defaults", p.cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}
