package policy

import (
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/sched/qos"
)

func TestDegradation(t *testing.T) {
	e, _ := newTestEngine(t, func(c *Config) { c.StaticOrder = []string{"b", "c", "a"} })
	static := []string{"b", "c", "a"}
	if got := e.Order("eu"); !equal(got, static) {
		t.Fatalf("before any snapshot: %v, want the static order", got)
	}
	if got := e.PushOrder("nowhere"); !equal(got, static) {
		t.Fatalf("push before any snapshot: %v", got)
	}
	good := everywhere(nil, "a", healthy(0.5))
	everywhere(good, "b", healthy(2))
	everywhere(good, "c", healthy(3))
	e.Update(fresh(t0, good), t0)
	computed := []string{"a", "b", "c"}
	if got := e.Order("eu"); !equal(got, computed) {
		t.Fatalf("fresh: %v", got)
	}

	// Stale: the data says c is now best, but it is old: keep the orders.
	inverted := everywhere(nil, "a", healthy(3))
	everywhere(inverted, "b", healthy(2))
	everywhere(inverted, "c", healthy(0.5))
	stale := fresh(t0.Add(time.Minute), inverted)
	stale.State = qos.Stale
	e.Update(stale, t0.Add(10*time.Minute))
	if got := e.Order("eu"); !equal(got, computed) {
		t.Fatalf("stale: %v, want the last computed %v", got, computed)
	}
	if r := e.Report(t0); r.State != qos.Stale || r.Static {
		t.Fatalf("report state %v static %v", r.State, r.Static)
	}

	// Missing: back to the static order.
	e.Update(qos.Snapshot{Source: "test", State: qos.Missing}, t0.Add(11*time.Minute))
	if got := e.Order("eu"); !equal(got, static) {
		t.Fatalf("missing: %v, want the static order", got)
	}
	if !e.Report(t0).Static {
		t.Fatal("report should say static")
	}
	// Stale after Missing keeps the static order too.
	e.Update(stale, t0.Add(12*time.Minute))
	if got := e.Order("eu"); !equal(got, static) {
		t.Fatalf("stale after missing: %v", got)
	}
	// Fresh again: computed.
	e.Update(fresh(t0.Add(13*time.Minute), good), t0.Add(13*time.Minute))
	if got := e.Order("eu"); !equal(got, computed) {
		t.Fatalf("fresh again: %v", got)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.CDNs = nil }, "no CDN"},
		{func(c *Config) { c.CDNs = []string{"a", "a"} }, "twice"},
		{func(c *Config) { c.CDNs = []string{Other} }, "other"},
		{func(c *Config) { c.Regions = []string{"eu", "eu"} }, "region"},
		{func(c *Config) { c.Billing = map[string]Billing{"zzz": {}} }, "not a configured CDN"},
		{func(c *Config) { c.Billing = map[string]Billing{"a": {Model: "gold"}} }, "unknown billing model"},
		{func(c *Config) { c.StaticOrder = []string{"a", "b"} }, "static order"},
		{func(c *Config) { c.StaticOrder = []string{"a", "b", "b"} }, "static order"},
		{func(c *Config) { c.Thresholds = map[Item]Threshold{Latency: {10, 5}} }, "bad"},
		{func(c *Config) { c.Thresholds = map[Item]Threshold{"zzz": {1, 5}} }, "unknown item"},
		{func(c *Config) { c.Weights = map[Item]float64{Latency: math.Inf(1)} }, "weight"},
		{func(c *Config) { c.NeutralScore = 120 }, "neutral"},
		{func(c *Config) { c.Fail.ErrorRate = 0.05; c.Recover.ErrorRate = 0.1 }, "error rate"},
		{func(c *Config) { c.MaxSwitches = -1 }, "max switches"},
		{func(c *Config) { c.MeterInput = "both" }, "meter input"},
	} {
		cfg := Config{CDNs: []string{"a", "b", "c"}, Regions: []string{"eu"}}
		c.mod(&cfg)
		_, err := New(cfg, quietLog(), prometheus.NewRegistry())
		if err == nil || !strings.HasPrefix(err.Error(), "policy: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", cfg, err, c.want)
		}
	}
	// Zero fields take the defaults; negative ones mean 0.
	e, _ := newTestEngine(t, func(c *Config) { c.CostWeight = -1; c.Floor = -1; c.Fail.ErrorRate = 0.6 })
	d := DefaultConfig()
	wantFail := d.Fail
	wantFail.ErrorRate = 0.6 // one limit set, the others default
	if e.cfg.CostWeight != 0 || e.cfg.Floor != 0 || e.cfg.MinDwell != d.MinDwell || e.cfg.Fail != wantFail ||
		e.cfg.Thresholds[Latency] != d.Thresholds[Latency] || !equal(e.cfg.StaticOrder, []string{"a", "b", "c"}) {
		t.Fatalf("defaults not applied: %+v", e.cfg)
	}
	// Registering twice on one registry is an error, not a panic.
	reg := prometheus.NewRegistry()
	if _, err := New(Config{CDNs: []string{"a"}}, nil, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{CDNs: []string{"a"}}, nil, reg); err == nil {
		t.Fatal("second registration should fail")
	}
}

func TestMeterFedOncePerByte(t *testing.T) {
	e, _ := newTestEngine(t, func(c *Config) {
		c.CDNs = []string{"a"}
		c.Billing = map[string]Billing{"a": tiers}
	})
	// 1 MB/s through a, in 60 s windows every 10 s: the windows overlap.
	w := healthy(0.5)
	w.Bytes = 60e6
	for i := range 10 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		e.Update(fresh(at, map[qos.Key]qos.Window{{CDN: "a", Region: "eu"}: w}), at)
	}
	// The first window counts whole (60 s), each later one its new 10 s.
	if got := e.Meter().MonthToDate("a", t0); math.Abs(got-150e6) > 1e-3 {
		t.Fatalf("month to date %v, want 150e6", got)
	}
	// A restart with the persisted meter does not count the last window again.
	state, err := json.Marshal(e.Meter())
	if err != nil {
		t.Fatal(err)
	}
	e2, reg := newTestEngine(t, func(c *Config) {
		c.CDNs = []string{"a"}
		c.Billing = map[string]Billing{"a": tiers}
	})
	if err := json.Unmarshal(state, e2.Meter()); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(100 * time.Second)
	e2.Update(fresh(at, map[qos.Key]qos.Window{{CDN: "a", Region: "eu"}: w}), at)
	if got := e2.Meter().MonthToDate("a", at); math.Abs(got-160e6) > 1e-3 {
		t.Fatalf("after restart %v, want 160e6", got)
	}
	if got := testutil.ToFloat64(e2.m.monthBytes.WithLabelValues("a")); math.Abs(got-160e6) > 1e-3 {
		t.Fatalf("rewind_sched_month_bytes = %v", got)
	}
	if got := testutil.ToFloat64(e2.m.marginal.WithLabelValues("a")); got != 0.085 {
		t.Fatalf("rewind_sched_marginal_cost_per_gb = %v", got)
	}
	if n, err := testutil.GatherAndCount(reg, "rewind_sched_projected_bill"); err != nil || n != 1 {
		t.Fatalf("projected bill series %d, %v", n, err)
	}

	// External: Update leaves the meter alone.
	e3, _ := newTestEngine(t, func(c *Config) { c.CDNs = []string{"a"}; c.MeterInput = MeterExternal })
	e3.Update(fresh(t0, map[qos.Key]qos.Window{{CDN: "a", Region: "eu"}: w}), t0)
	if got := e3.Meter().MonthToDate("a", t0); got != 0 {
		t.Fatalf("external meter fed by Update: %v", got)
	}
}

func TestMetrics(t *testing.T) {
	e, reg := newTestEngine(t, nil)
	ws := everywhere(nil, "a", failing())
	everywhere(ws, "b", healthy(0.5))
	e.Update(fresh(t0, ws), t0)
	if got := testutil.ToFloat64(e.m.failed[Pull].WithLabelValues("a", "eu")); got != 1 {
		t.Fatalf("rewind_sched_cdn_failed{a,eu} = %v", got)
	}
	if got := testutil.ToFloat64(e.m.priority[Pull].WithLabelValues("b", "eu")); got != 1 {
		t.Fatalf("rewind_sched_priority{b,eu} = %v", got)
	}
	if got := testutil.ToFloat64(e.m.priority[Pull].WithLabelValues("a", "eu")); got != 3 {
		t.Fatalf("rewind_sched_priority{a,eu} = %v (failed: after the candidates)", got)
	}
	if got := testutil.ToFloat64(e.m.score.WithLabelValues("b", "eu", "composite")); got != 100 {
		t.Fatalf("composite of b = %v", got)
	}
	// c has no data: its items are absent, its composite neutral.
	if got := testutil.ToFloat64(e.m.score.WithLabelValues("c", "eu", "composite")); got != 50 {
		t.Fatalf("composite of c = %v", got)
	}
	// Series stay bounded: 3 CDNs × 3 regions (eu, us, other).
	if n, _ := testutil.GatherAndCount(reg, "rewind_sched_priority"); n != 9 {
		t.Fatalf("%d priority series", n)
	}
	if err := e.Disable("b", "", "ops", "", t0); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(e.m.priority[Pull].WithLabelValues("b", "eu")); got != 0 {
		t.Fatalf("disabled b rank = %v, want 0", got)
	}
}

// TestConcurrentUse runs Order against Update and overrides (go test -race).
func TestConcurrentUse(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	ws := everywhere(nil, "a", healthy(0.5))
	everywhere(ws, "b", healthy(2))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if o := e.Order("eu"); len(o) == 0 {
					t.Error("empty order")
					return
				}
			}
		})
	}
	for i := range 200 {
		at := t0.Add(time.Duration(i) * time.Second)
		e.Update(fresh(at, ws), at)
		if i%20 == 0 {
			_ = e.Pin("b", "eu", "ops", "", at)
			_ = e.Report(at)
		}
	}
	close(stop)
	wg.Wait()
}

func TestMeterIgnoresFutureSnapshot(t *testing.T) {
	e, _ := newTestEngine(t, func(c *Config) { c.CDNs = []string{"a"} })
	w := healthy(0.5)
	e.Update(fresh(t0, map[qos.Key]qos.Window{{CDN: "a", Region: "eu"}: w}), t0)
	future := t0.AddDate(0, 3, 0)
	e.Update(fresh(future, map[qos.Key]qos.Window{{CDN: "a", Region: "eu"}: w}), t0.Add(time.Minute))
	if got := e.Meter().MonthToDate("a", t0); got != w.Bytes {
		t.Fatalf("a snapshot from the future changed the month: %v", got)
	}
}
