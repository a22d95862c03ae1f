package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
)

// DefaultInterval is how often a Sweeper sweeps when Config says nothing.
const DefaultInterval = 10 * time.Minute

// Config sets a Sweeper's rules and pace.
type Config struct {
	Rules    Rules
	Interval time.Duration // between sweeps (default DefaultInterval)
}

// Sweeper deletes, every Interval, the runs of each app with a rule that
// ended longer ago than the rule's age (catalog.DeleteRuns: run.json first,
// so readers stop listing the run). A run is live, and kept whatever its
// age, while its run.json says live and it is not stale (its last segment
// is at most three target durations old: catalog.Manifest.EffectiveState);
// a stale run (its node died) counts as ended at its last segment. It also
// finishes deletes that a crash left half done (their marker), and removes
// runs with no run.json and no marker whose newest object is older than
// the rule (what a node that died before writing run.json leaves).
type Sweeper struct {
	cfg Config
	st  store.Store
	log *slog.Logger
	m   *metrics
	now func() time.Time
}

// Result is what one sweep did.
type Result struct {
	Runs     int
	Objects  int
	Bytes    int64
	Failures int
}

// New makes a Sweeper over st; reg may be nil.
func New(cfg Config, st store.Store, log *slog.Logger, reg prometheus.Registerer) *Sweeper {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if log == nil {
		log = slog.Default()
	}
	return &Sweeper{cfg: cfg, st: st, log: log.With("component", "retention"), m: newMetrics(reg), now: time.Now}
}

// Run sweeps at once, then every Interval, until ctx ends.
func (s *Sweeper) Run(ctx context.Context) error {
	if len(s.cfg.Rules) == 0 {
		return nil
	}
	s.log.Info("retention sweeper started", "rules", s.cfg.Rules.String(), "interval", s.cfg.Interval)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("retention sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep makes one pass over every app with a rule. A run that fails is
// counted and logged, and the pass goes on; the error is the listing's.
func (s *Sweeper) Sweep(ctx context.Context) (Result, error) {
	var res Result
	streams, err := catalog.ListStreams(ctx, s.st)
	if err != nil {
		s.m.failures.Inc()
		return res, fmt.Errorf("retention: %w", err)
	}
	now := s.now()
	for _, app := range slices.Sorted(maps.Keys(s.cfg.Rules)) {
		keep := s.cfg.Rules[app]
		for _, st := range streams {
			if st.App != app {
				continue
			}
			runs, err := catalog.ListRuns(ctx, s.st, st)
			if err != nil {
				s.fail(&res, st, "", err)
				continue
			}
			for _, run := range runs {
				if ctx.Err() != nil {
					return res, ctx.Err()
				}
				if err := s.sweepRun(ctx, &res, st, run, keep, now); err != nil {
					s.fail(&res, st, run, err)
				}
			}
		}
	}
	s.m.lastSweep.Set(float64(now.Unix()))
	if res.Runs > 0 || res.Failures > 0 {
		s.log.Info("retention sweep", "runs", res.Runs, "objects", res.Objects, "bytes", res.Bytes, "failures", res.Failures)
	}
	return res, nil
}

func (s *Sweeper) fail(res *Result, st catalog.Stream, run string, err error) {
	res.Failures++
	s.m.failures.Inc()
	s.log.Warn("retention: run not swept", "stream", st.String(), "run", run, "err", err)
}

// sweepRun deletes run when its time is up.
func (s *Sweeper) sweepRun(ctx context.Context, res *Result, st catalog.Stream, run string, keep time.Duration, now time.Time) error {
	cutoff := now.Add(-keep)
	if pending, err := catalog.PendingDeletion(ctx, s.st, st, run); err != nil {
		return err
	} else if pending != nil {
		return s.delete(ctx, res, st, pending, "finishing an interrupted delete")
	}
	id, err := catalog.ParseRunID(run)
	if err != nil {
		return err // unreachable: ListRuns gives valid ids
	}
	if !id.Started.Before(cutoff) {
		return nil // started within the rule: it cannot have ended before it
	}
	m, err := catalog.ReadManifest(ctx, s.st, st, run)
	if errors.Is(err, store.ErrNotFound) {
		// No run.json: an orphan once nothing in it is recent.
		objs, err := catalog.RunObjects(ctx, s.st, st, run)
		if err != nil {
			return err
		}
		for _, o := range objs {
			if !o.LastModified.Before(cutoff) {
				return nil
			}
		}
		return s.delete(ctx, res, st, []string{run}, "orphan without run.json")
	}
	if err != nil {
		return err // unreadable: never delete what we cannot judge
	}
	end, err := catalog.RunEnd(ctx, s.st, st, m)
	if err != nil {
		return err
	}
	if m.EffectiveState(end, now) == catalog.StateLive || !end.Before(cutoff) {
		return nil
	}
	return s.delete(ctx, res, st, []string{run}, "past retention")
}

func (s *Sweeper) delete(ctx context.Context, res *Result, st catalog.Stream, runs []string, why string) error {
	d, err := catalog.DeleteRuns(ctx, s.st, st, runs)
	res.Objects += d.Objects
	res.Bytes += d.Bytes
	s.m.objects.Add(float64(d.Objects))
	s.m.bytes.Add(float64(d.Bytes))
	if err != nil {
		return err
	}
	res.Runs += len(d.Runs)
	s.m.runs.Add(float64(len(d.Runs)))
	if len(d.Runs) > 0 {
		s.log.Info("retention: swept", "stream", st.String(), "runs", d.Runs, "objects", d.Objects, "bytes", d.Bytes, "why", why)
	}
	return nil
}

type metrics struct {
	runs, objects, bytes, failures prometheus.Counter
	lastSweep                      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		runs: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_retention_runs_swept_total", Help: "Runs deleted by the retention sweeper.",
		}),
		objects: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_retention_objects_swept_total", Help: "Objects deleted by the retention sweeper.",
		}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_retention_bytes_swept_total", Help: "Bytes deleted by the retention sweeper.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_retention_failures_total", Help: "Runs (or listings) the retention sweeper could not judge or delete.",
		}),
		lastSweep: f.NewGauge(prometheus.GaugeOpts{
			Name: "rewind_retention_last_sweep_timestamp_seconds", Help: "Unix time of the last finished sweep.",
		}),
	}
}
