package collect

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Observation is what one report adds to the aggregates of one
// (cdn, region): histogram samples and counter deltas. CDN and Region are
// label values already bounded by Labels.
type Observation struct {
	CDN, Region string
	// Stream is the app/name the player side is about ("" unknown).
	Stream string

	FirstFrame []time.Duration
	Latency    []time.Duration

	Stalls        int64
	StalledMS     int64
	WatchedMS     int64
	Errors        int64
	DroppedFrames int64

	PushPublishErrors int64
	PushDroppedFrames int64
	PushFrames        int64

	Bytes int64 // media bytes the CDN delivered
}

// Histogram is a snapshot of one histogram: Counts[i] observations at or
// below Bounds[i] (not cumulative), the last entry of Counts for the rest.
type Histogram struct {
	Bounds []float64 // seconds
	Counts []uint64  // len(Bounds)+1
	Count  uint64
	Sum    float64 // seconds
}

func newHistogram(bounds []float64) Histogram {
	return Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1)}
}

func (h *Histogram) observe(s float64) {
	i, _ := slices.BinarySearch(h.Bounds, s)
	h.Counts[i]++
	h.Count++
	h.Sum += s
}

// Mean is the average observation in seconds, 0 when empty.
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / float64(h.Count)
}

// Snapshot is the aggregate of one (cdn, region) as the in-process reader
// (`rewind dev`, which has no Prometheus) sees it.
type Snapshot struct {
	CDN, Region string

	FirstFrame Histogram
	Latency    Histogram

	Stalls         int64
	StalledSeconds float64
	WatchedSeconds float64
	Errors         int64
	DroppedFrames  int64

	PushPublishErrors int64
	PushDroppedFrames int64
	PushFrames        int64

	// Bytes the CDN delivered, as players report it (CMCD br x d, beacon
	// heartbeat bytes).
	Bytes int64
}

// StallsPerMinute is the stall rate the scores use: stalls per minute
// watched, 0 with nothing watched.
func (s Snapshot) StallsPerMinute() float64 {
	if s.WatchedSeconds == 0 {
		return 0
	}
	return float64(s.Stalls) / (s.WatchedSeconds / 60)
}

// StalledRatio is the share of watched time spent stalled.
func (s Snapshot) StalledRatio() float64 {
	if s.WatchedSeconds == 0 {
		return 0
	}
	return s.StalledSeconds / s.WatchedSeconds
}

type aggKey struct{ cdn, region string }

// Aggregator folds observations into Prometheus metrics and, the same
// numbers, into snapshots for the in-process reader. Its key space is
// bounded by Labels, so it never grows with the traffic.
type Aggregator struct {
	m *metrics

	mu           sync.Mutex
	stats        map[aggKey]*Snapshot
	streams      map[streamKey]*StreamSnapshot
	streamLabels streamLabels
	relay        map[string]*RelayDelta // by CDN
	sessions     *sessionTable
}

func newAggregator(m *metrics, maxSessions, maxStreams int) *Aggregator {
	return &Aggregator{m: m, stats: map[aggKey]*Snapshot{}, sessions: newSessionTable(maxSessions),
		streams: map[streamKey]*StreamSnapshot{}, streamLabels: streamLabels{max: maxStreams, seen: map[string]bool{}}}
}

// merge adds o's samples and counts to x (same CDN and region).
func (x *Observation) merge(o Observation) {
	x.FirstFrame = append(x.FirstFrame, o.FirstFrame...)
	x.Latency = append(x.Latency, o.Latency...)
	x.Stalls += o.Stalls
	x.StalledMS += o.StalledMS
	x.WatchedMS += o.WatchedMS
	x.Errors += o.Errors
	x.DroppedFrames += o.DroppedFrames
	x.PushPublishErrors += o.PushPublishErrors
	x.PushDroppedFrames += o.PushDroppedFrames
	x.PushFrames += o.PushFrames
	x.Bytes += o.Bytes
}

// Add applies one observation.
func (a *Aggregator) Add(o Observation) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.addLocked(o)
}

func (a *Aggregator) addLocked(o Observation) {
	a.addStreamLocked(&o)
	k := aggKey{o.CDN, o.Region}
	s := a.stats[k]
	if s == nil {
		s = &Snapshot{CDN: o.CDN, Region: o.Region, FirstFrame: newHistogram(firstFrameBuckets), Latency: newHistogram(latencyBuckets)}
		a.stats[k] = s
	}
	lv := []string{o.CDN, o.Region}
	for _, d := range o.FirstFrame {
		s.FirstFrame.observe(d.Seconds())
		a.m.firstFrame.WithLabelValues(lv...).Observe(d.Seconds())
	}
	for _, d := range o.Latency {
		s.Latency.observe(d.Seconds())
		a.m.latency.WithLabelValues(lv...).Observe(d.Seconds())
	}
	count(&s.Stalls, o.Stalls, a.m.stalls.WithLabelValues(lv...))
	count(&s.Errors, o.Errors, a.m.errors.WithLabelValues(lv...))
	count(&s.DroppedFrames, o.DroppedFrames, a.m.dropped.WithLabelValues(lv...))
	count(&s.PushPublishErrors, o.PushPublishErrors, a.m.pushErrors.WithLabelValues(lv...))
	count(&s.PushDroppedFrames, o.PushDroppedFrames, a.m.pushDropped.WithLabelValues(lv...))
	count(&s.PushFrames, o.PushFrames, a.m.pushFrames.WithLabelValues(lv...))
	count(&s.Bytes, o.Bytes, a.m.bytes.WithLabelValues(lv...))
	if o.StalledMS > 0 {
		s.StalledSeconds += float64(o.StalledMS) / 1000
		a.m.stalled.WithLabelValues(lv...).Add(float64(o.StalledMS) / 1000)
	}
	if o.WatchedMS > 0 {
		s.WatchedSeconds += float64(o.WatchedMS) / 1000
		a.m.watched.WithLabelValues(lv...).Add(float64(o.WatchedMS) / 1000)
	}
}

type counterAdder interface{ Add(float64) }

func count(dst *int64, v int64, c counterAdder) {
	if v > 0 {
		*dst += v
		c.Add(float64(v))
	}
}

// Snapshot returns a copy of every (cdn, region) aggregate seen so far,
// sorted by cdn then region.
func (a *Aggregator) Snapshot() []Snapshot {
	a.mu.Lock()
	out := make([]Snapshot, 0, len(a.stats))
	for _, s := range a.stats {
		c := *s
		c.FirstFrame.Counts = slices.Clone(s.FirstFrame.Counts)
		c.FirstFrame.Bounds = slices.Clone(s.FirstFrame.Bounds)
		c.Latency.Counts = slices.Clone(s.Latency.Counts)
		c.Latency.Bounds = slices.Clone(s.Latency.Bounds)
		out = append(out, c)
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y Snapshot) int {
		return cmp.Or(cmp.Compare(x.CDN, y.CDN), cmp.Compare(x.Region, y.Region))
	})
	return out
}
