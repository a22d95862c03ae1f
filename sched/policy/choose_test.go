package policy

import (
	"testing"

	"github.com/rewind-vod/rewind/sched/qos"
)

func TestCheaperChosenAtEqualQuality(t *testing.T) {
	e, _ := newTestEngine(t, func(c *Config) {
		c.CDNs = []string{"a", "b"}
		c.Billing = map[string]Billing{
			"a": {Model: PerGB, Tiers: []Tier{{0, 0.085}}},
			"b": {Model: PerGB, Tiers: []Tier{{0, 0.04}}},
		}
	})
	ws := everywhere(nil, "a", healthy(0.8))
	everywhere(ws, "b", healthy(0.8))
	e.Update(fresh(t0, ws), t0)
	for _, r := range []string{"eu", "us", "nowhere"} {
		if got := e.Order(r); !equal(got, []string{"b", "a"}) {
			t.Fatalf("Order(%s) = %v, want the cheaper b first", r, got)
		}
	}
	rep := e.Report(t0)
	for _, k := range rep.Keys {
		if k.Region != "eu" {
			continue
		}
		// a: 100 − 0.2×100 = 80; b: 100 − 0.2×(100×0.04/0.085)
		want := map[string]float64{"a": 80, "b": 100 - 0.2*100*0.04/0.085}[k.CDN]
		if d := k.Pull.Value - want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s value = %v, want %v", k.CDN, k.Pull.Value, want)
		}
	}
	// Push ignores cost: at equal quality the name decides.
	if got := e.PushOrder("eu"); !equal(got, []string{"a", "b"}) {
		t.Fatalf("PushOrder = %v", got)
	}
}

func TestFailingWorstItemExcluded(t *testing.T) {
	e, _ := newTestEngine(t, func(c *Config) { c.CDNs = []string{"a", "b"} })
	a := healthy(0.5)
	a.LatencySum = 50 * 40 // 40 s latency: score 0, under the floor; composite still 13/14 of 100
	b := healthy(3)        // first frame 3 s: 50
	b.Stalls = 50          // 1 stall/min: ~53
	ws := everywhere(nil, "a", a)
	everywhere(ws, "b", b)
	e.Update(fresh(t0, ws), t0)
	if got := e.Order("eu"); !equal(got, []string{"b", "a"}) {
		t.Fatalf("Order = %v, want b first: a's worst item is under the floor", got)
	}
	rep := e.Report(t0)
	var ra, rb OrderReport
	for _, k := range rep.Keys {
		if k.Region == "eu" && k.CDN == "a" {
			ra = k.Pull
		}
		if k.Region == "eu" && k.CDN == "b" {
			rb = k.Pull
		}
	}
	if !(ra.Composite > rb.Composite) || !ra.BelowFloor || ra.Worst != Latency || rb.BelowFloor {
		t.Fatalf("a %+v\nb %+v", ra, rb)
	}
	if ra.Rank != 2 || rb.Rank != 1 {
		t.Fatalf("ranks a %d b %d", ra.Rank, rb.Rank)
	}
}

func TestRankOrder(t *testing.T) {
	cs := []candidate{
		{cdn: "d", composite: 90, failed: true},
		{cdn: "c", composite: 80, worst: Latency, worstScore: 10}, // below floor
		{cdn: "b", composite: 70, worst: FirstFrame, worstScore: 60},
		{cdn: "a", composite: 70, worst: FirstFrame, worstScore: 60},
		{cdn: "e", composite: 75, marginal: 1},
		{cdn: "f", composite: 60},
	}
	got := rank(cs, 20, 0.2)
	var names []string
	for _, c := range got {
		names = append(names, c.cdn)
	}
	// e: 75 − 20 = 55 after cost; a, b tie at 70 (name); f 60; then the
	// excluded d (90), c (80).
	if !equal(names, []string{"a", "b", "f", "e", "d", "c"}) {
		t.Fatalf("rank = %v", names)
	}
	// All free: the cost score is 0 for everyone.
	free := rank([]candidate{{cdn: "x", composite: 50}, {cdn: "y", composite: 60}}, 20, 0.2)
	if free[0].cdn != "y" || free[0].costScore != 0 || free[1].costScore != 0 {
		t.Fatalf("free rank = %+v", free)
	}
}

func TestUnconfiguredRegionUsesOther(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	ws := map[qos.Key]qos.Window{
		{CDN: "c", Region: Other}:  healthy(0.5),
		{CDN: "a", Region: Other}:  healthy(4),
		{CDN: "b", Region: Other}:  healthy(4.5),
		{CDN: "a", Region: "eu"}:   healthy(0.5),
		{CDN: "b", Region: "eu"}:   healthy(4),
		{CDN: "c", Region: "eu"}:   healthy(4.5),
		{CDN: "zzz", Region: "eu"}: healthy(0.1), // not configured: ignored
	}
	e.Update(fresh(t0, ws), t0)
	if got := e.Order("mars"); !equal(got, []string{"c", "a", "b"}) {
		t.Fatalf("Order(mars) = %v, want other's", got)
	}
	if got := e.Order("eu"); !equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Order(eu) = %v", got)
	}
}
