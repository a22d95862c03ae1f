package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/rewind-vod/rewind/infra/lambdahttp"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/internal/replaywarm"
	"github.com/rewind-vod/rewind/sched/collect"
	"github.com/rewind-vod/rewind/vodapi"
)

// replayConfig adds the parts that are not settings: the job queue and
// the thumbnailer (libav, in cgo builds).
func replayConfig(c vodapi.Config, jobs queue.Queue) vodapi.Config {
	c.Jobs = jobs
	c.Thumbs = newStills()
	return c
}

// warmUp runs the replay API's serving path once (internal/replaywarm);
// a failure only costs the first requests some milliseconds, so it is
// logged, not fatal.
func warmUp(ctx context.Context, on bool, log *slog.Logger) {
	if !on {
		return
	}
	t0 := time.Now()
	if err := replaywarm.Run(ctx); err != nil {
		log.Warn("replay API warm-up failed", "err", err)
		return
	}
	log.Debug("replay API warmed up", "took", time.Since(t0).Round(time.Millisecond))
}

// serveReplay runs the replay API alone: stateless, it reads only the
// store, so any number of copies can run behind a CDN.
func serveReplay(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind vodapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f, _ := newReplaySettings(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, st, reg, err := f.setup(ctx, stderr)
	if err != nil {
		return err
	}
	jobs, err := f.Jobs.open(ctx)
	if err != nil {
		return err
	}
	if jobs != nil {
		defer jobs.Close()
	}
	warmUp(ctx, f.WarmUp, log)
	api, err := vodapi.New(replayConfig(f.API, jobs), st, log, reg)
	if err != nil {
		return err
	}
	defer api.Close()
	var h http.Handler = api.Handler()
	if len(f.CDNs) > 0 {
		// A stateless collector of the CMCD on replay requests that reach
		// this API (cache misses through the CDNs): Prometheus scrapes it.
		qc := f.QoS
		qc.CDNs = cdnNames(f.CDNs)
		col, err := collect.New(qc, log, reg)
		if err != nil {
			return err
		}
		defer col.Close()
		h = col.Observe(h)
	}
	mux := metricsMux(reg)
	mux.Handle("/", h)
	if lambdahttp.InLambda() {
		// The same routes answer Lambda's HTTP events; Start runs until
		// the function's environment is shut down.
		log.Info("rewind vodapi started in Lambda", "store", redactURL(f.Store))
		lambda.StartWithOptions(lambdahttp.New(mux, log).Invoke, lambda.WithContext(ctx))
		return nil
	}
	hs, err := startHTTP(f.HTTPAddr, mux)
	if err != nil {
		return err
	}
	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The retention sweeper of a local store (not in Lambda: S3 has the
	// bucket lifecycle).
	sweepDone := make(chan error, 1)
	if sw := newSweeper(f.Retention, st, log, reg); sw != nil {
		go func() { sweepDone <- sw.Run(sigCtx) }()
	} else {
		sweepDone <- nil
	}
	defer func() { stop(); <-sweepDone }()
	log.Info("rewind vodapi started", "http", hs.addr, "store", redactURL(f.Store))
	select {
	case err := <-hs.done:
		return fmt.Errorf("http: %w", err)
	case <-sigCtx.Done():
	}
	hs.shutdown(log)
	log.Info("stopped")
	return nil
}
