package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rewind-vod/rewind/infra/httpjson"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/origin"
	"github.com/rewind-vod/rewind/origin/relay"
	"github.com/rewind-vod/rewind/recorder"
	"github.com/rewind-vod/rewind/vodapi"
)

// serveFlags are the flags of the serving roles (dev, origin).
type serveFlags struct {
	commonFlags
	rtmpAddr, httpAddr string
	spool              string
	node               string
	segmentDuration    time.Duration
	maxSegmentDuration time.Duration

	publishSecrets      listFlag
	publishHook         string
	publishHookTimeout  time.Duration
	publishHookFailOpen bool
	takeover            string
	maxConns            int
	maxPublishers       int
	maxMessageSize      int
	readTimeout         time.Duration
	setupTimeout        time.Duration

	uploadConcurrency int
	uploadRetryMax    time.Duration
	uploadBandwidth   int64
	spoolLimit        int64
	drainTimeout      time.Duration
	adminToken        string
	maxStreamSeries   int

	relayRules   listFlag
	relayQueue   int
	relayTimeout time.Duration

	replay      replayFlags // dev only
	editor      editorFlags // dev only
	playSecrets listFlag    // origin only; dev uses replay.playbackSecrets
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.commonFlags.register(fs)
	host, _ := os.Hostname()
	fs.StringVar(&f.rtmpAddr, "rtmp-addr", "127.0.0.1:1935", "RTMP listen address")
	fs.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address (health, metrics; replay API in dev)")
	fs.StringVar(&f.spool, "spool", "./data/spool", "local spool directory for segments not yet in the store")
	fs.StringVar(&f.node, "node", host, "node name, part of every run id")
	fs.DurationVar(&f.segmentDuration, "segment-duration", 4*time.Second, "target segment duration: cut at the first keyframe after it")
	fs.DurationVar(&f.maxSegmentDuration, "max-segment-duration", 0, "hard maximum segment duration: a longer GOP is cut anyway (default 3x target)")
	fs.Var(&f.publishSecrets, "publish-secrets", "comma-separated HMAC secrets for signed publish URLs (empty: no signature needed)")
	fs.StringVar(&f.publishHook, "publish-hook", "", "URL POSTed {app,name,query,client_addr,node} for every publish; 2xx allows")
	fs.DurationVar(&f.publishHookTimeout, "publish-hook-timeout", 3*time.Second, "publish hook timeout")
	fs.BoolVar(&f.publishHookFailOpen, "publish-hook-fail-open", false, "allow publishing when the hook cannot be reached")
	fs.StringVar(&f.takeover, "takeover", "reject", "a second publisher of a live stream: reject, or replace the first")
	fs.IntVar(&f.maxConns, "max-conns", 1000, "maximum RTMP connections")
	fs.IntVar(&f.maxPublishers, "max-publishers", 500, "maximum live publishers")
	fs.IntVar(&f.maxMessageSize, "max-message-size", 8<<20, "maximum RTMP message size in bytes")
	fs.DurationVar(&f.readTimeout, "read-timeout", 10*time.Second, "drop a connection that sends nothing for this long")
	fs.DurationVar(&f.setupTimeout, "setup-timeout", 10*time.Second, "drop a connection that has not started a publish or play this long after connecting")
	fs.IntVar(&f.uploadConcurrency, "upload-concurrency", 4, "parallel segment uploads")
	fs.DurationVar(&f.uploadRetryMax, "upload-retry-max", 30*time.Second, "longest wait between retries of a failed upload")
	fs.Int64Var(&f.uploadBandwidth, "upload-bandwidth", 0, "upload cap in bytes per second (0: none)")
	fs.Int64Var(&f.spoolLimit, "spool-limit", 20<<30, "spool size in bytes past which new segments are dropped (-1: none)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM: how long live publishers may go on, then how long the spool may take to upload")
	fs.StringVar(&f.adminToken, "admin-token", "", "bearer token for the live management API (/v1/live); empty: that API is off")
	fs.IntVar(&f.maxStreamSeries, "max-stream-series", 100, "live streams that get per-stream metrics (bit rate, fps); the rest are counted only")
	fs.Var(&f.relayRules, "relay", "comma-separated re-push rules match=rtmp://host/app/name; match is *, an app or app/name; {app} and {name} are replaced")
	fs.IntVar(&f.relayQueue, "relay-queue", 1024, "frames a relay target may fall behind before frames are dropped for it")
	fs.DurationVar(&f.relayTimeout, "relay-timeout", 10*time.Second, "relay connect and send timeout")
}

// registerRole adds the flags of role: dev has the replay API and the
// editor besides the origin's.
func (f *serveFlags) registerRole(fs *flag.FlagSet, role string) {
	f.register(fs)
	if role == "dev" {
		f.replay.register(fs, "file://./data/jobs")
		f.editor.register(fs)
	} else {
		fs.Var(&f.playSecrets, "playback-secrets", "comma-separated HMAC secrets for signed live playback (empty: open)")
	}
}

// serve runs the RTMP origin and the recorder (role "origin"), plus, in
// "dev", everything else on the same HTTP address. The first SIGINT or
// SIGTERM stops ingest, lets the recorder upload its spool for up to
// --drain-timeout and exits; a second one exits at once.
func serve(ctx context.Context, role string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind "+role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.registerRole(fs, role)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, st, reg, err := f.setup(ctx, stderr)
	if err != nil {
		return err
	}

	n, err := buildNode(role, &f, log, st, reg)
	if err != nil {
		return err
	}
	defer n.close()
	rec, org := n.rec, n.org

	rtmpLn, err := net.Listen("tcp", f.rtmpAddr)
	if err != nil {
		return fmt.Errorf("rtmp listen: %w", err)
	}
	httpLn, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		rtmpLn.Close()
		return fmt.Errorf("http listen: %w", err)
	}
	httpSrv := &http.Server{Handler: n.handler, ReadHeaderTimeout: 10 * time.Second}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	recCtx, stopRec := context.WithCancel(context.Background())
	recDone := make(chan error, 1)
	go func() { recDone <- rec.Run(recCtx) }()
	ingestCtx, stopIngest := context.WithCancel(ctx)
	ingestDone := make(chan error, 1)
	go func() { ingestDone <- org.Serve(ingestCtx, rtmpLn) }()
	httpDone := make(chan error, 1)
	go func() { httpDone <- httpSrv.Serve(httpLn) }()
	workCtx, stopWork := context.WithCancel(context.Background())
	workDone := make(chan error, 1)
	if n.worker != nil {
		go func() { workDone <- n.worker.Run(workCtx) }()
	} else {
		workDone <- nil
	}
	log.Info("rewind started", "role", role, "rtmp", rtmpLn.Addr().String(), "http", httpLn.Addr().String(),
		"store", redactURL(f.storeURL), "spool", f.spool, "node", f.node)

	var runErr error
	select {
	case s := <-sigs:
		log.Info("shutting down: stopping ingest, draining the spool", "signal", s.String(), "drain_timeout", f.drainTimeout)
	case err := <-ingestDone:
		runErr = fmt.Errorf("rtmp: %w", err)
		ingestDone <- nil
	case err := <-httpDone:
		runErr = fmt.Errorf("http: %w", err)
		httpDone <- nil
	case <-ctx.Done():
	}
	// A second signal exits at once; what is in the spool is picked up at
	// the next start.
	go func() {
		s := <-sigs
		log.Warn("second signal: exiting now; the spool is kept for the next start", "signal", s.String())
		os.Exit(1)
	}()

	// Drain: readyz fails and new publishes are refused, so the load
	// balancer sends streamers elsewhere; live publishers may go on for a
	// while, then they are closed and their runs ended.
	org.Drain()
	waitCtx, cancelWait := context.WithTimeout(context.Background(), f.drainTimeout)
	for org.Publishers() > 0 && waitCtx.Err() == nil {
		select {
		case <-waitCtx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancelWait()
	if n := org.Publishers(); n > 0 {
		log.Info("drain timeout: closing live publishers", "publishers", n)
	}
	stopIngest()
	<-ingestDone // every publish ended: every segment is in the spool
	drainCtx, cancel := context.WithTimeout(context.Background(), f.drainTimeout)
	if err := rec.WaitIdle(drainCtx); err != nil {
		log.Warn("drain timed out; the rest stays in the spool for the next start", "err", err)
	}
	cancel()
	stopWork() // running clip jobs go back to the queue
	<-workDone
	stopRec()
	<-recDone
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	httpSrv.Shutdown(shutCtx)
	cancel()
	log.Info("stopped")
	return runErr
}

// redactURL keeps credentials that may sit in a store URL out of the logs.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}

// metricsRegistry is where a node registers its metrics and /metrics
// gathers them from.
type metricsRegistry interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// node is the parts of a serving process (dev or origin), wired together.
type node struct {
	rec     *recorder.Recorder
	players *origin.Players
	org     *origin.Server
	api     *vodapi.Server // dev only
	jobs    queue.Queue    // dev only: clip jobs, shared by the API and the worker
	worker  clipWorker     // dev only, cgo builds only
	handler http.Handler   // everything on the HTTP address
}

func (n *node) close() {
	if n.api != nil {
		n.api.Close()
	}
	if n.jobs != nil {
		n.jobs.Close()
	}
}

// buildNode makes the recorder, the live players, the origin and, in dev,
// the replay API, and the HTTP handler that serves them; nothing runs yet.
func buildNode(role string, f *serveFlags, log *slog.Logger, st store.Store, reg metricsRegistry) (*node, error) {
	rec, err := recorder.New(recorder.Config{
		Spool:              f.spool,
		Node:               f.node,
		SegmentDuration:    f.segmentDuration,
		MaxSegmentDuration: f.maxSegmentDuration,
		UploadConcurrency:  f.uploadConcurrency,
		RetryMax:           f.uploadRetryMax,
		BandwidthLimit:     f.uploadBandwidth,
		SpoolLimit:         f.spoolLimit,
	}, st, log, reg)
	if err != nil {
		return nil, err
	}
	playSecrets := f.playSecrets
	if role == "dev" {
		playSecrets = f.replay.playbackSecrets
	}
	players := origin.NewPlayers(origin.PlayersConfig{Secrets: playSecrets}, log, reg)
	sinks := []origin.Sink{recorderSink{rec}} // and players, as Config.Players
	var rules []relay.Rule
	for _, s := range f.relayRules {
		r, err := relay.ParseRule(s)
		if err != nil {
			return nil, fmt.Errorf("--relay: %w", err)
		}
		rules = append(rules, r)
	}
	// The relay's metrics always exist (at zero, for the alerts); it is a
	// sink only when there are rules, so a node without relays does not
	// queue every frame for it.
	rl, err := relay.New(relay.Config{Rules: rules, Queue: f.relayQueue, Timeout: f.relayTimeout}, log, reg)
	if err != nil {
		return nil, err
	}
	if len(rules) > 0 {
		sinks = append(sinks, rl)
	}
	org, err := origin.New(origin.Config{
		Addr:    f.rtmpAddr,
		Node:    f.node,
		Players: players,
		Auth: origin.AuthConfig{
			Secrets:      f.publishSecrets,
			HookURL:      f.publishHook,
			HookTimeout:  f.publishHookTimeout,
			HookFailOpen: f.publishHookFailOpen,
		},
		Takeover:        f.takeover,
		MaxConns:        f.maxConns,
		MaxPublishers:   f.maxPublishers,
		MaxMessageSize:  f.maxMessageSize,
		ReadTimeout:     f.readTimeout,
		SetupTimeout:    f.setupTimeout,
		MaxStreamSeries: f.maxStreamSeries,
	}, sinks, log, reg)
	if err != nil {
		return nil, err
	}
	n := &node{rec: rec, players: players, org: org}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	liveAPI := org.APIHandler(f.adminToken)
	for _, p := range []string{"/v1/live", "/v1/live/", "GET /readyz"} {
		mux.Handle(p, liveAPI)
	}
	if role == "dev" {
		// One queue object for both sides: the embedded queue wakes its
		// receivers in memory.
		if n.jobs, err = f.replay.jobs.open(context.Background(), f.editor.lease); err != nil {
			return nil, err
		}
		n.api, err = vodapi.New(f.replay.config(f.segmentDuration, n.jobs), st, log, reg)
		if err != nil {
			n.close()
			return nil, err
		}
		f.editor.publicURL = f.replay.publicURL
		f.editor.webhookGuard = f.replay.jobs.webhookAllow.Guard()
		n.worker = devEditor(&f.editor, st, n.jobs, log, reg)
		mux.Handle("/", n.api.Handler())
	} else {
		mux.HandleFunc("GET /healthz", healthz)
	}
	// Live HTTP-FLV (GET /{app}/{name}.flv) first, everything else after.
	routed := httpjson.Mux(mux)
	n.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && players.ServeFLV(w, r) {
			return
		}
		routed.ServeHTTP(w, r)
	})
	return n, nil
}
