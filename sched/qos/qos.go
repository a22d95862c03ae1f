// Package qos is the contract between the scheduler's parts: what one CDN
// in one region looked like over the scoring window, whichever reader
// (in-process aggregation or Prometheus) measured it. The readers
// (sched/source) produce it, the policy (sched/policy) scores it; neither
// knows the other.
package qos

import (
	"cmp"
	"slices"
	"time"
)

// Key is one CDN (a pathway, a relay target) in one region. Both values
// come from the collector's bounded label sets; "other" is a value too.
type Key struct{ CDN, Region string }

// Compare orders keys by CDN then region.
func (k Key) Compare(o Key) int {
	return cmp.Or(cmp.Compare(k.CDN, o.CDN), cmp.Compare(k.Region, o.Region))
}

// Window is what was measured for one Key over the last Span. Counts are
// increases within the window (Prometheus increase() semantics: counter
// resets are not negative); times are in seconds. A zero Window is
// "nothing seen".
type Window struct {
	// Sessions are the sessions that reached a first frame in the window
	// (the count of the first-frame histogram): "successful sessions".
	Sessions float64
	// FirstFrameSum is the sum of those sessions' first-frame times.
	FirstFrameSum float64
	// LatencyCount and LatencySum are the end-to-end latency samples.
	LatencyCount, LatencySum float64

	WatchedSeconds float64
	Stalls         float64
	StalledSeconds float64
	Errors         float64
	DroppedFrames  float64

	// Push side, from streamer SDKs publishing to this CDN's push address.
	PushPublishErrors, PushDroppedFrames, PushFrames float64

	// Relay side, from the origin's relay to this CDN's ingest. Relay
	// results have no region: readers copy the CDN's totals into every
	// region of that CDN.
	RelayConnectFailures, RelayReconnects, RelayDroppedFrames float64

	// Probe side, from the scheduler's own probes of the CDN (no region
	// either, copied like the relay's): requests that failed and passed.
	ProbeFailures, ProbeSuccesses float64

	// Bytes delivered by the CDN in the window, as players report them
	// (CMCD br x d, beacon bytes); the billing meter's input.
	Bytes float64
}

// FirstFrameMean is the mean first-frame time in seconds, 0 with no
// session.
func (w Window) FirstFrameMean() float64 { return ratio(w.FirstFrameSum, w.Sessions) }

// LatencyMean is the mean latency in seconds, 0 with no sample.
func (w Window) LatencyMean() float64 { return ratio(w.LatencySum, w.LatencyCount) }

// StallsPerMinute is stalls per minute watched.
func (w Window) StallsPerMinute() float64 { return ratio(w.Stalls, w.WatchedSeconds/60) }

// StalledRatio is the share of watched time spent stalled.
func (w Window) StalledRatio() float64 { return ratio(w.StalledSeconds, w.WatchedSeconds) }

// ErrorRate is errors per attempted session: errors / (sessions + errors),
// so a CDN where every attempt fails is at 1 and one with no error at 0.
func (w Window) ErrorRate() float64 { return ratio(w.Errors, w.Sessions+w.Errors) }

// DroppedPerMinute is player-dropped frames per minute watched.
func (w Window) DroppedPerMinute() float64 { return ratio(w.DroppedFrames, w.WatchedSeconds/60) }

// PushDropRate is the share of frames streamer SDKs dropped.
func (w Window) PushDropRate() float64 {
	return ratio(w.PushDroppedFrames, w.PushFrames+w.PushDroppedFrames)
}

// RelayFaults are the relay's connect failures and reconnects.
func (w Window) RelayFaults() float64 { return w.RelayConnectFailures + w.RelayReconnects }

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// State is how current a reader's answer is; it is a metric and shows on
// the console.
type State string

const (
	// Fresh: read within the reader's deadline on this round.
	Fresh State = "fresh"
	// Stale: this round failed or timed out; the last good answer is kept.
	Stale State = "stale"
	// Missing: no good answer yet (or the last one is too old to use).
	Missing State = "missing"
)

// Snapshot is one reader's answer: every key it has data for.
type Snapshot struct {
	// Source names the reader ("inprocess", "prometheus").
	Source string
	// At is when the window ends; Span is its length.
	At   time.Time
	Span time.Duration
	// State of this answer (a Stale snapshot carries the last good data).
	State   State
	Windows map[Key]Window
}

// Keys returns the snapshot's keys in Compare order.
func (s Snapshot) Keys() []Key {
	keys := make([]Key, 0, len(s.Windows))
	for k := range s.Windows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, Key.Compare)
	return keys
}
