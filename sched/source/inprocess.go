package source

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/sched/collect"
	"github.com/rewind-vod/rewind/sched/qos"
)

// InProcessConfig configures the in-process reader. Its zero fields take
// DefaultInProcessConfig's values.
type InProcessConfig struct {
	// Span is the length of the windows.
	Span time.Duration
	// Interval is how often Run samples the aggregates; a window's start
	// is known to within one Interval.
	Interval time.Duration
	// Regions are the regions a CDN with relay data but no player data
	// gets windows in (empty: the regions the snapshot has, else "other").
	Regions []string
	// Now is the clock (tests inject one); nil is time.Now.
	Now func() time.Time
}

// DefaultInProcessConfig is what a zero InProcessConfig field gets.
func DefaultInProcessConfig() InProcessConfig {
	return InProcessConfig{Span: 5 * time.Minute, Interval: 5 * time.Second, Now: time.Now}
}

// InProcess reads a collector's aggregates in process: it samples their
// cumulative values (Snapshot and Relay) and answers a window as the
// difference between the newest sample and the oldest one at or after
// now-Span. Keys that appeared since that sample count from 0; a value
// that went down counts from its reset (the Prometheus reader's rules,
// see Query). The window's start is known to within one Interval, and
// Prometheus's to within one scrape interval, so the two agree exactly
// when nothing was reported around now-Span.
type InProcess struct {
	agg *collect.Aggregator
	cfg InProcessConfig

	mu sync.Mutex
	// samples are ordered by time, consecutive ones at least Interval
	// apart except the newest, so there are at most Span/Interval+2.
	samples []sample
}

// sample is the cumulative aggregates at one instant; relay totals are
// under Key{CDN: cdn} (no region).
type sample struct {
	at time.Time
	ws map[qos.Key]qos.Window
}

// NewInProcess builds a reader of agg and takes its first sample, the base
// of the first windows.
func NewInProcess(agg *collect.Aggregator, cfg InProcessConfig) (*InProcess, error) {
	if agg == nil {
		return nil, fmt.Errorf("source: inprocess: no aggregator")
	}
	def := DefaultInProcessConfig()
	if err := duration("inprocess", "span", &cfg.Span, def.Span); err != nil {
		return nil, err
	}
	if err := duration("inprocess", "interval", &cfg.Interval, def.Interval); err != nil {
		return nil, err
	}
	if cfg.Interval >= cfg.Span {
		return nil, fmt.Errorf("source: inprocess: interval %v must be shorter than the span %v", cfg.Interval, cfg.Span)
	}
	if err := checkRegions("inprocess", cfg.Regions); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	p := &InProcess{agg: agg, cfg: cfg}
	p.Sample()
	return p, nil
}

// Name is "inprocess".
func (p *InProcess) Name() string { return "inprocess" }

// Span is the windows' length.
func (p *InProcess) Span() time.Duration { return p.cfg.Span }

// Run samples every Interval until ctx is done.
func (p *InProcess) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.Sample()
		}
	}
}

// Sample records the aggregates now.
func (p *InProcess) Sample() {
	s := sample{at: p.cfg.Now(), ws: cumulative(p.agg)}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addLocked(s)
}

func (p *InProcess) addLocked(s sample) {
	n := len(p.samples)
	if n > 0 && s.at.Before(p.samples[n-1].at) {
		return // a clock that went back: keep the order
	}
	// The newest sample moves forward until it is Interval past the one
	// before it, so Read's fresh samples do not crowd out the base.
	if n >= 2 && s.at.Sub(p.samples[n-2].at) < p.cfg.Interval {
		p.samples[n-1] = s
	} else {
		p.samples = append(p.samples, s)
	}
	// Keep one sample at or before now-Span (the base until a newer one
	// passes the window's start) and drop older ones.
	start := s.at.Add(-p.cfg.Span)
	drop := 0
	for drop+1 < len(p.samples) && !p.samples[drop+1].at.After(start) {
		drop++
	}
	p.samples = append(p.samples[:0], p.samples[drop:]...)
}

// Read samples the aggregates and answers the window ending now.
func (p *InProcess) Read(ctx context.Context) (qos.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return qos.Snapshot{}, fmt.Errorf("source: inprocess: %w", err)
	}
	now := sample{at: p.cfg.Now(), ws: cumulative(p.agg)}
	p.mu.Lock()
	p.addLocked(now)
	newest := p.samples[len(p.samples)-1]
	base := p.baseLocked(newest.at.Add(-p.cfg.Span))
	p.mu.Unlock()

	ws := make(map[qos.Key]qos.Window, len(newest.ws))
	relay := map[string]qos.Window{}
	for k, cur := range newest.ws {
		old := base.ws[k]
		var w qos.Window
		for i := range fields {
			f := &fields[i]
			*f.get(&w) = increase(*f.get(&cur), *f.get(&old))
		}
		if k.Region == "" {
			relay[k.CDN] = w
		} else {
			ws[k] = w
		}
	}
	sp := newSpreader(ws, p.cfg.Regions)
	for cdn, r := range relay {
		sp.apply(cdn, func(w *qos.Window) {
			w.RelayConnectFailures, w.RelayReconnects, w.RelayDroppedFrames = r.RelayConnectFailures, r.RelayReconnects, r.RelayDroppedFrames
		})
	}
	return qos.Snapshot{Source: p.Name(), At: newest.at, Span: p.cfg.Span, State: qos.Fresh, Windows: ws}, nil
}

// baseLocked is the oldest sample at or after start, or the newest one
// when all are older (then the window is empty).
func (p *InProcess) baseLocked(start time.Time) sample {
	for _, s := range p.samples {
		if !s.at.Before(start) {
			return s
		}
	}
	return p.samples[len(p.samples)-1]
}

// cumulative converts the aggregator's totals into Windows of cumulative
// values, relay totals under a key without region.
func cumulative(agg *collect.Aggregator) map[qos.Key]qos.Window {
	snaps, relay := agg.Snapshot(), agg.Relay()
	ws := make(map[qos.Key]qos.Window, len(snaps)+len(relay))
	for _, s := range snaps {
		ws[qos.Key{CDN: s.CDN, Region: s.Region}] = qos.Window{
			Sessions:          float64(s.FirstFrame.Count),
			FirstFrameSum:     s.FirstFrame.Sum,
			LatencyCount:      float64(s.Latency.Count),
			LatencySum:        s.Latency.Sum,
			WatchedSeconds:    s.WatchedSeconds,
			Stalls:            float64(s.Stalls),
			StalledSeconds:    s.StalledSeconds,
			Errors:            float64(s.Errors),
			DroppedFrames:     float64(s.DroppedFrames),
			PushPublishErrors: float64(s.PushPublishErrors),
			PushDroppedFrames: float64(s.PushDroppedFrames),
			PushFrames:        float64(s.PushFrames),
			Bytes:             float64(s.Bytes),
		}
	}
	for _, r := range relay {
		ws[qos.Key{CDN: r.CDN}] = qos.Window{
			RelayConnectFailures: float64(r.ConnectFailures),
			RelayReconnects:      float64(r.Reconnects),
			RelayDroppedFrames:   float64(r.DroppedFrames),
		}
	}
	return ws
}
