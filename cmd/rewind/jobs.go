package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rewind-vod/rewind/infra/netguard"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store"
)

// queueFlags name the clip job queue (vodapi sends, the editor receives).
type queueFlags struct {
	jobsURL      string
	sqsEndpoint  string
	sqsRegion    string
	webhookAllow allowFlag // vodapi checks webhook URLs with it, the editor dials with it
}

func (f *queueFlags) register(fs *flag.FlagSet, def string) {
	fs.StringVar(&f.jobsURL, "jobs", def, "clip job queue: file://dir (embedded), sqs://name or an SQS queue URL; empty: clips are off")
	fs.StringVar(&f.sqsEndpoint, "sqs-endpoint", "", "SQS endpoint URL for SQS-compatible servers")
	fs.StringVar(&f.sqsRegion, "sqs-region", "", "SQS region (default from the queue URL or the AWS config)")
	fs.Var(&f.webhookAllow, "webhook-allow", "comma-separated CIDRs, addresses and host names (*.suffix for subdomains) webhooks may reach although internal (default: public addresses only)")
}

// allowFlag is --webhook-allow: parsed into the guard when set, so a bad
// entry is a flag error at start.
type allowFlag struct {
	list  listFlag
	guard *netguard.Guard // nil until set: the strict default
}

func (a *allowFlag) String() string { return a.list.String() }

func (a *allowFlag) Set(v string) error {
	var l listFlag
	l.Set(v)
	g, err := netguard.New(netguard.Config{Allow: l})
	if err != nil {
		return err
	}
	a.list, a.guard = l, g
	return nil
}

// Guard is the webhook guard: the allow-list, or none.
func (a *allowFlag) Guard() *netguard.Guard {
	if a.guard == nil {
		return netguard.Strict()
	}
	return a.guard
}

// open opens the queue, or returns nil when none is configured.
func (f *queueFlags) open(ctx context.Context, lease time.Duration) (queue.Queue, error) {
	if f.jobsURL == "" {
		return nil, nil
	}
	q, err := openQueue(ctx, f.jobsURL, queueOptions{Endpoint: f.sqsEndpoint, Region: f.sqsRegion, Lease: lease})
	if err != nil {
		return nil, fmt.Errorf("--jobs: %w", err)
	}
	return q, nil
}

// editorFlags configure the clip worker (editor, and in-process in dev).
type editorFlags struct {
	concurrency     int
	maxAttempts     int
	lease           time.Duration
	retryDelay      time.Duration
	workDir         string
	publicURL       string
	webhookSecret   string
	webhookAttempts int
	webhookWorkers  int
	webhookGuard    *netguard.Guard // from --webhook-allow (a queue flag: vodapi checks with it too)
}

func (f *editorFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.concurrency, "editor-concurrency", 1, "clip jobs one worker runs at once")
	fs.IntVar(&f.maxAttempts, "editor-max-attempts", 3, "runs of a clip job before it fails for good (a crash counts)")
	fs.DurationVar(&f.lease, "editor-lease", time.Minute, "how long a taken job stays hidden without a heartbeat (SQS visibility timeout)")
	fs.DurationVar(&f.retryDelay, "editor-retry-delay", 10*time.Second, "wait before retrying a failed job, doubling per attempt")
	fs.StringVar(&f.workDir, "editor-work-dir", "", "scratch folder for segments and outputs (default: the system temp folder)")
	fs.StringVar(&f.webhookSecret, "webhook-secret", "", "HMAC-SHA256 secret for X-Rewind-Signature on webhooks (empty: unsigned)")
	fs.IntVar(&f.webhookAttempts, "webhook-attempts", 6, "deliveries tried per webhook, with backoff")
	fs.IntVar(&f.webhookWorkers, "webhook-concurrency", 4, "webhooks delivered at once, apart from the clip job slots")
}

// clipWorker is the editor as cmd sees it; it exists only in cgo builds
// (newClipWorker in editor_cgo.go), since libav is C.
type clipWorker interface {
	Run(ctx context.Context) error
}

// serveEditor runs the clip worker alone, with /metrics and /healthz.
func serveEditor(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind editor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var common commonFlags
	common.register(fs)
	var qf queueFlags
	qf.register(fs, "file://./data/jobs")
	var ef editorFlags
	ef.register(fs)
	fs.StringVar(&ef.publicURL, "public-url", "", "the API's external base URL, for URLs in webhooks (default: paths)")
	httpAddr := fs.String("http-addr", "127.0.0.1:8082", "HTTP listen address (health, metrics)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if qf.jobsURL == "" {
		return errors.New("--jobs: the editor needs a job queue")
	}
	log, st, reg, err := common.setup(ctx, stderr)
	if err != nil {
		return err
	}
	q, err := qf.open(ctx, ef.lease)
	if err != nil {
		return err
	}
	defer q.Close()
	ef.webhookGuard = qf.webhookAllow.Guard()
	w, err := newClipWorker(&ef, st, q, log, reg)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", healthz)
	hs, err := startHTTP(*httpAddr, mux)
	if err != nil {
		return err
	}
	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("rewind editor started", "http", hs.addr, "jobs", redactURL(qf.jobsURL), "store", redactURL(common.storeURL))
	// The worker returns once its running jobs stopped and were handed back.
	err = w.Run(sigCtx)
	hs.shutdown(log)
	log.Info("stopped")
	return err
}

// devEditor starts the in-process worker of `rewind dev`; without cgo the
// node runs without one and says so.
func devEditor(f *editorFlags, st store.Store, q queue.Queue, log *slog.Logger, reg prometheus.Registerer) clipWorker {
	if q == nil {
		return nil
	}
	w, err := newClipWorker(f, st, q, log, reg)
	if err != nil {
		log.Warn("no clip worker in this process; clip jobs wait for a `rewind editor`", "err", err)
		return nil
	}
	return w
}
