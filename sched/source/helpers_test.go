package source

import (
	"io"
	"log/slog"
	"math"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/sched/collect"
	"github.com/rewind-vod/rewind/sched/qos"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var testRegions = []string{"eu", "us"}

// newCollector is a collector for cdn-a, cdn-b and cdn-c in eu (10/8) and
// us (11/8), its metrics on reg.
func newCollector(t *testing.T, reg prometheus.Registerer) *collect.Collector {
	t.Helper()
	c, err := collect.New(collect.Config{
		CDNs: []string{"cdn-a", "cdn-b", "cdn-c"},
		Regions: map[netip.Prefix]string{
			netip.MustParsePrefix("10.0.0.0/8"): "eu",
			netip.MustParsePrefix("11.0.0.0/8"): "us",
		},
	}, quietLog(), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func parseCMCD(t *testing.T, ss ...string) []collect.Report {
	t.Helper()
	var out []collect.Report
	for _, s := range ss {
		r, err := collect.ParseCMCD(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		out = append(out, r)
	}
	return out
}

// feedPhase1: CMCD from cdn-a in eu (v1 requests and a v2 event report)
// and one relay connect failure on cdn-a.
func feedPhase1(t *testing.T, c *collect.Collector) {
	t.Helper()
	c.Aggregator().AddCMCD("cdn-a", "eu", parseCMCD(t,
		`br=3200,d=4000,ot=v,sid="s1"`,
		`br=3200,bs,d=4000,ot=v,sid="s1"`,
		`e=ps,msd=1250,ltc=3400,bsa=1,bsd=500,dfa=10,sid="s2",ts=1764638400000,v=2`,
	))
	c.AddRelay("cdn-a", collect.RelayDelta{ConnectFailures: 1})
}

// phase1 is what feedPhase1 adds to cdn-a/eu.
var phase1 = qos.Window{
	Sessions: 1, FirstFrameSum: 1.25, LatencyCount: 1, LatencySum: 3.4,
	WatchedSeconds: 8, Stalls: 2, StalledSeconds: 0.5, DroppedFrames: 10, Bytes: 3_200_000,
}

const phase2Beacon = `{"sid":"b1","cdn":"cdn-b","events":[
 {"t":"start","ts":1764638400000,"first_frame_ms":900},
 {"t":"stall","ts":1764638410000,"duration_ms":1200},
 {"t":"error","ts":1764638420000,"code":"NET-404"},
 {"t":"latency","ts":1764638430000,"ms":2500},
 {"t":"dropped","ts":1764638440000,"frames":5},
 {"t":"heartbeat","ts":1764638450000,"watched_ms":30000,"bytes":9000000}],
 "push":{"cdn":"cdn-a","publish_errors":1,"frames_dropped":3,"frames_sent":600}}`

// feedPhase2: a beacon from cdn-b in us with a push section for cdn-a,
// relay faults on cdn-c (which no player reports on) and cdn-a.
func feedPhase2(t *testing.T, c *collect.Collector) {
	t.Helper()
	b, err := collect.ParseBeacon([]byte(phase2Beacon))
	if err != nil {
		t.Fatal(err)
	}
	c.Aggregator().AddBeacon(c.Labels(), "us", b)
	c.AddRelay("cdn-c", collect.RelayDelta{Reconnects: 2, DroppedFrames: 7})
	c.AddRelay("cdn-a", collect.RelayDelta{ConnectFailures: 1})
}

var phase2 = qos.Window{
	Sessions: 1, FirstFrameSum: 0.9, LatencyCount: 1, LatencySum: 2.5, WatchedSeconds: 30,
	Stalls: 1, StalledSeconds: 1.2, Errors: 1, DroppedFrames: 5, Bytes: 9_000_000,
}

func with(w qos.Window, f func(*qos.Window)) qos.Window {
	f(&w)
	return w
}

// assertWindows fails unless got and want have the same keys and every
// field agrees to 1e-9 (relative, for large values).
func assertWindows(t *testing.T, what string, got, want map[qos.Key]qos.Window) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: no window for %v", what, k)
			continue
		}
		for _, f := range allFields {
			a, b := f.get(&g), f.get(&w)
			if math.Abs(a-b) > 1e-9*math.Max(1, math.Abs(b)) {
				t.Errorf("%s: %v %s = %v, want %v", what, k, f.name, a, b)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected window %v: %+v", what, k, got[k])
		}
	}
}

// allFields are every Window value, the probe ones too.
var allFields = func() []struct {
	name string
	get  func(*qos.Window) float64
} {
	out := []struct {
		name string
		get  func(*qos.Window) float64
	}{
		{"probe_successes", func(w *qos.Window) float64 { return w.ProbeSuccesses }},
		{"probe_failures", func(w *qos.Window) float64 { return w.ProbeFailures }},
	}
	for _, f := range fields {
		out = append(out, struct {
			name string
			get  func(*qos.Window) float64
		}{f.name, func(w *qos.Window) float64 { return *f.get(w) }})
	}
	return out
}()
