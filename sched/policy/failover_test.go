package policy

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/sched/qos"
)

func TestFailStateHysteresis(t *testing.T) {
	c := DefaultConfig()
	var s failState
	bad := failing()
	meh := healthy(1)
	meh.Errors = 10 // 10/60: under the fail limit (0.5), above the recover one (0.1)
	good := healthy(1)
	at := t0
	next := func(w qos.Window) bool {
		at = at.Add(time.Minute)
		return c.step(&s, Pull, w, time.Minute, at)
	}
	if !next(bad) || !s.failed || s.reason != FailErrorRate {
		t.Fatalf("not failed on a bad window: %+v", s)
	}
	for range 10 {
		if next(meh) || !s.failed {
			t.Fatalf("recovered while above the recover limit: %+v", s)
		}
	}
	for i := range 4 {
		if next(good) || !s.failed {
			t.Fatalf("recovered after %d good minutes, RecoverAfter is %v", i+1, c.RecoverAfter)
		}
	}
	if next(meh) || !s.healthySince.IsZero() {
		t.Fatalf("a middling window must restart the recovery clock: %+v", s)
	}
	for i := range 6 {
		changed := next(good)
		if i < 5 && changed {
			t.Fatalf("recovered after %d good minutes", i+1)
		}
		if i == 5 && (!changed || s.failed) {
			t.Fatalf("not recovered after 5 good minutes: %+v", s)
		}
	}

	for _, f := range []struct {
		name   string
		kind   Kind
		w      qos.Window
		reason string
	}{
		{"no success", Pull, qos.Window{Errors: 12}, FailNoSuccess},
		{"probes", Pull, qos.Window{Sessions: 50, ProbeFailures: 3}, FailProbes},
		{"dropped", Pull, qos.Window{Sessions: 50, WatchedSeconds: 3000, DroppedFrames: 50 * 130}, FailDroppedFrames},
		{"relay", Pull, qos.Window{Sessions: 50, RelayConnectFailures: 4}, FailRelayFaults},
		{"push drops", Push, qos.Window{PushFrames: 700, PushDroppedFrames: 300}, FailPushDropRate},
		{"push errors", Push, qos.Window{PushFrames: 700, PushPublishErrors: 4}, FailPushErrorRate},
		{"push no success", Push, qos.Window{PushPublishErrors: 10}, FailPushNoSuccess},
		{"push relay", Push, qos.Window{PushFrames: 700, RelayReconnects: 5}, FailRelayFaults},
	} {
		if got := c.failReason(f.kind, f.w, time.Minute, c.Fail); got != f.reason {
			t.Errorf("%s: reason %q, want %q", f.name, got, f.reason)
		}
	}
	if got := c.failReason(Pull, qos.Window{Errors: 5}, time.Minute, c.Fail); got != "" {
		t.Errorf("5 errors are too few to judge, got %q", got)
	}
}

// TestFlapping: a alternates between failing and healthy every minute for
// an hour, with updates every 15 s; b is healthy but worse.
func TestFlapping(t *testing.T) {
	trace := func(t *testing.T, mod func(*Config)) (*Engine, []SwitchEntry, []time.Time, Config) {
		e, reg := newTestEngine(t, func(c *Config) {
			c.CDNs = []string{"a", "b"}
			c.Regions = []string{"eu"}
			if mod != nil {
				mod(c)
			}
		})
		var failedAt []time.Time // a's failing windows
		for at := t0; at.Before(t0.Add(time.Hour)); at = at.Add(15 * time.Second) {
			a := healthy(0.5)
			if int(at.Sub(t0)/time.Minute)%2 == 1 {
				a = failing()
				failedAt = append(failedAt, at)
			}
			ws := everywhere(nil, "a", a)
			everywhere(ws, "b", healthy(4))
			e.Update(fresh(at, ws), at)
			if got := e.Order("eu"); len(got) != 2 {
				t.Fatalf("%v: order %v", at, got)
			}
		}
		var sws []SwitchEntry
		for _, s := range e.Report(t0.Add(time.Hour)).Switches {
			if s.Order == "pull" && s.Region == "eu" {
				sws = append(sws, s)
			}
		}
		var counted float64
		for _, r := range []string{ReasonFailed, ReasonRecovered, ReasonBetter} {
			counted += testutil.ToFloat64(e.m.switches[Pull].WithLabelValues("eu", "a", "b", r)) +
				testutil.ToFloat64(e.m.switches[Pull].WithLabelValues("eu", "b", "a", r))
		}
		if int(counted) != len(sws) {
			t.Fatalf("rewind_sched_switches_total counts %v, the log holds %d", counted, len(sws))
		}
		_ = reg
		return e, sws, failedAt, e.cfg
	}

	t.Run("defaults", func(t *testing.T) {
		e, sws, _, _ := trace(t, nil)
		// a never stays healthy for RecoverAfter (5 min): one switch away,
		// and traffic never returns.
		if len(sws) != 1 || sws[0].From != "a" || sws[0].To != "b" || sws[0].Reason != ReasonFailed ||
			!sws[0].At.Equal(t0.Add(time.Minute)) {
			t.Fatalf("switches %+v", sws)
		}
		if got := e.Order("eu"); !equal(got, []string{"b", "a"}) {
			t.Fatalf("order after the hour %v", got)
		}
	})

	t.Run("cap", func(t *testing.T) {
		_, sws, failedAt, cfg := trace(t, func(c *Config) {
			c.RecoverAfter = 30 * time.Second
			c.MinDwell = 2 * time.Minute
			c.MaxSwitches = 3
			c.SwitchWindow = 20 * time.Minute
		})
		if len(sws) < 4 {
			t.Fatalf("only %d switches: the trace should let a return a few times: %+v", len(sws), sws)
		}
		lastFail := func(before time.Time) time.Time {
			var last time.Time
			for _, f := range failedAt {
				if f.Before(before) {
					last = f
				}
			}
			return last
		}
		for _, s := range sws {
			t.Logf("%v %s→%s %s", s.At.Sub(t0), s.From, s.To, s.Reason)
		}
		for i, s := range sws {
			inWindow := 0 // switches before s within the window
			for _, p := range sws[:i] {
				if s.At.Sub(p.At) < cfg.SwitchWindow {
					inWindow++
				}
			}
			if inWindow+1 > cfg.MaxSwitches+1 {
				t.Errorf("switch %d at %v: %d switches in the window, cap %d (+1 urgent)", i, s.At, inWindow+1, cfg.MaxSwitches)
			}
			if s.Reason == ReasonFailed {
				continue
			}
			if s.To != "a" || s.Reason != ReasonRecovered {
				t.Errorf("switch %d: %+v", i, s)
			}
			if inWindow >= cfg.MaxSwitches {
				t.Errorf("return %d at %v with %d switches already in the window", i, s.At, inWindow)
			}
			if i > 0 && s.At.Sub(sws[i-1].At) < cfg.MinDwell {
				t.Errorf("return %d at %v only %v after the previous switch", i, s.At, s.At.Sub(sws[i-1].At))
			}
			if d := s.At.Sub(lastFail(s.At)); d < cfg.RecoverAfter {
				t.Errorf("return %d at %v only %v after a's last failing window", i, s.At, d)
			}
		}
		// 60 flaps; the cap allows at most (1 + 60/20) windows × (3+1).
		if len(sws) > 16 {
			t.Fatalf("%d switches in an hour", len(sws))
		}
	})
}

func TestSwitchNeedsMarginAndDwell(t *testing.T) {
	e, _ := newTestEngine(t, func(c *Config) { c.CDNs = []string{"a", "b"}; c.Regions = []string{"eu"} })
	up := func(at time.Time, a, b float64) []string {
		ws := everywhere(nil, "a", healthy(a))
		everywhere(ws, "b", healthy(b))
		e.Update(fresh(at, ws), at)
		return e.Order("eu")
	}
	if got := up(t0, 1, 2); !equal(got, []string{"a", "b"}) {
		t.Fatalf("start %v", got)
	}
	// b becomes a little better (first frame 1 s vs 1.5 s: 100 vs 87.5 on
	// a weight of 2 of 14 → under 2 points): a stays first.
	if got := up(t0.Add(5*time.Minute), 1.5, 1); !equal(got, []string{"a", "b"}) {
		t.Fatalf("switched for a small gain: %v", got)
	}
	// b much better: switch (dwell long passed).
	if got := up(t0.Add(6*time.Minute), 4, 1); !equal(got, []string{"b", "a"}) {
		t.Fatalf("no switch for a large gain: %v", got)
	}
	// a much better again a minute later: MinDwell (2 min) holds b.
	if got := up(t0.Add(7*time.Minute), 1, 4); !equal(got, []string{"b", "a"}) {
		t.Fatalf("switched within MinDwell: %v", got)
	}
	if got := up(t0.Add(8*time.Minute), 1, 4); !equal(got, []string{"a", "b"}) {
		t.Fatalf("no switch after MinDwell: %v", got)
	}
	var sw []SwitchEntry
	for _, s := range e.Report(t0).Switches {
		if s.Region == "eu" && s.Order == "pull" {
			sw = append(sw, s)
		}
	}
	if len(sw) != 2 || sw[0].Reason != ReasonBetter || !sw[1].At.Equal(t0.Add(8*time.Minute)) {
		t.Fatalf("switch log %+v", sw)
	}
}

func TestPushOrderDropsRefusingRelayTarget(t *testing.T) {
	e, _ := newTestEngine(t, func(c *Config) { c.CDNs = []string{"a", "b"} })
	a := healthy(0.5)
	a.RelayConnectFailures = 20 // the origin's relay cannot reach a's ingest
	ws := everywhere(nil, "a", a)
	everywhere(ws, "b", healthy(0.5))
	e.Update(fresh(t0, ws), t0)
	if got := e.PushOrder("eu"); !equal(got, []string{"b", "a"}) {
		t.Fatalf("PushOrder = %v, want the refusing a last", got)
	}
	if got := e.Order("eu"); !equal(got, []string{"b", "a"}) {
		t.Fatalf("Order = %v: a CDN the relay cannot push to has no live stream", got)
	}
	var ka KeyReport
	for _, k := range e.Report(t0).Keys {
		if k.CDN == "a" && k.Region == "eu" {
			ka = k
		}
	}
	if !ka.Push.Failed || ka.Push.FailReason != FailRelayFaults || !ka.Pull.Failed {
		t.Fatalf("report %+v", ka)
	}

	// Publish errors with nothing pushed fail a's push side only.
	e2, _ := newTestEngine(t, func(c *Config) { c.CDNs = []string{"a", "b"} })
	a = healthy(0.5)
	a.PushFrames, a.PushPublishErrors = 0, 12
	ws = everywhere(nil, "a", a)
	everywhere(ws, "b", healthy(0.5))
	e2.Update(fresh(t0, ws), t0)
	if got := e2.PushOrder("eu"); !equal(got, []string{"b", "a"}) {
		t.Fatalf("PushOrder = %v", got)
	}
	if got := e2.Order("eu"); !equal(got, []string{"a", "b"}) {
		t.Fatalf("Order = %v: push errors do not concern viewers", got)
	}
}
