package collect

import (
	"cmp"
	"slices"
)

// RelayDelta is what the origin's relay saw of its targets on one CDN
// since its previous report: each relay target is a CDN's ingest, so its
// faults are faults of that CDN, whoever watches.
type RelayDelta struct {
	ConnectFailures int64 // dials or publishes that failed
	Reconnects      int64 // publishing sessions lost and started again
	DroppedFrames   int64 // frames the relay dropped for that target
}

// RelaySnapshot is the relay side of one CDN for the in-process reader.
type RelaySnapshot struct {
	CDN string
	RelayDelta
}

// AddRelay counts relay results against cdn (mapped onto the configured
// CDNs, else Other). It is called in process by the origin's glue, so it
// skips the queue; negative deltas are ignored.
func (c *Collector) AddRelay(cdn string, d RelayDelta) {
	c.agg.addRelay(c.labels.CDN(cdn), d)
}

func (a *Aggregator) addRelay(cdn string, d RelayDelta) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.relay == nil {
		a.relay = map[string]*RelayDelta{}
	}
	r := a.relay[cdn]
	if r == nil {
		r = &RelayDelta{}
		a.relay[cdn] = r
	}
	count(&r.ConnectFailures, d.ConnectFailures, a.m.relayConnect.WithLabelValues(cdn))
	count(&r.Reconnects, d.Reconnects, a.m.relayReconnects.WithLabelValues(cdn))
	count(&r.DroppedFrames, d.DroppedFrames, a.m.relayDropped.WithLabelValues(cdn))
}

// Relay returns the relay totals per CDN, sorted by CDN.
func (a *Aggregator) Relay() []RelaySnapshot {
	a.mu.Lock()
	out := make([]RelaySnapshot, 0, len(a.relay))
	for cdn, r := range a.relay {
		out = append(out, RelaySnapshot{CDN: cdn, RelayDelta: *r})
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y RelaySnapshot) int { return cmp.Compare(x.CDN, y.CDN) })
	return out
}
