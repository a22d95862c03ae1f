// Package recorder turns published FLV frames into keyframe-cut MPEG-TS
// segments, spools them to local disk and uploads them with their index to
// the object store. Ingest never waits for the store: a store outage grows
// the spool, and a restart picks the spool up again.
//
// Two parts meet only at the spool directory (spoolproto.go): the slicer
// (Recorder, Stream) writes segments into it, the uploader (Agent) stores
// and indexes them. They run in one process (AgentInternal, the default)
// or in two (AgentExternal and `rewind agent`), so that uploading can never
// hurt live streaming and a crash of one leaves the other running.
package recorder

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
)

// Config tunes the recorder. Zero values take DefaultConfig's.
type Config struct {
	Spool string // spool directory (required)
	// Agent says who uploads the spool: AgentInternal (this process) or
	// AgentExternal (a separate Agent; the slicer then never uses the store).
	Agent string
	// ScanInterval is how often the uploader looks for new segments and
	// dead slicers in the spool.
	ScanInterval time.Duration

	SegmentDuration    time.Duration // target; cut at the first keyframe after it
	MaxSegmentDuration time.Duration // hard maximum: a longer GOP is cut anyway (0: DefaultMaxSegmentTargets × target)
	// SegmentDurations override SegmentDuration per stream ("live/cam"),
	// per app ("live") or for all ("*"), the most specific first (the
	// origin's record policy, --record-policy). The hard maximum keeps its
	// ratio to the target: MaxSegmentDuration × d / SegmentDuration.
	SegmentDurations map[string]time.Duration
	// JumpThreshold: an RTMP timestamp jump or regression larger than this
	// becomes a discontinuity in the index.
	JumpThreshold time.Duration

	UploadConcurrency int           // parallel segment uploads
	RetryMin          time.Duration // first retry delay
	RetryMax          time.Duration // longest retry delay
	BandwidthLimit    int64         // upload bytes per second, 0 = unlimited
	SpoolLimit        int64         // spool bytes; past it new segments are dropped (<0 = unlimited)
	// MaxStreamSeries bounds the per-stream metrics: the oldest live runs
	// up to this many get series.
	MaxStreamSeries int
}

// Who uploads what the slicer spools (Config.Agent).
const (
	AgentInternal = "internal"
	AgentExternal = "external"
)

// DefaultConfig is what New gives zero fields, and what the command line
// starts from, so each default is written once.
func DefaultConfig() Config {
	return Config{
		Agent:             AgentInternal,
		ScanInterval:      250 * time.Millisecond,
		SegmentDuration:   catalog.DefaultTargetDuration,
		JumpThreshold:     5 * time.Second,
		UploadConcurrency: 4,
		RetryMin:          200 * time.Millisecond,
		RetryMax:          30 * time.Second,
		SpoolLimit:        20 << 30,
		MaxStreamSeries:   100,
	}
}

func (c *Config) defaults() error {
	if c.Spool == "" {
		return errors.New("recorder: no spool directory")
	}
	d := DefaultConfig()
	switch c.Agent {
	case "":
		c.Agent = d.Agent
	case AgentInternal, AgentExternal:
	default:
		return fmt.Errorf("recorder: agent %q is neither %q nor %q", c.Agent, AgentInternal, AgentExternal)
	}
	if c.ScanInterval <= 0 {
		c.ScanInterval = d.ScanInterval
	}
	if c.SegmentDuration <= 0 {
		c.SegmentDuration = d.SegmentDuration
	}
	if c.MaxSegmentDuration <= 0 {
		c.MaxSegmentDuration = catalog.DefaultMaxSegmentTargets * c.SegmentDuration
	}
	if c.MaxSegmentDuration < c.SegmentDuration {
		return fmt.Errorf("recorder: max segment duration %s below target %s", c.MaxSegmentDuration, c.SegmentDuration)
	}
	for k, d := range c.SegmentDurations {
		if d <= 0 {
			return fmt.Errorf("recorder: segment duration %s for %q is not positive", d, k)
		}
	}
	if c.JumpThreshold <= 0 {
		c.JumpThreshold = d.JumpThreshold
	}
	if c.UploadConcurrency <= 0 {
		c.UploadConcurrency = d.UploadConcurrency
	}
	if c.RetryMin <= 0 {
		c.RetryMin = d.RetryMin
	}
	if c.RetryMax <= 0 {
		c.RetryMax = d.RetryMax
	}
	if c.SpoolLimit == 0 {
		c.SpoolLimit = d.SpoolLimit
	}
	if c.MaxStreamSeries <= 0 {
		c.MaxStreamSeries = d.MaxStreamSeries
	}
	return nil
}

// segmentsFor is the target and the hard maximum segment duration of s.
func (c *Config) segmentsFor(s catalog.Stream) (target, hardMax time.Duration) {
	for _, k := range []string{s.String(), s.App, "*"} {
		if d, ok := c.SegmentDurations[k]; ok {
			// In floating point: the product of two durations in ns
			// overflows int64 past a few seconds each.
			ratio := float64(c.MaxSegmentDuration) / float64(c.SegmentDuration)
			return d, time.Duration(math.Round(ratio*float64(d)/float64(time.Millisecond))) * time.Millisecond
		}
	}
	return c.SegmentDuration, c.MaxSegmentDuration
}

// spoolGauge tracks the bytes of finished segments in the spool.
type spoolGauge struct {
	mu sync.Mutex
	n  int64
	g  prometheus.Gauge
}

func (s *spoolGauge) add(d int64) {
	s.mu.Lock()
	s.n += d
	s.g.Set(float64(s.n))
	s.mu.Unlock()
}

func (s *spoolGauge) set(n int64) {
	s.mu.Lock()
	s.n = n
	s.g.Set(float64(n))
	s.mu.Unlock()
}

func (s *spoolGauge) get() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
