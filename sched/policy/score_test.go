package policy

import (
	"math"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/sched/qos"
)

func TestThresholdScore(t *testing.T) {
	th := Threshold{Good: 1, Bad: 5}
	for v, want := range map[float64]float64{0: 100, 1: 100, 2: 75, 3: 50, 4.6: 10, 5: 0, 9: 0} {
		if got := th.Score(v); math.Abs(got-want) > 1e-9 {
			t.Errorf("Score(%v) = %v, want %v", v, got, want)
		}
	}
}

func TestScoresComposite(t *testing.T) {
	c := DefaultConfig()
	// first frame 3 s: 50; stalls 1.05/min: 50; the rest perfect.
	w := qos.Window{Sessions: 40, FirstFrameSum: 120, WatchedSeconds: 2400, Stalls: 42, LatencyCount: 10, LatencySum: 30}
	s := c.score(PullItems, w, w, time.Minute)
	if !s.Items[FirstFrame].Known || math.Abs(s.Items[FirstFrame].Score-50) > 1e-9 {
		t.Fatalf("first_frame = %+v", s.Items[FirstFrame])
	}
	if math.Abs(s.Items[StallRate].Score-50) > 1e-9 {
		t.Fatalf("stall_rate = %+v", s.Items[StallRate])
	}
	// weights: ff 2, stall 3, stalled 2, error 3, latency 1, dropped 1, relay 2
	want := (2*50 + 3*50 + 2*100 + 3*100 + 1*100 + 1*100 + 2*100) / 14.0
	if math.Abs(s.Composite-want) > 1e-9 || s.Neutral {
		t.Fatalf("composite = %v, want %v", s.Composite, want)
	}
	if s.Worst != FirstFrame || s.WorstScore != 50 { // ties: the first in item order
		t.Fatalf("worst = %s %v", s.Worst, s.WorstScore)
	}
}

func TestScoresUnknownAndFallback(t *testing.T) {
	c := DefaultConfig()
	// Too few sessions in the region, enough in the aggregate.
	region := qos.Window{Sessions: 5, FirstFrameSum: 25, WatchedSeconds: 100}
	agg := qos.Window{Sessions: 100, FirstFrameSum: 100, WatchedSeconds: 6000}
	s := c.score(PullItems, region, agg, time.Minute)
	ff := s.Items[FirstFrame]
	if !ff.Known || !ff.Aggregate || ff.Score != 100 {
		t.Fatalf("first_frame should come from the aggregate: %+v", ff)
	}
	if s.Items[Latency].Known {
		t.Fatalf("latency without samples is unknown: %+v", s.Items[Latency])
	}

	// Nothing anywhere: neutral, no worst.
	s = c.score(PullItems, qos.Window{}, qos.Window{}, time.Minute)
	if !s.Neutral || s.Composite != c.NeutralScore || s.Worst != "" {
		t.Fatalf("empty window: %+v", s)
	}

	// An unknown item is never the worst, however bad its raw value.
	w := qos.Window{Sessions: 100, FirstFrameSum: 100, Errors: 1, LatencyCount: 0, WatchedSeconds: 10, Stalls: 100}
	s = c.score(PullItems, w, w, time.Minute)
	if s.Items[StallRate].Known || s.Worst == StallRate {
		t.Fatalf("stall_rate on 10 s watched must be unknown: %+v", s)
	}

	// A weight of 0 drops the item from composite and worst.
	c.Weights[FirstFrame] = 0
	w = qos.Window{Sessions: 100, FirstFrameSum: 900}
	s = c.score(PullItems, w, w, time.Minute)
	if _, ok := s.Items[FirstFrame]; ok || s.Worst == FirstFrame {
		t.Fatalf("weight 0 item counted: %+v", s)
	}
}

func TestAggregateTakesRelayOnce(t *testing.T) {
	w := qos.Window{Sessions: 10, RelayConnectFailures: 3, ProbeFailures: 2}
	a := aggregate([]qos.Window{w, w, w})
	if a.Sessions != 30 || a.RelayConnectFailures != 3 || a.ProbeFailures != 2 {
		t.Fatalf("aggregate = %+v", a)
	}
}
