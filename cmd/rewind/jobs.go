package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/editor"
	snap "github.com/rewind-vod/rewind/editor/snapshot"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/origin"
)

// open opens the queue, or returns nil when none is configured.
func (q *queueSettings) open(ctx context.Context) (queue.Queue, error) {
	if q.URL == "" {
		return nil, nil
	}
	jobs, err := openQueue(ctx, q.URL, q.Opts)
	if err != nil {
		return nil, fmt.Errorf("--jobs: %w", err)
	}
	return jobs, nil
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
	f, _ := newEditorSettings(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.Jobs.URL == "" {
		return errors.New("--jobs: the editor needs a job queue")
	}
	log, st, reg, err := f.setup(ctx, stderr)
	if err != nil {
		return err
	}
	q, err := f.Jobs.open(ctx)
	if err != nil {
		return err
	}
	defer q.Close()
	w, err := newClipWorker(f.Editor, st, q, log, reg)
	if err != nil {
		return err
	}
	// Live snapshots of the streams the node registry lists as live.
	dir, err := catalog.NewDirectory(st, catalog.DirectoryConfig{}, log, reg)
	if err != nil {
		return err
	}
	snaps, err := newSnapshotter(f.Snapshots, st, snap.FromDirectory(dir.Nodes), log, reg)
	if err != nil {
		return err
	}
	mux := metricsMux(reg)
	mux.HandleFunc("GET /healthz", healthz)
	hs, err := startHTTP(f.HTTPAddr, mux)
	if err != nil {
		return err
	}
	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("rewind editor started", "http", hs.addr, "jobs", redactURL(f.Jobs.URL), "store", redactURL(f.Store), "snapshots", snaps != nil)
	var bg sync.WaitGroup
	if snaps != nil {
		bg.Go(func() { dir.Run(sigCtx) })
		bg.Go(func() { snaps.Run(sigCtx) })
	}
	// The worker returns once its running jobs stopped and were handed back.
	err = w.Run(sigCtx)
	bg.Wait()
	hs.shutdown(log)
	log.Info("stopped")
	return err
}

// newSnapshotter makes the live snapshotter, or nil when snapshots are off
// (--snapshot-interval 0) or this build has no libav.
func newSnapshotter(c snap.Config, st store.Store, list snap.Lister, log *slog.Logger, reg prometheus.Registerer) (*snap.Snapshotter, error) {
	render := snapshotRender()
	if c.Interval <= 0 || render == nil {
		return nil, nil
	}
	s, err := snap.New(c, st, list, render, log, reg)
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	return s, nil
}

// originLive lists the origin's live runs, for the snapshots of `rewind dev`.
func originLive(org *origin.Server) snap.Lister {
	return func(context.Context) ([]snap.LiveRun, error) {
		live := org.Live()
		out := make([]snap.LiveRun, 0, len(live))
		for _, ls := range live {
			if st, err := catalog.NewStream(ls.App, ls.Name); err == nil {
				out = append(out, snap.LiveRun{Stream: st, Run: ls.Run})
			}
		}
		return out, nil
	}
}

// devEditor starts the in-process worker of `rewind dev`; without cgo the
// node runs without one and says so.
func devEditor(f editor.Config, st store.Store, q queue.Queue, log *slog.Logger, reg prometheus.Registerer) clipWorker {
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
