// Package recorder turns published FLV frames into keyframe-cut MPEG-TS
// segments, spools them to local disk and uploads them with their index to
// the object store. Ingest never waits for the store: a store outage grows
// the spool, and a restart picks the spool up again.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
)

// Config tunes the recorder. Zero values take DefaultConfig's.
type Config struct {
	Spool string // spool directory (required)

	SegmentDuration    time.Duration // target; cut at the first keyframe after it
	MaxSegmentDuration time.Duration // hard maximum: a longer GOP is cut anyway (0: DefaultMaxSegmentTargets × target)
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

// DefaultConfig is what New gives zero fields, and what the command line
// starts from, so each default is written once.
func DefaultConfig() Config {
	return Config{
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
	if c.SegmentDuration <= 0 {
		c.SegmentDuration = d.SegmentDuration
	}
	if c.MaxSegmentDuration <= 0 {
		c.MaxSegmentDuration = catalog.DefaultMaxSegmentTargets * c.SegmentDuration
	}
	if c.MaxSegmentDuration < c.SegmentDuration {
		return fmt.Errorf("recorder: max segment duration %s below target %s", c.MaxSegmentDuration, c.SegmentDuration)
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

// Recorder records streams. Create it with New, call Run once, and Open a
// Stream per publish.
type Recorder struct {
	cfg     Config
	st      store.Store
	log     *slog.Logger
	m       *metrics
	limiter *rate.Limiter

	queue jobQueue
	// ctx lives from New to the end of Run; bg holds the goroutines that
	// finish ended runs, so Run can wait for them.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	mu   sync.Mutex
	runs map[string]*runUpload // by run dir

	spoolBytes   spoolGauge
	recovered    chan struct{} // closed once the spool scan at start is done
	recoveredErr error
}

// New makes a recorder; reg may be nil.
func New(cfg Config, st store.Store, log *slog.Logger, reg prometheus.Registerer) (*Recorder, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Spool, 0o755); err != nil {
		return nil, fmt.Errorf("recorder: spool: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Recorder{
		cfg:       cfg,
		st:        st,
		log:       log.With("component", "recorder"),
		m:         newMetrics(reg),
		runs:      map[string]*runUpload{},
		recovered: make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if reg != nil {
		reg.MustRegister(&segmentAgeCollector{r: r})
	}
	r.spoolBytes.g = r.m.spoolBytes
	r.queue.init()
	if cfg.BandwidthLimit > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(cfg.BandwidthLimit), int(min(cfg.BandwidthLimit, 256<<10)))
	}
	return r, nil
}

// Run recovers what an earlier process left in the spool, then uploads
// segments until ctx is done. What is not uploaded by then stays in the
// spool for the next start: nothing is lost.
func (r *Recorder) Run(ctx context.Context) error {
	r.recoveredErr = r.recover()
	close(r.recovered)
	if r.recoveredErr != nil {
		r.log.Error("spool recovery", "err", r.recoveredErr)
	}
	stop := context.AfterFunc(ctx, r.cancel)
	defer stop()
	var wg sync.WaitGroup
	for range r.cfg.UploadConcurrency {
		wg.Go(func() { r.uploadLoop(r.ctx) })
	}
	wg.Wait()
	r.bg.Wait()
	return nil
}

// Pending reports the segments and runs not yet fully in the store.
func (r *Recorder) Pending() (segments, runs int) {
	// Copy first: advance takes a run's lock and then r.mu.
	r.mu.Lock()
	list := make([]*runUpload, 0, len(r.runs))
	for _, ru := range r.runs {
		list = append(list, ru)
	}
	r.mu.Unlock()
	for _, ru := range list {
		ru.mu.Lock()
		segments += len(ru.pending)
		ru.mu.Unlock()
	}
	return segments, len(list)
}

// WaitIdle waits until every spooled segment and every ended run is in the
// store (live runs still open count as pending), or ctx is done.
func (r *Recorder) WaitIdle(ctx context.Context) error {
	select { // runs found in the spool count too
	case <-r.recovered:
	case <-ctx.Done():
		return fmt.Errorf("recorder: spool recovery: %w", ctx.Err())
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if s, n := r.Pending(); s == 0 && n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s, n := r.Pending()
			return fmt.Errorf("recorder: %d segments of %d runs still pending: %w", s, n, ctx.Err())
		case <-t.C:
		}
	}
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

func (s *spoolGauge) get() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
