package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/rewind-vod/rewind/recorder"
)

// defaultAgentHTTP: the agent runs next to an origin, whose HTTP address
// defaults to defaultHTTPAddr.
const defaultAgentHTTP = "127.0.0.1:8083"

// agentSettings are the settings of `rewind agent`: the spool it shares
// with an origin, the store, and its own upload flow control.
type agentSettings struct {
	commonSettings
	HTTPAddr     string
	DrainTimeout time.Duration
	Recorder     recorder.Config
}

func newAgentSettings(fs *flag.FlagSet) (*agentSettings, *binder) {
	s := &agentSettings{HTTPAddr: defaultAgentHTTP, DrainTimeout: 30 * time.Second, Recorder: recorder.DefaultConfig()}
	s.Recorder.Spool = defaultSpool
	b := newBinder(fs)
	s.commonSettings.bind(b)
	rec := &s.Recorder
	bind(b, "http-addr", "HTTP listen address (health, metrics)", &s.HTTPAddr)
	bind(b, "spool", "the spool directory an origin with --agent external slices into", &rec.Spool)
	bind(b, "scan-interval", "how often the spool is looked at for new segments and for runs whose origin died", &rec.ScanInterval)
	bindUpload(b, rec)
	bind(b, "drain-timeout", "on SIGTERM: how long finished segments and ended runs may take to upload before the agent exits", &s.DrainTimeout)
	return s, b
}

// serveAgent runs the upload agent apart from the live process: it stores
// and indexes what appears in the spool, ends the runs of an origin that
// died, and never touches live ingest. The first SIGINT or SIGTERM lets
// what is finished upload for up to --drain-timeout; a second one exits at
// once. Whatever is left stays in the spool for the next start.
func serveAgent(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f, _ := newAgentSettings(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, st, reg, err := f.setup(ctx, stderr)
	if err != nil {
		return err
	}
	ag, err := recorder.NewAgent(f.Recorder, st, log, reg)
	if err != nil {
		return err
	}
	mux := metricsMux(reg)
	mux.HandleFunc("GET /healthz", healthz)
	hs, err := startHTTP(f.HTTPAddr, mux)
	if err != nil {
		return err
	}

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	agentDone := make(chan error, 1)
	go func() { agentDone <- ag.Run(runCtx) }()
	sigCtx, stopSignals := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()
	log.Info("rewind agent started", "http", hs.addr, "store", redactURL(f.Store), "spool", f.Recorder.Spool)

	var runErr error
	select {
	case err := <-agentDone: // it could not start (the spool has another uploader)
		runErr = err
		agentDone <- nil
	case err := <-hs.done:
		runErr = fmt.Errorf("http: %w", err)
	case <-sigCtx.Done():
		stopSignals() // a second signal kills at once
		log.Info("shutting down: uploading what is finished", "drain_timeout", f.DrainTimeout)
		drainCtx, cancel := context.WithTimeout(context.Background(), f.DrainTimeout)
		if err := ag.WaitDrained(drainCtx); err != nil {
			log.Warn("drain timed out; the rest stays in the spool for the next start", "err", err)
		}
		cancel()
	}
	stopRun()
	<-agentDone
	hs.shutdown(log)
	log.Info("stopped")
	return runErr
}
