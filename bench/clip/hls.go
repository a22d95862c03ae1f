package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/vodapi"
)

// hlsRows runs the HLS clips (copy, accurate) and plays each through the
// replay API with ffprobe: ready time (Send to succeeded), bytes the clip
// added to the store against the clip's bytes, frames played.
func hlsRows(ctx context.Context, st *fsstore.FS, ts *timedStore, q queue.Queue, rec recording, part catalog.ClipPart,
	start, end time.Time, clip time.Duration, fps float64, log *slog.Logger) ([]string, error) {
	api, err := vodapi.New(vodapi.Config{}, st, log, nil)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(api.Handler())
	defer func() { srv.Close(); api.Close() }()

	fmt.Printf("HLS clips by reference (%s; playlist made by the replay API, played by ffprobe over HTTP):\n", clip)
	fmt.Printf("%-9s %9s %9s %11s %11s %8s %9s %10s %10s\n",
		"mode", "ready s", "files", "clip MiB", "added MiB", "added %", "dur s", "frames", "expected")
	var bad []string
	for _, mode := range []string{catalog.ModeCopy, catalog.ModeAccurate} {
		slog.Info("rewind hls job", "mode", mode)
		r, err := runJob(ctx, st, ts, q, rec, part, start, end, catalog.FormatHLS, mode)
		if err != nil {
			return nil, err
		}
		o := r.job.Output
		p, err := ffprobe(ctx, srv.URL+"/v1/clips/"+r.job.ID+"/output")
		if err != nil {
			return nil, err
		}
		want := clip.Seconds() * fps
		fmt.Printf("%-9s %9.3f %9d %11.1f %11.2f %8.2f %9.3f %10d %10.0f\n",
			mode, r.took.Seconds(), o.Files, mib(o.Size), mib(o.Stored), 100*float64(o.Stored)/float64(o.Size),
			o.Duration, p.vframes, want)
		tol := 1.0 // accurate: every frame
		if mode == catalog.ModeCopy {
			tol = gop.Seconds() * fps // copy: from the keyframe before the start
		}
		if math.Abs(float64(p.vframes)-want) > tol {
			bad = append(bad, fmt.Sprintf("hls %s: %d frames played, want %.0f ± %.0f", mode, p.vframes, want, tol))
		}
	}
	fmt.Printf("ready s: queue Send to the job document saying succeeded (polled every 20 ms): index read, two edge segments fetched, cut and stored, manifest stored.\n")
	fmt.Printf("added: what the clip stored (its edge segments and manifest); clip MiB: the media the playlist names.\n")
	return bad, nil
}
