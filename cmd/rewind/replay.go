package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

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
}

func (f *replayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.segmentBaseURL, "segment-base-url", "", "where players fetch segments (a CDN in front of the bucket); empty: served by this API under /seg")
	fs.DurationVar(&f.reconnectWindow, "reconnect-window", 60*time.Second, "runs closer than this join into one recording")
	fs.DurationVar(&f.maxWindow, "max-window", 24*time.Hour, "longest playlist window")
	fs.Int64Var(&f.cacheBytes, "cache-bytes", 256<<20, "replay cache budget in bytes")
	f.corsOrigins = listFlag{"*"}
	fs.Var(&f.playbackSecrets, "playback-secrets", "comma-separated HMAC secrets for signed playback URLs (empty: playback is open)")
	fs.Var(&f.corsOrigins, "cors-origins", "origins allowed to call the API from a browser (comma-separated, * for any)")
}

func (f *replayFlags) config(target time.Duration) vodapi.Config {
	return vodapi.Config{
		SegmentBaseURL:  f.segmentBaseURL,
		ReconnectWindow: f.reconnectWindow,
		MaxWindow:       f.maxWindow,
		CacheBytes:      f.cacheBytes,
		TargetDuration:  target,
		CORSOrigins:     f.corsOrigins,
		PlaybackSecrets: f.playbackSecrets,
	}
}

// serveReplay runs the replay API alone: stateless, it reads only the
// store, so any number of copies can run behind a CDN.
func serveReplay(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind vodapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f replayFlags
	f.register(fs)
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
	api, err := vodapi.New(f.config(*target), st, log, reg)
	if err != nil {
		return err
	}
	defer api.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", api.Handler())
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("rewind vodapi started", "http", ln.Addr().String(), "store", redactURL(common.storeURL))
	select {
	case err := <-done:
		return fmt.Errorf("http: %w", err)
	case <-sigCtx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}
