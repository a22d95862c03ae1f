// Package editor is the clip worker: it takes clip jobs from the queue,
// cuts the recorded segments with libav (editor/av), stores the output under
// clips/{id}/, keeps the job document current and calls the webhook (from
// a delivery pool of its own, see webhook.go).
//
// Delivery is at least once and a job may run twice; every step is safe to
// repeat (outputs are overwritten whole, the document is rewritten whole).
package editor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/netguard"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/backoff"
)

// Config tunes the worker. Zero values take DefaultConfig's.
type Config struct {
	// Concurrency is how many jobs run at once (default 1: a cut is mostly
	// disk and one core; transcodes use more).
	Concurrency int
	// MaxAttempts bounds how often a job runs before it is failed for good
	// (default 3); a worker killed mid-job counts as an attempt.
	MaxAttempts int
	// Lease is how long a received job stays hidden from other workers
	// without a heartbeat (default 60s); the worker extends it every Lease/3.
	Lease time.Duration
	// RetryDelay is the wait before the first retry of a failed job,
	// doubling per attempt (default 10s).
	RetryDelay time.Duration
	// WorkDir holds the downloaded segments and the output while a job runs
	// (default the system temp folder).
	WorkDir string
	// PublicURL is the API's external base URL for the URLs in webhooks.
	PublicURL string
	// WebhookSecret signs webhook bodies (X-Rewind-Signature); empty sends
	// them unsigned.
	WebhookSecret string
	// WebhookAttempts bounds deliveries per webhook (default 6).
	WebhookAttempts int
	// WebhookConcurrency is how many webhooks are delivered at once, apart
	// from the clip slots (default 4).
	WebhookConcurrency int
	// WebhookGuard decides which addresses webhooks may reach; nil allows
	// public addresses only (netguard.Strict).
	WebhookGuard *netguard.Guard
	// WebhookBackoff is the step after the first failed delivery, doubling
	// (default 1s, capped at 1m); each wait is jittered between half the
	// step and the step (backoff.Policy).
	WebhookBackoff time.Duration
	// WebhookTimeout bounds one delivery (default 10s).
	WebhookTimeout time.Duration
}

// DefaultConfig is what New gives zero fields, and what the command line
// starts from, so each default is written once.
func DefaultConfig() Config {
	return Config{
		Concurrency:        1,
		MaxAttempts:        3,
		Lease:              60 * time.Second,
		RetryDelay:         10 * time.Second,
		WorkDir:            os.TempDir(),
		WebhookAttempts:    6,
		WebhookConcurrency: 4,
		WebhookBackoff:     time.Second,
		WebhookTimeout:     10 * time.Second,
	}
}

func (c *Config) defaults() {
	d := DefaultConfig()
	if c.Concurrency <= 0 {
		c.Concurrency = d.Concurrency
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.Lease <= 0 {
		c.Lease = d.Lease
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = d.RetryDelay
	}
	if c.WorkDir == "" {
		c.WorkDir = d.WorkDir
	}
	if c.WebhookAttempts <= 0 {
		c.WebhookAttempts = d.WebhookAttempts
	}
	if c.WebhookConcurrency <= 0 {
		c.WebhookConcurrency = d.WebhookConcurrency
	}
	if c.WebhookGuard == nil {
		c.WebhookGuard = netguard.Strict()
	}
	if c.WebhookBackoff <= 0 {
		c.WebhookBackoff = d.WebhookBackoff
	}
	if c.WebhookTimeout <= 0 {
		c.WebhookTimeout = d.WebhookTimeout
	}
}

// Worker runs clip jobs.
type Worker struct {
	cfg    Config
	st     store.Store
	q      queue.Queue
	log    *slog.Logger
	m      *metrics
	guard  *netguard.Guard
	client *http.Client
	tr     *http.Transport
	now    func() time.Time

	hooks    chan hookTask // the delivery pool's backlog
	hmu      sync.Mutex
	inflight map[string]bool // clip ids the pool holds
	parked   int             // retries waiting out their backoff
	parkWG   sync.WaitGroup
}

// New builds a worker; reg may be nil.
func New(cfg Config, st store.Store, q queue.Queue, log *slog.Logger, reg prometheus.Registerer) *Worker {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	client, tr := newHookClient(cfg.WebhookGuard, cfg.WebhookTimeout)
	return &Worker{cfg: cfg, st: st, q: q, log: log.With("component", "editor"), m: newMetrics(reg),
		guard: cfg.WebhookGuard, client: client, tr: tr, now: time.Now,
		// A backlog a few deep per deliverer: beyond it, offers go back
		// to the queue rather than wait in memory with their leases.
		hooks: make(chan hookTask, 4*cfg.WebhookConcurrency), inflight: map[string]bool{}}
}

// Run takes jobs until ctx ends, then returns once the running jobs and
// webhook deliveries have stopped. A job or delivery stopped that way is
// handed back to the queue at once.
func (w *Worker) Run(ctx context.Context) error {
	var hooks sync.WaitGroup
	for range w.cfg.WebhookConcurrency {
		hooks.Go(func() { w.deliverLoop(ctx) })
	}
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.loop(ctx) })
	}
	wg.Wait()
	hooks.Wait()
	w.parkWG.Wait() // no deliverer is left to park more
	w.drainHooks()
	w.tr.CloseIdleConnections()
	return nil
}

func (w *Worker) loop(ctx context.Context) {
	retry := backoff.Policy{Min: time.Second, Max: 30 * time.Second}
	fails := 0
	for ctx.Err() == nil {
		msgs, err := w.q.Receive(ctx, 1, 20*time.Second)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, queue.ErrClosed) {
				return
			}
			fails++
			w.log.Warn("receive jobs", "err", err)
			backoff.Sleep(ctx, retry.Wait(fails))
			continue
		}
		fails = 0
		for _, m := range msgs {
			w.handle(ctx, m)
		}
	}
}

// handle runs one delivery from receipt to delete (or hand-back).
func (w *Worker) handle(ctx context.Context, m queue.Message) {
	t0 := time.Now()
	id, err := catalog.DecodeClipMessage(m.Body)
	if err != nil {
		w.log.Error("dropping unreadable job message", "msg", m.ID, "err", err)
		w.delete(m)
		return
	}
	log := w.log.With("clip", id)
	job, err := catalog.ReadClipJob(ctx, w.st, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// The API removes a document only when it could not queue it.
		log.Warn("dropping job without a document")
		w.delete(m)
		return
	case err != nil && isBadDocument(err):
		log.Error("dropping job with an unreadable document", "err", err)
		w.delete(m)
		return
	case err != nil:
		log.Warn("read job", "err", err) // the lease runs out and it comes back
		return
	}
	if job.Done() {
		// A repeat delivery, or a webhook retry: finish the webhook.
		w.settle(ctx, job, m, log)
		return
	}

	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopBeat := w.heartbeat(jobCtx, cancel, m, log)
	defer stopBeat()

	job.Attempts++
	if job.Attempts > w.cfg.MaxAttempts {
		// Killed mid-job too often: a job that crashes workers must stop.
		w.fail(ctx, job, fmt.Sprintf("gave up after %d attempts; last error: %s", w.cfg.MaxAttempts, orNone(job.Error)), m, log)
		return
	}
	now := w.now().UTC()
	job.Status, job.Progress, job.StartedAt, job.UpdatedAt = catalog.ClipRunning, 0, &now, now
	if err := catalog.WriteClipJob(jobCtx, w.st, job); err != nil {
		log.Warn("mark job running", "err", err)
		return
	}
	start := w.m.phase("start", t0)
	w.m.running.Inc()
	out, err := w.run(jobCtx, job, log)
	w.m.running.Dec()
	switch {
	case err == nil:
		w.m.duration.Observe(time.Since(start).Seconds())
		w.succeed(ctx, job, out, m, log)
	case ctx.Err() != nil:
		// Shutting down: not the job's fault. Hand it back at once.
		job.Attempts--
		job.Status, job.UpdatedAt = catalog.ClipQueued, w.now().UTC()
		w.write(context.WithoutCancel(ctx), job, log)
		w.handBack(m, log)
	case jobCtx.Err() != nil:
		log.Warn("job lease lost; another delivery owns it now", "err", err)
	case job.Attempts >= w.cfg.MaxAttempts || errors.Is(err, errPermanent):
		w.fail(ctx, job, err.Error(), m, log)
	default:
		delay := backoff.Policy{Min: w.cfg.RetryDelay, Max: 10 * time.Minute}.Step(job.Attempts)
		log.Warn("job failed; retrying", "attempt", job.Attempts, "in", delay, "err", err)
		w.m.jobs.WithLabelValues("retried").Inc()
		job.Status, job.Error, job.Progress, job.UpdatedAt = catalog.ClipQueued, err.Error(), 0, w.now().UTC()
		w.write(ctx, job, log)
		stopBeat()
		if err := w.q.Extend(ctx, m, delay); err != nil {
			log.Warn("delay retry", "err", err)
		}
	}
}

// errPermanent marks failures that a retry cannot fix.
var errPermanent = errors.New("permanent")

func isBadDocument(err error) bool {
	return errors.Is(err, catalog.ErrBadClipID) || errors.Is(err, catalog.ErrBadClipJob)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (w *Worker) succeed(ctx context.Context, job *catalog.ClipJob, out *catalog.ClipOutput, m queue.Message, log *slog.Logger) {
	now := w.now().UTC()
	job.Status, job.Progress, job.Error, job.Output = catalog.ClipSucceeded, 100, "", out
	job.UpdatedAt, job.FinishedAt = now, &now
	t0 := time.Now()
	if !w.write(ctx, job, log) {
		return // not recorded: the delivery comes back and runs again
	}
	w.m.phase("finish", t0)
	w.m.jobs.WithLabelValues("succeeded").Inc()
	log.Info("clip done", "duration", out.Duration, "size", out.Size, "attempt", job.Attempts)
	w.settle(ctx, job, m, log)
}

func (w *Worker) fail(ctx context.Context, job *catalog.ClipJob, msg string, m queue.Message, log *slog.Logger) {
	now := w.now().UTC()
	job.Status, job.Error, job.UpdatedAt, job.FinishedAt = catalog.ClipFailed, msg, now, &now
	job.Output = nil
	if !w.write(ctx, job, log) {
		return
	}
	w.m.jobs.WithLabelValues("failed").Inc()
	log.Error("clip failed", "attempts", job.Attempts, "err", msg)
	w.settle(ctx, job, m, log)
}

func (w *Worker) write(ctx context.Context, job *catalog.ClipJob, log *slog.Logger) bool {
	if err := catalog.WriteClipJob(ctx, w.st, job); err != nil {
		log.Error("write job document", "status", job.Status, "err", err)
		return false
	}
	return true
}

func (w *Worker) delete(m queue.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.q.Delete(ctx, m); err != nil {
		w.log.Warn("delete job message", "msg", m.ID, "err", err)
	}
}

// heartbeat extends the lease every Lease/3 while the job runs; losing the
// lease cancels the job, since another delivery will run it.
func (w *Worker) heartbeat(ctx context.Context, cancel context.CancelFunc, m queue.Message, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(w.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := w.q.Extend(ctx, m, w.cfg.Lease); err != nil {
					if errors.Is(err, queue.ErrLeaseLost) {
						log.Warn("lease lost", "err", err)
						cancel()
						return
					}
					log.Warn("extend lease", "err", err)
				}
			}
		}
	}()
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}
