package recorder

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/rewind-vod/rewind/infra/store"
)

// Agent is the uploader: it stores and indexes what a slicer spools, with
// bounded concurrency, retries and a bandwidth cap. In the live process
// (AgentInternal) the Recorder hands it its runs in memory; on its own
// (`rewind agent`) it finds them by scanning the spool. Either way it also
// scans for runs an earlier or dead slicer left, and ends them.
type Agent struct {
	cfg        Config
	st         store.Store
	log        *slog.Logger
	m          *metrics
	limiter    *rate.Limiter
	spoolBytes *spoolGauge

	queue jobQueue
	// ctx lives from newAgent to the end of loop; bg holds the goroutines
	// that finish ended runs, so loop can wait for them.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	mu   sync.Mutex
	runs map[string]*runUpload // by run dir

	lock     *dirLock      // on the spool: one uploader per spool
	scanned  chan struct{} // closed once the first scan of the spool is done
	listings dirListings   // the scanner's
}

// NewAgent makes a stand-alone uploader for the spool cfg.Spool; reg may
// be nil. Of cfg it uses the spool, the upload and scan settings, and the
// segment durations (for a run descriptor lost in a crash).
func NewAgent(cfg Config, st store.Store, log *slog.Logger, reg prometheus.Registerer) (*Agent, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("recorder: agent: no store")
	}
	if err := os.MkdirAll(cfg.Spool, 0o755); err != nil {
		return nil, fmt.Errorf("recorder: spool: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	m := newMetrics(reg)
	return newAgent(cfg, st, log, m, &spoolGauge{g: m.spoolBytes}), nil
}

func newAgent(cfg Config, st store.Store, log *slog.Logger, m *metrics, spool *spoolGauge) *Agent {
	a := &Agent{
		cfg:        cfg,
		st:         st,
		log:        log.With("component", "agent"),
		m:          m,
		spoolBytes: spool,
		runs:       map[string]*runUpload{},
		scanned:    make(chan struct{}),
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.queue.init()
	if cfg.BandwidthLimit > 0 {
		a.limiter = rate.NewLimiter(rate.Limit(cfg.BandwidthLimit), int(min(cfg.BandwidthLimit, 256<<10)))
	}
	return a
}

// Run uploads until ctx is done; call it once. It fails at once when the
// spool already has an uploader. What is not uploaded by the end stays in
// the spool for the next start.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.start(); err != nil {
		return err
	}
	return a.loop(ctx)
}

// start takes the spool's uploader lock and scans the spool once, so that
// what an earlier process left is queued (and counted in the spool size)
// before anything new is spooled. It touches only local disk.
func (a *Agent) start() error {
	l, ok, err := tryLockDir(a.cfg.Spool)
	if err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	if !ok {
		return fmt.Errorf("recorder: spool %s already has an uploader (an origin with --agent internal, or a rewind agent)", a.cfg.Spool)
	}
	a.lock = l
	a.scanAll()
	close(a.scanned)
	return nil
}

// loop runs the upload workers and the spool scanner until ctx is done,
// then waits for them and drops the uploader lock.
func (a *Agent) loop(ctx context.Context) error {
	defer a.lock.release()
	stop := context.AfterFunc(ctx, a.cancel)
	defer stop()
	var wg sync.WaitGroup
	for range a.cfg.UploadConcurrency {
		wg.Go(func() { a.uploadLoop(a.ctx) })
	}
	wg.Go(func() { a.scanLoop(a.ctx) })
	wg.Wait()
	a.bg.Wait()
	return nil
}

// Pending reports the segments and runs not yet fully in the store.
func (a *Agent) Pending() (segments, runs int) {
	segments, _, runs = a.pending()
	return segments, runs
}

// pending counts queued segments, runs that ended but are not stored yet,
// and all runs.
func (a *Agent) pending() (segments, ended, runs int) {
	a.mu.Lock()
	list := make([]*runUpload, 0, len(a.runs))
	for _, ru := range a.runs {
		list = append(list, ru)
	}
	a.mu.Unlock()
	for _, ru := range list {
		ru.mu.Lock()
		if !ru.finished {
			runs++
			segments += len(ru.pending)
			if ru.ended {
				ended++
			}
		}
		ru.mu.Unlock()
	}
	return segments, ended, runs
}

// WaitIdle waits until every spooled segment and every run, live ones
// included, is in the store, or ctx is done.
func (a *Agent) WaitIdle(ctx context.Context) error {
	return a.waitFor(ctx, func() (bool, string) {
		s, _, n := a.pending()
		return s == 0 && n == 0, fmt.Sprintf("%d segments of %d runs still pending", s, n)
	})
}

// WaitDrained waits until every finished segment and every ended run is in
// the store, or ctx is done: runs still live do not hold it up.
func (a *Agent) WaitDrained(ctx context.Context) error {
	return a.waitFor(ctx, func() (bool, string) {
		s, e, _ := a.pending()
		return s == 0 && e == 0, fmt.Sprintf("%d segments and %d ended runs still pending", s, e)
	})
}

func (a *Agent) waitFor(ctx context.Context, done func() (bool, string)) error {
	select { // runs found in the spool count too
	case <-a.scanned:
	case <-ctx.Done():
		return fmt.Errorf("recorder: spool scan: %w", ctx.Err())
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		ok, what := done()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("recorder: %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}
