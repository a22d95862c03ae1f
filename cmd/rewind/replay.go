package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rewind-vod/rewind/infra/lambdahttp"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/vodapi"
)

// replayFlags configure the replay API (dev and vodapi).
type replayFlags struct {
	segmentBaseURL  string
	reconnectWindow time.Duration
	maxWindow       time.Duration
	cacheBytes      int64
	corsOrigins     listFlag
	playbackSecrets listFlag
	apiTokens       listFlag
	jobs            queueFlags
	maxClip         time.Duration
	publicURL       string
}

// register adds the flags; jobsDefault is the default clip job queue.
func (f *replayFlags) register(fs *flag.FlagSet, jobsDefault string) {
	f.jobs.register(fs, jobsDefault)
	fs.DurationVar(&f.maxClip, "max-clip", 3*time.Hour, "longest clip a client may ask for")
	fs.StringVar(&f.publicURL, "public-url", "", "the API's external base URL, for URLs in answers and webhooks (default: paths)")
	fs.StringVar(&f.segmentBaseURL, "segment-base-url", "", "where players fetch segments: a CDN in front of the bucket (https://cdn.example), or / when the CDN serves the bucket and this API on one host; empty: served by this API under /seg")
	fs.DurationVar(&f.reconnectWindow, "reconnect-window", 60*time.Second, "runs closer than this join into one recording")
	fs.DurationVar(&f.maxWindow, "max-window", 24*time.Hour, "longest playlist window")
	fs.Int64Var(&f.cacheBytes, "cache-bytes", 256<<20, "replay cache budget in bytes")
	f.corsOrigins = listFlag{"*"}
	fs.Var(&f.playbackSecrets, "playback-secrets", "comma-separated HMAC secrets for signed playback URLs (empty: playback is open)")
	fs.Var(&f.apiTokens, "api-tokens", "comma-separated bearer tokens of app backends (Authorization: Bearer t), good for every clip; with them or --playback-secrets, clip routes need a credential")
	fs.Var(&f.corsOrigins, "cors-origins", "origins allowed to call the API from a browser (comma-separated, * for any)")
}

func (f *replayFlags) config(target time.Duration, jobs queue.Queue) vodapi.Config {
	return vodapi.Config{
		Jobs:            jobs,
		Thumbs:          newStills(),
		MaxClip:         f.maxClip,
		PublicURL:       f.publicURL,
		SegmentBaseURL:  f.segmentBaseURL,
		ReconnectWindow: f.reconnectWindow,
		MaxWindow:       f.maxWindow,
		CacheBytes:      f.cacheBytes,
		TargetDuration:  target,
		CORSOrigins:     f.corsOrigins,
		PlaybackSecrets: f.playbackSecrets,
		APITokens:       f.apiTokens,
		WebhookGuard:    f.jobs.webhookAllow.Guard(),
	}
}

// serveReplay runs the replay API alone: stateless, it reads only the
// store, so any number of copies can run behind a CDN.
func serveReplay(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind vodapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f replayFlags
	f.register(fs, "")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "HTTP listen address")
	target := fs.Duration("segment-duration", 4*time.Second, "target segment duration of the recordings (for cache lifetimes)")
	var common commonFlags
	common.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, st, reg, err := common.setup(ctx, stderr)
	if err != nil {
		return err
	}
	jobs, err := f.jobs.open(ctx, 0)
	if err != nil {
		return err
	}
	if jobs != nil {
		defer jobs.Close()
	}
	api, err := vodapi.New(f.config(*target, jobs), st, log, reg)
	if err != nil {
		return err
	}
	defer api.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", api.Handler())
	if lambdahttp.InLambda() {
		// The same routes answer Lambda's HTTP events; Start runs until
		// the function's environment is shut down.
		log.Info("rewind vodapi started in Lambda", "store", redactURL(common.storeURL))
		lambda.StartWithOptions(lambdahttp.New(mux, log).Invoke, lambda.WithContext(ctx))
		return nil
	}
	hs, err := startHTTP(*httpAddr, mux)
	if err != nil {
		return err
	}
	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("rewind vodapi started", "http", hs.addr, "store", redactURL(common.storeURL))
	select {
	case err := <-hs.done:
		return fmt.Errorf("http: %w", err)
	case <-sigCtx.Done():
	}
	hs.shutdown(log)
	log.Info("stopped")
	return nil
}
