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
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	snap "github.com/rewind-vod/rewind/editor/snapshot"
	"github.com/rewind-vod/rewind/infra/httpjson"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/origin"
	"github.com/rewind-vod/rewind/origin/relay"
	"github.com/rewind-vod/rewind/recorder"
	"github.com/rewind-vod/rewind/retention"
	"github.com/rewind-vod/rewind/sched"
	"github.com/rewind-vod/rewind/sched/collect"
	"github.com/rewind-vod/rewind/vodapi"
)

// serve runs the RTMP origin and the recorder (role "origin"), plus, in
// "dev", everything else on the same HTTP address. The first SIGINT or
// SIGTERM stops ingest, lets the recorder upload its spool for up to
// --drain-timeout and exits; a second one exits at once.
func serve(ctx context.Context, role string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind "+role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f, _ := newNodeSettings(fs, role)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, st, reg, err := f.setup(ctx, stderr)
	if err != nil {
		return err
	}
	setGCPercent(f.GCPercent, log)

	n, err := buildNode(role, f, log, st, reg)
	if err != nil {
		return err
	}
	defer n.close()
	rec, org := n.rec, n.org

	rtmpLn, err := net.Listen("tcp", f.Origin.Addr)
	if err != nil {
		return fmt.Errorf("rtmp listen: %w", err)
	}
	httpLn, err := net.Listen("tcp", f.HTTPAddr)
	if err != nil {
		rtmpLn.Close()
		return fmt.Errorf("http listen: %w", err)
	}
	httpSrv := &http.Server{Handler: n.handler, ReadHeaderTimeout: 10 * time.Second, ConnContext: vodapi.ConnContext}

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
	dirCtx, stopDir := context.WithCancel(context.Background())
	dirDone := make(chan error, 1)
	if n.dir != nil {
		go func() { dirDone <- n.dir.Run(dirCtx) }()
	} else {
		dirDone <- nil
	}
	workCtx, stopWork := context.WithCancel(context.Background())
	workDone := make(chan error, 1)
	if n.worker != nil {
		go func() { workDone <- n.worker.Run(workCtx) }()
	} else {
		workDone <- nil
	}
	snapDone := make(chan error, 1)
	if n.snaps != nil {
		go func() { snapDone <- n.snaps.Run(workCtx) }()
	} else {
		snapDone <- nil
	}
	schedDone := make(chan error, 1)
	if n.sched != nil {
		go func() { schedDone <- n.sched.Run(workCtx) }()
	} else {
		schedDone <- nil
	}
	sweepDone := make(chan error, 1)
	if n.sweeper != nil {
		go func() { sweepDone <- n.sweeper.Run(workCtx) }()
	} else {
		sweepDone <- nil
	}
	log.Info("rewind started", "role", role, "rtmp", rtmpLn.Addr().String(), "http", httpLn.Addr().String(),
		"store", redactURL(f.Store), "spool", f.Recorder.Spool, "agent", f.Recorder.Agent, "node", f.Origin.Node)

	var runErr error
	select {
	case s := <-sigs:
		log.Info("shutting down: stopping ingest, draining the spool", "signal", s.String(), "drain_timeout", f.DrainTimeout)
	case err := <-ingestDone:
		runErr = fmt.Errorf("rtmp: %w", err)
		ingestDone <- nil
	case err := <-httpDone:
		runErr = fmt.Errorf("http: %w", err)
		httpDone <- nil
	case err := <-recDone: // it could not start (the spool has another uploader)
		runErr = err
		recDone <- err
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
	waitCtx, cancelWait := context.WithTimeout(context.Background(), f.DrainTimeout)
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
	<-ingestDone      // every publish ended: every segment is in the spool
	n.players.Close() // pulls from other nodes, and their players
	stopDir()
	<-dirDone
	drainCtx, cancel := context.WithTimeout(context.Background(), f.DrainTimeout)
	if err := rec.WaitIdle(drainCtx); err != nil {
		log.Warn("drain timed out; the rest stays in the spool for the next start", "err", err)
	}
	cancel()
	stopWork() // running clip jobs go back to the queue; the scheduler saves its meter
	<-workDone
	<-snapDone
	<-schedDone
	<-sweepDone
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
	dir     *catalog.Directory // origin only: the node registry, for pulls
	api     *vodapi.Server     // dev only
	jobs    queue.Queue        // dev only: clip jobs, shared by the API and the worker
	worker  clipWorker         // dev only, cgo builds only
	snaps   *snap.Snapshotter  // dev only, cgo builds only, unless --snapshot-interval 0
	sched   *sched.Service     // dev only, with --cdns
	sweeper *retention.Sweeper // dev only, with --retention on a local store
	// schedHandler serves the scheduler's routes (dev); relayQoS counts
	// relay faults per CDN where no scheduler runs (origin, with --cdns).
	schedHandler http.Handler
	relayQoS     *collect.Collector
	handler      http.Handler // everything on the HTTP address
}

func (n *node) close() {
	if n.sched != nil {
		n.sched.Close()
	}
	if n.relayQoS != nil {
		n.relayQoS.Close()
	}
	if n.api != nil {
		n.api.Close()
	}
	if n.jobs != nil {
		n.jobs.Close()
	}
}

// buildNode makes the recorder, the live players, the origin and, in dev,
// the replay API, and the HTTP handler that serves them; nothing runs yet.
func buildNode(role string, f *nodeSettings, log *slog.Logger, st store.Store, reg metricsRegistry) (*node, error) {
	recStore := st
	if f.Recorder.Agent == recorder.AgentExternal {
		recStore = nil // recordings go to the store through `rewind agent` only
	}
	// The record policy's segment durations are the recorder's to apply;
	// which streams are recorded is the origin's (RecordControl).
	rc := f.Recorder
	rc.SegmentDurations = f.Origin.RecordPolicy.SegmentDurations()
	rec, err := recorder.New(rc, recStore, log, reg)
	if err != nil {
		return nil, err
	}
	pc := f.Players
	var dir *catalog.Directory
	if role == "origin" {
		// A player asking for a stream live on another node gets it pulled
		// from there: the registry says where.
		dc := f.Directory
		dc.Self = catalog.SanitizeNode(dc.Self) // as the origin does its name
		if dir, err = catalog.NewDirectory(st, dc, log, reg); err != nil {
			return nil, err
		}
		pc.Upstreams = dir
	}
	players := origin.NewPlayers(pc, log, reg)
	var sinks []origin.Sink // and the recorder and players, as Config.Recorder and Config.Players
	n := &node{}
	rcfg := f.Relay
	if len(f.Sched.CDNs) > 0 {
		// Relay targets at a CDN's push address are that CDN's ingest: their
		// faults are the CDN's, for the scheduler. dev feeds its own
		// scheduler; an origin keeps a collector of them for Prometheus.
		var col *collect.Collector
		if role == "dev" {
			if n.sched, n.schedHandler, err = newScheduler(context.Background(), f.Sched, f.AdminToken, st, log, reg); err != nil {
				return nil, err
			}
			col = n.sched.Collector()
		} else {
			if n.relayQoS, err = collect.New(collect.Config{CDNs: cdnNames(f.Sched.CDNs)}, log, reg); err != nil {
				return nil, err
			}
			col = n.relayQoS
		}
		rcfg.Results = relayResults(sched.PushAddrs(f.Sched.CDNs), col)
	}
	// The relay's metrics always exist (at zero, for the alerts); it is a
	// sink only when there are rules, so a node without relays does not
	// queue every frame for it.
	rl, err := relay.New(rcfg, log, reg)
	if err != nil {
		n.close()
		return nil, err
	}
	if len(f.Relay.Rules) > 0 {
		sinks = append(sinks, rl)
	}
	oc := f.Origin
	oc.Players = players
	oc.Recorder = recorderSink{rec}
	if role == "origin" {
		// Every origin node beats into the node registry, in the store it
		// records to, so proxies and the other nodes find it.
		oc.Registry = catalog.NewRegistry(st, reg)
	}
	org, err := origin.New(oc, sinks, log, reg)
	if err != nil {
		n.close()
		return nil, err
	}
	n.rec, n.players, n.org, n.dir = rec, players, org, dir

	mux := metricsMux(reg)
	liveAPI := org.APIHandler(f.AdminToken)
	for _, p := range []string{"/v1/live", "/v1/live/", "GET /readyz"} {
		mux.Handle(p, liveAPI)
	}
	if role == "dev" {
		// One queue object for both sides: the embedded queue wakes its
		// receivers in memory.
		if n.jobs, err = f.Jobs.open(context.Background()); err != nil {
			return nil, err
		}
		warmUp(context.Background(), f.WarmUp, log)
		n.api, err = vodapi.New(replayConfig(f.Replay, n.jobs), st, log, reg)
		if err != nil {
			n.close()
			return nil, err
		}
		n.worker = devEditor(f.Editor, st, n.jobs, log, reg)
		if n.snaps, err = newSnapshotter(f.Snapshots, st, originLive(org), log, reg); err != nil {
			n.close()
			return nil, err
		}
		n.sweeper = newSweeper(f.Retention, st, log, reg)
		var api http.Handler = n.api.Handler()
		// With --cdns, the scheduler runs here too (built above), reading
		// its own collector, which also sees the CMCD on replay requests.
		if n.sched != nil {
			api = n.sched.Observe(api)
			for _, p := range schedRoutes {
				mux.Handle(p, n.schedHandler)
			}
		}
		mux.Handle("/", api)
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

// defaultGCPercent: an origin's heap is mostly frames it holds (GOP caches,
// sink queues), plain bytes the GC marks at no cost, so collecting at 50 %
// growth instead of Go's 100 % costs little CPU and saves about a quarter
// of the RSS per publisher (bench/ingest).
const defaultGCPercent = 50

// setGCPercent applies --gc-percent unless GOGC is set, which the runtime
// has applied already and which wins.
func setGCPercent(pct int, log *slog.Logger) {
	if os.Getenv("GOGC") != "" || pct == 0 {
		return
	}
	debug.SetGCPercent(pct)
	log.Debug("gc percent", "percent", pct)
}
