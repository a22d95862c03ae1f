package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/vodapi"
)

// hlsRows runs the HLS clips (copy, accurate) and plays each through the
// replay API with ffprobe: ready time (Send to succeeded), bytes the clip
// added to the store against the clip's bytes, frames played.
func hlsRows(ctx context.Context, st *fsstore.FS, ts *timedStore, q queue.Queue, reg *prometheus.Registry, rec recording, part catalog.ClipPart,
	start, end time.Time, clip time.Duration, fps float64, log *slog.Logger) ([]string, error) {
	api, err := vodapi.New(vodapi.Config{}, st, log, nil)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(api.Handler())
	defer func() { srv.Close(); api.Close() }()

	fmt.Printf("HLS clips by reference (%s; playlist made by the replay API, played by ffprobe over HTTP):\n", clip)
	fmt.Printf("%-9s %9s %9s %9s %9s %11s %11s %8s %9s %10s %10s\n",
		"mode", "ready s", "edges s", "fixed ms", "files", "clip MiB", "added MiB", "added %", "dur s", "frames", "expected")
	var bad, splits []string
	for _, mode := range []string{catalog.ModeCopy, catalog.ModeAccurate} {
		slog.Info("rewind hls job", "mode", mode)
		r, err := runJob(ctx, st, ts, q, reg, rec, part, start, end, catalog.FormatHLS, mode)
		if err != nil {
			return nil, err
		}
		o := r.job.Output
		p, err := ffprobe(ctx, srv.URL+"/v1/clips/"+r.job.ID+"/output")
		if err != nil {
			return nil, err
		}
		want := clip.Seconds() * fps
		edges := r.editor["edges"]
		fixed := r.took - edges
		fmt.Printf("%-9s %9.3f %9.3f %9.1f %9d %11.1f %11.2f %8.2f %9.3f %10d %10.0f\n",
			mode, r.took.Seconds(), edges.Seconds(), ms(fixed), o.Files, mib(o.Size), mib(o.Stored), 100*float64(o.Stored)/float64(o.Size),
			o.Duration, p.vframes, want)
		var inEditor time.Duration
		for _, d := range r.editor {
			inEditor += d
		}
		splits = append(splits, fmt.Sprintf("  %-8s fixed %.1f ms = send %.1f + receive %.1f + start %.1f + index %.1f + manifest %.1f + finish %.1f + the bench's poll %.1f (%.1f ms without it)",
			mode, ms(fixed), ms(r.send), ms(r.took-r.send-inEditor-r.poll), ms(r.editor["start"]), ms(r.editor["index"]),
			ms(r.editor["manifest"]), ms(r.editor["finish"]), ms(r.poll), ms(fixed-r.poll)))
		tol := 1.0 // accurate: every frame
		if mode == catalog.ModeCopy {
			tol = gop.Seconds() * fps // copy: from the keyframe before the start
		}
		if math.Abs(float64(p.vframes)-want) > tol {
			bad = append(bad, fmt.Sprintf("hls %s: %d frames played, want %.0f ± %.0f", mode, p.vframes, want, tol))
		}
	}
	fmt.Printf("ready s: queue Send to the job document saying succeeded (polled every 20 ms); edges s: the edge work (the edge segments fetched, cut or re-encoded,\n")
	fmt.Printf("stored; the editor's rewind_editor_phase_seconds); fixed ms: the rest (goal: at most 100 ms), split in ms by the editor's phases:\n")
	for _, s := range splits {
		fmt.Println(s)
	}
	fmt.Printf("(send: the queue's durable Send; receive: the worker's receive and what no phase covers; poll: the result document's FinishedAt\n")
	fmt.Printf("and its write to the bench's 20 ms poll seeing it;\n")
	fmt.Printf("start: job document read and marked running; index: the run's index read; manifest: clip.json stored; finish: the result document written).\n")
	fmt.Printf("added: what the clip stored (its edge segments and manifest); clip MiB: the media the playlist names.\n")
	return bad, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
