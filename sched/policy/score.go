package policy

import (
	"time"

	"github.com/rewind-vod/rewind/sched/qos"
)

// Item names one measured quality of a (CDN, region). All items are
// "lower is better".
type Item string

// The fixed set of items; they are also the item label of
// rewind_sched_score (with CompositeItem and PushCompositeItem).
const (
	FirstFrame    Item = "first_frame"     // mean first-frame time, s
	StallRate     Item = "stall_rate"      // stalls per minute watched
	StalledRatio  Item = "stalled_ratio"   // share of watched time stalled
	ErrorRate     Item = "error_rate"      // errors / attempts
	Latency       Item = "latency"         // mean live latency, s
	DroppedFrames Item = "dropped_frames"  // player-dropped frames per minute watched
	PushDropRate  Item = "push_drop_rate"  // share of frames streamer SDKs dropped
	PushErrorRate Item = "push_error_rate" // push publish errors per minute of Span
	RelayFaults   Item = "relay_faults"    // relay connect failures + reconnects per minute of Span

	CompositeItem     Item = "composite"      // the pull composite, in metrics
	PushCompositeItem Item = "push_composite" // the push composite, in metrics
)

// PullItems score a CDN for viewers: the player's items plus the relay's,
// since a CDN whose ingest the origin cannot push to has no live stream.
var PullItems = []Item{FirstFrame, StallRate, StalledRatio, ErrorRate, Latency, DroppedFrames, RelayFaults}

// PushItems score a CDN's push address for streamers.
var PushItems = []Item{PushDropRate, PushErrorRate, RelayFaults}

// AllItems is every item once.
var AllItems = []Item{FirstFrame, StallRate, StalledRatio, ErrorRate, Latency, DroppedFrames, PushDropRate, PushErrorRate, RelayFaults}

// Threshold maps an item's value onto a score: 100 at or better than Good,
// 0 at or worse than Bad, linear between.
type Threshold struct {
	Good float64 `json:"good"`
	Bad  float64 `json:"bad"`
}

// Score is the single-item score of v, 0..100.
func (t Threshold) Score(v float64) float64 {
	switch {
	case v <= t.Good:
		return 100
	case v >= t.Bad:
		return 0
	}
	return 100 * (t.Bad - v) / (t.Bad - t.Good)
}

// ItemScore is one item of one (CDN, region).
type ItemScore struct {
	Value float64 `json:"value"`
	Score float64 `json:"score"`
	// Known is false when there was too little data, even in the CDN's
	// aggregate over all regions; such an item counts nowhere.
	Known bool `json:"known"`
	// Aggregate says the value is the CDN's over all regions, as the
	// region alone had too little data.
	Aggregate bool `json:"aggregate,omitempty"`
}

// Scores are the scores of one (CDN, region) for one order (pull or push).
type Scores struct {
	Items map[Item]ItemScore `json:"items"`
	// Composite is the weighted mean of the known items' scores, or
	// NeutralScore when none is known (Neutral).
	Composite float64 `json:"composite"`
	Neutral   bool    `json:"neutral,omitempty"`
	// Worst is the known item with the lowest score ("" when none).
	Worst      Item    `json:"worst,omitempty"`
	WorstScore float64 `json:"worst_score"`
}

// measure returns an item's value in w and whether there was enough data
// for it to mean anything.
func (c *Config) measure(it Item, w qos.Window, span time.Duration) (float64, bool) {
	minutes := span.Minutes()
	watched := w.WatchedSeconds > 0 && w.WatchedSeconds >= c.MinWatchedSeconds
	switch it {
	case FirstFrame:
		return w.FirstFrameMean(), w.Sessions > 0 && w.Sessions >= c.MinSessions
	case StallRate:
		return w.StallsPerMinute(), watched
	case StalledRatio:
		return w.StalledRatio(), watched
	case ErrorRate:
		n := w.Sessions + w.Errors
		return w.ErrorRate(), n > 0 && n >= c.MinSessions
	case Latency:
		return w.LatencyMean(), w.LatencyCount > 0
	case DroppedFrames:
		return w.DroppedPerMinute(), watched
	case PushDropRate:
		n := w.PushFrames + w.PushDroppedFrames
		return w.PushDropRate(), n > 0 && n >= c.MinPushFrames
	case PushErrorRate:
		// Publish errors have no denominator in the window; per minute of
		// Span, known once anyone pushed or tried to.
		if minutes <= 0 || w.PushFrames+w.PushDroppedFrames+w.PushPublishErrors <= 0 {
			return 0, false
		}
		return w.PushPublishErrors / minutes, true
	case RelayFaults:
		// Faults are only bad news: a quiet relay is known to be fine only
		// when something else shows the CDN is in use.
		if minutes <= 0 || (w.RelayFaults() <= 0 && !active(w)) {
			return 0, false
		}
		return w.RelayFaults() / minutes, true
	}
	return 0, false
}

// active says something used the CDN in the window.
func active(w qos.Window) bool {
	return w.Sessions+w.Errors+w.WatchedSeconds+w.PushFrames+w.PushDroppedFrames+w.PushPublishErrors+
		w.RelayDroppedFrames+w.ProbeSuccesses+w.ProbeFailures > 0
}

// score scores items of w, an item with too little data falling back to
// agg (the CDN's aggregate over all regions).
func (c *Config) score(items []Item, w, agg qos.Window, span time.Duration) Scores {
	s := Scores{Items: make(map[Item]ItemScore, len(items))}
	var sum, weights float64
	for _, it := range items {
		weight := c.Weights[it]
		if weight <= 0 {
			continue // weight 0: the item is ignored, also for the floor
		}
		v, ok := c.measure(it, w, span)
		fromAgg := false
		if !ok {
			v, ok = c.measure(it, agg, span)
			fromAgg = ok
		}
		is := ItemScore{Value: v, Known: ok, Aggregate: fromAgg}
		if ok {
			is.Score = c.Thresholds[it].Score(v)
			sum += weight * is.Score
			weights += weight
			if s.Worst == "" || is.Score < s.WorstScore {
				s.Worst, s.WorstScore = it, is.Score
			}
		}
		s.Items[it] = is
	}
	if weights == 0 {
		s.Composite, s.Neutral = c.NeutralScore, true
		return s
	}
	s.Composite = sum / weights
	return s
}

// aggregate sums a CDN's windows over its regions. Relay and probe results
// have no region (readers copy a CDN's totals into each of its regions),
// so they are taken once, as the largest, not summed.
func aggregate(ws []qos.Window) qos.Window {
	var a qos.Window
	for _, w := range ws {
		a.Sessions += w.Sessions
		a.FirstFrameSum += w.FirstFrameSum
		a.LatencyCount += w.LatencyCount
		a.LatencySum += w.LatencySum
		a.WatchedSeconds += w.WatchedSeconds
		a.Stalls += w.Stalls
		a.StalledSeconds += w.StalledSeconds
		a.Errors += w.Errors
		a.DroppedFrames += w.DroppedFrames
		a.PushPublishErrors += w.PushPublishErrors
		a.PushDroppedFrames += w.PushDroppedFrames
		a.PushFrames += w.PushFrames
		a.Bytes += w.Bytes
		a.RelayConnectFailures = max(a.RelayConnectFailures, w.RelayConnectFailures)
		a.RelayReconnects = max(a.RelayReconnects, w.RelayReconnects)
		a.RelayDroppedFrames = max(a.RelayDroppedFrames, w.RelayDroppedFrames)
		a.ProbeFailures = max(a.ProbeFailures, w.ProbeFailures)
		a.ProbeSuccesses = max(a.ProbeSuccesses, w.ProbeSuccesses)
	}
	return a
}
