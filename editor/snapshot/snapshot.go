// Package snapshot takes JPEG snapshots of live streams on an interval. It
// runs on the editor side, where libav is: the origin stays pure Go and
// knows nothing of it. It reads what the recorder stores: the newest indexed
// segment of each live run starts on a keyframe, so one keyframe decode
// gives the picture, and the snapshot is stored beside the run at
// catalog.SnapshotKey, named by that keyframe's wall-clock time. The package
// is pure Go: the decode is a Render the caller gives (editor/thumb in cgo
// builds), so that its configuration links everywhere.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
)

// ErrNoVideo is what a Render returns (wrapped) for a segment without a
// decodable video keyframe.
var ErrNoVideo = errors.New("snapshot: no video")

// Render decodes the first keyframe of an MPEG-TS segment into a JPEG of
// the given width (0: the stream's) and libav qscale quality (0: default).
type Render func(ctx context.Context, segment []byte, width, quality int) ([]byte, error)

// LiveRun is a run that is live now.
type LiveRun struct {
	Stream catalog.Stream
	Run    string
}

// Lister returns the runs live now: the node registry in a cluster
// (FromDirectory), the origin itself in `rewind dev`.
type Lister func(ctx context.Context) ([]LiveRun, error)

// Config tunes the snapshots.
type Config struct {
	// Interval between two snapshots of a run (default 10 s). A snapshot
	// is the first keyframe of the newest segment that starts at least an
	// interval after the last one, so with 4 s segments and 10 s it comes
	// every 12 s.
	Interval time.Duration
	// Apps overrides Interval per app; 0 turns snapshots off for the app.
	Apps map[string]time.Duration
	// Width of the JPEG (even; the height keeps the aspect ratio); 0 is
	// the stream's own size.
	Width int
	// Quality in libav qscale terms, 1 (best) to 31; 0 is 4.
	Quality int
	// Poll is how often the live runs are looked at (default 1 s).
	Poll time.Duration
	// Concurrency bounds the snapshots made at once (default 2).
	Concurrency int
}

// DefaultConfig is what New gives zero fields.
func DefaultConfig() Config {
	return Config{Interval: 10 * time.Second, Poll: time.Second, Concurrency: 2}
}

// maxSegment bounds what is read of one segment (a 12 s GOP at 20 Mbit/s
// is 30 MB).
const maxSegment = 64 << 20

// Snapshotter takes the snapshots; Run drives it.
type Snapshotter struct {
	cfg    Config
	st     store.Store
	list   Lister
	render Render
	log    *slog.Logger
	m      metrics

	mu   sync.Mutex
	runs map[string]*runState // by stream/run; only the runs live at the last poll
}

// runState is what is known of one live run's snapshots.
type runState struct {
	loaded bool      // last was read from the store (a restarted worker goes on where it was)
	last   time.Time // wall-clock time of the last snapshot's keyframe
	seq    uint64    // segment of the last snapshot, or of the last no-video one
	tried  bool      // seq is set
	busy   bool      // a snapshot is being made
}

type metrics struct {
	made, failed, noVideo prometheus.Counter
	lag                   prometheus.Histogram
	live                  prometheus.Gauge
}

// New makes a snapshotter; reg may be nil.
func New(cfg Config, st store.Store, list Lister, render Render, log *slog.Logger, reg prometheus.Registerer) (*Snapshotter, error) {
	d := DefaultConfig()
	if cfg.Interval <= 0 {
		cfg.Interval = d.Interval
	}
	if cfg.Poll <= 0 {
		cfg.Poll = d.Poll
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = d.Concurrency
	}
	if cfg.Width < 0 || cfg.Width%2 != 0 {
		return nil, fmt.Errorf("snapshot: width %d must be even and not negative", cfg.Width)
	}
	if cfg.Quality < 0 || cfg.Quality > 31 {
		return nil, fmt.Errorf("snapshot: quality %d out of range 0..31", cfg.Quality)
	}
	if st == nil || list == nil || render == nil {
		return nil, errors.New("snapshot: a store, a lister and a renderer are required")
	}
	for app, d := range cfg.Apps {
		if d < 0 {
			return nil, fmt.Errorf("snapshot: app %s: negative interval %s", app, d)
		}
	}
	if log == nil {
		log = slog.Default()
	}
	f := promauto.With(reg)
	results := f.NewCounterVec(prometheus.CounterOpts{
		Name: "rewind_snapshots_total",
		Help: "Live snapshots, by result: made, failed, no_video (the segment had no video).",
	}, []string{"result"})
	return &Snapshotter{
		cfg: cfg, st: st, list: list, render: render, log: log.With("component", "snapshot"),
		runs: map[string]*runState{},
		m: metrics{
			made: results.WithLabelValues("made"), failed: results.WithLabelValues("failed"),
			noVideo: results.WithLabelValues("no_video"),
			lag: f.NewHistogram(prometheus.HistogramOpts{
				Name:    "rewind_snapshot_lag_seconds",
				Help:    "How far behind live a snapshot is when stored: now minus the wall-clock time of its keyframe.",
				Buckets: prometheus.ExponentialBuckets(1, 1.6, 12),
			}),
			live: f.NewGauge(prometheus.GaugeOpts{
				Name: "rewind_snapshot_live_runs", Help: "Live runs the snapshotter follows.",
			}),
		},
	}, nil
}

// interval is the app's interval; 0 means off.
func (s *Snapshotter) interval(app string) time.Duration {
	if d, ok := s.cfg.Apps[app]; ok {
		return d
	}
	return s.cfg.Interval
}

// Run polls the live runs until ctx ends, and waits for the snapshots in
// flight before it returns.
func (s *Snapshotter) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, s.cfg.Concurrency)
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		for _, j := range s.due(ctx) {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				s.release(j)
				continue
			}
			wg.Go(func() {
				defer func() { <-sem }()
				s.take(ctx, j)
			})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// step makes the due snapshots one after the other (for tests: Run makes
// them concurrently, on its ticker).
func (s *Snapshotter) step(ctx context.Context) {
	for _, j := range s.due(ctx) {
		s.take(ctx, j)
	}
}

type job struct {
	key   string
	run   LiveRun
	every time.Duration
	rs    *runState
}

// due lists the live runs and returns those whose next snapshot may be due,
// marked busy; runs no longer live are forgotten.
func (s *Snapshotter) due(ctx context.Context) []job {
	runs, err := s.list(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("list live runs", "err", err)
		}
		return nil
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(runs))
	var jobs []job
	for _, r := range runs {
		every := s.interval(r.Stream.App)
		if every <= 0 {
			continue
		}
		key := r.Stream.String() + "/" + r.Run
		seen[key] = true
		rs := s.runs[key]
		if rs == nil {
			rs = &runState{}
			s.runs[key] = rs
		}
		if rs.busy || (rs.loaded && now.Sub(rs.last) < every) {
			continue
		}
		rs.busy = true
		jobs = append(jobs, job{key: key, run: r, every: every, rs: rs})
	}
	for key, rs := range s.runs {
		if !seen[key] && !rs.busy {
			delete(s.runs, key)
		}
	}
	s.m.live.Set(float64(len(seen)))
	return jobs
}

func (s *Snapshotter) release(j job) {
	s.mu.Lock()
	j.rs.busy = false
	s.mu.Unlock()
}

// take makes the run's next snapshot if a new segment is far enough past
// the last one.
func (s *Snapshotter) take(ctx context.Context, j job) {
	defer s.release(j)
	rs := j.rs // busy: only this goroutine touches it now
	log := s.log.With("stream", j.run.Stream.String(), "run", j.run.Run)
	if !rs.loaded {
		last, err := s.lastStored(ctx, j.run)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("read the last snapshot", "err", err)
				s.m.failed.Inc()
			}
			return
		}
		rs.last, rs.loaded = last, true
	}
	e, ok, err := s.newest(ctx, j.run)
	if err != nil || !ok {
		if err != nil && ctx.Err() == nil {
			log.Warn("read the index tail", "err", err)
			s.m.failed.Inc()
		}
		return
	}
	if (rs.tried && e.Seq == rs.seq) || (!rs.last.IsZero() && e.Start().Sub(rs.last) < j.every) {
		return // no segment far enough past the last snapshot yet
	}
	jpg, err := s.snapshot(ctx, j.run, e)
	rs.seq, rs.tried = e.Seq, true
	switch {
	case errors.Is(err, ErrNoVideo):
		s.m.noVideo.Inc()
		rs.last = e.Start() // an audio-only run: look again an interval later
		return
	case err != nil:
		if ctx.Err() == nil {
			log.Warn("snapshot failed", "seq", e.Seq, "err", err)
			s.m.failed.Inc()
		}
		return
	}
	key := catalog.SnapshotKey(j.run.Stream, j.run.Run, e.Start())
	if err := s.st.Put(ctx, key, jpg, "image/jpeg"); err != nil {
		if ctx.Err() == nil {
			log.Warn("store snapshot", "key", key, "err", err)
			s.m.failed.Inc()
		}
		return
	}
	rs.last = e.Start()
	s.m.made.Inc()
	s.m.lag.Observe(time.Since(e.Start()).Seconds())
	log.Debug("snapshot", "key", key, "bytes", len(jpg))
}

// lastStored is the time of the run's newest stored snapshot (zero: none).
func (s *Snapshotter) lastStored(ctx context.Context, r LiveRun) (time.Time, error) {
	prefix := catalog.SnapshotPrefix(r.Stream, r.Run)
	var last time.Time
	after := ""
	for {
		res, err := s.st.List(ctx, prefix, store.ListOptions{Delimiter: "/", StartAfter: after, MaxKeys: 1000})
		if err != nil {
			return time.Time{}, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range res.Objects {
			if t, err := catalog.ParseSnapshotName(strings.TrimPrefix(o.Key, prefix)); err == nil && t.After(last) {
				last = t
			}
			after = o.Key
		}
		if !res.Truncated || len(res.Objects) == 0 {
			return last, nil
		}
	}
}

// newest is the newest indexed segment of the run that a decoder can start
// on: the tail index chunk holds it (only that chunk is read).
func (s *Snapshotter) newest(ctx context.Context, r LiveRun) (catalog.Entry, bool, error) {
	prefix := catalog.IndexPrefix(r.Stream, r.Run)
	res, err := s.st.List(ctx, prefix, store.ListOptions{Delimiter: "/"})
	if err != nil {
		return catalog.Entry{}, false, fmt.Errorf("list %s: %w", prefix, err)
	}
	for i := len(res.Objects) - 1; i >= 0; i-- {
		key := res.Objects[i].Key
		if _, err := catalog.ParseChunkName(strings.TrimPrefix(key, prefix)); err != nil {
			continue
		}
		data, err := catalog.GetAll(ctx, s.st, key, catalog.MaxChunkSize)
		if err != nil {
			return catalog.Entry{}, false, err
		}
		c, err := catalog.DecodeChunk(data)
		if err != nil {
			return catalog.Entry{}, false, fmt.Errorf("%s: %w", key, err)
		}
		for k := len(c.Entries) - 1; k >= 0; k-- {
			if e := c.Entries[k]; e.Flags.Has(catalog.FlagIndependent) {
				return e, true, nil
			}
		}
		return catalog.Entry{}, false, nil // a whole chunk without a keyframe start: wait
	}
	return catalog.Entry{}, false, nil
}

func (s *Snapshotter) snapshot(ctx context.Context, r LiveRun, e catalog.Entry) ([]byte, error) {
	seg, err := catalog.GetAll(ctx, s.st, catalog.SegmentKey(r.Stream, r.Run, e.Seq), maxSegment)
	if err != nil {
		return nil, err
	}
	return s.render(ctx, seg, s.cfg.Width, s.cfg.Quality)
}

// FromDirectory lists the runs live on the nodes of the registry.
func FromDirectory(nodes func() []catalog.Node) Lister {
	return func(context.Context) ([]LiveRun, error) {
		var out []LiveRun
		for _, n := range nodes() {
			for _, ls := range n.Live {
				st, err := catalog.ParseStream(ls.Stream)
				if err != nil || catalog.ValidRunID(ls.Run) != nil {
					continue
				}
				out = append(out, LiveRun{Stream: st, Run: ls.Run})
			}
		}
		return out, nil
	}
}
