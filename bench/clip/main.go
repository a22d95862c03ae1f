// Command clip is the clip benchmark: a clip (default 10 minutes) of a
// recorded 1080p30 stream, cut by rewind's editor worker next to ffmpeg
// cutting the very same segments in the same run.
//
// The source is encoded once (cached in bench/out) and written through the
// recorder, as fast as it goes, into a local FS store. Each rewind job then
// goes the production way: job document, queue message, editor worker
// (fetch, libav cut, upload), timed from Send to the document saying
// succeeded. The peer concatenates the same segments into one local TS
// (timed apart: it is the peer's fetch) and runs ffmpeg on it:
//
//	copy:     ffmpeg -ss S -to E -i all.ts -c copy -movflags +faststart out.mp4
//	accurate: ffmpeg -i all.ts -ss S -to E -c:v libx264 -preset veryfast -b:v 4M -c:a copy ...
//
// veryfast is the preset rewind's accurate edges use (editor/av/codec.go).
// The re-encode seeks on the output side: FFmpeg's MPEG-TS demuxer indexes
// every packet as a keyframe when it seeks (mpegts_get_dts), so an input
// -ss lands past the keyframe before S and the re-encode comes out with
// the first frames missing and duplicates in their place. Decoding from
// the start of all.ts costs at most one segment more. The copy keeps the
// input -ss; it starts at the keyframe after S for the same reason (still
// within a GOP). Every output is probed: a copy must be within one GOP
// (2 s) of the clip, an accurate cut within one frame, or the bench fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/editor"
	"github.com/rewind-vod/rewind/infra/queue/embedded"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

const (
	gop      = 2 * time.Second        // the source's keyframe interval (-g 60 at 30 fps)
	offKey   = 500 * time.Millisecond // the clip starts this far past a keyframe
	maxLead  = 30 * time.Second       // recording before the clip start
	fallback = 30.0                   // fps when the recorder did not measure it
)

type config struct {
	source, clip, reencode time.Duration
	out, work              string
	keep                   bool
}

func main() {
	var c config
	flag.DurationVar(&c.source, "source", 11*time.Minute, "length of the recorded source")
	flag.DurationVar(&c.clip, "clip", 10*time.Minute, "length of the clip")
	flag.DurationVar(&c.reencode, "reencode", 0, "length of the range ffmpeg re-encodes as the accurate peer, scaled up to the clip (0: the whole clip)")
	flag.StringVar(&c.out, "out", "bench/out", "folder for the cached source media")
	flag.StringVar(&c.work, "work", "", "folder to hold the bench's scratch folder (default: the system temp folder)")
	flag.BoolVar(&c.keep, "keep", false, "keep the scratch folder (store, outputs) after the run")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if c.clip <= 0 || c.source-c.clip < 4*time.Second {
		fmt.Fprintln(os.Stderr, "bench: -clip must be positive and -source at least 4s longer")
		os.Exit(2)
	}
	if c.reencode <= 0 || c.reencode > c.clip {
		c.reencode = c.clip
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c)
	stop()
	if err != nil {
		slog.Error("clip bench failed", "err", err)
		os.Exit(1)
	}
}

// row is one mode's figures: rewind's job against the peer.
type row struct {
	mode         string
	rewind, peer time.Duration // peer scaled to the whole clip
	cut          time.Duration // rewind's cut phase alone
	rss, peerRSS int64         // peak RSS growth of the bench during rewind's job; ffmpeg's peak RSS
	scaled       bool
	rp, pp       probe
}

func run(ctx context.Context, c config) error {
	src, took, err := sourceFLV(ctx, c.out, c.source)
	if err != nil {
		return err
	}
	if took > 0 {
		fmt.Printf("encoded %s of 1080p30 source in %.1f s (%.2fx real time)\n", c.source, took.Seconds(), c.source.Seconds()/took.Seconds())
	}
	tmp, err := os.MkdirTemp(c.work, "rewind-clip-bench-")
	if err != nil {
		return fmt.Errorf("scratch folder: %w", err)
	}
	if c.keep {
		defer fmt.Println("kept", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	// rewind's own components log warnings only: their info lines would
	// bury the table.
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := fsstore.New(filepath.Join(tmp, "store"))
	if err != nil {
		return err
	}

	slog.Info("recording", "source", src)
	rec, err := record(ctx, src, st, filepath.Join(tmp, "spool"), quiet)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	fps := fallback
	if v := rec.manifest.Video; v != nil && v.FPS > 0 {
		fps = v.FPS
	}
	fmt.Printf("recorded %s of media in %.1f s (%.0fx real time): %d FLV tags, %d segments, %.1f MiB, %.0f frames dropped, %.0f discontinuities\n",
		rec.span().Round(time.Millisecond), rec.took.Seconds(), rec.span().Seconds()/rec.took.Seconds(), rec.tags,
		len(rec.entries), mib(rec.bytes()), rec.counts["rewind_recorder_frames_dropped_total"],
		rec.counts["rewind_recorder_discontinuities_total"])

	lead := min(maxLead, (c.source-c.clip)/2)
	start := time.UnixMilli(rec.entries[0].StartMS).Add(lead + offKey)
	end := start.Add(c.clip)
	part, err := rec.part(start, end)
	if err != nil {
		return err
	}
	// The peer's offsets in the concatenated part, as the editor computes
	// its own (from the part's first segment, which starts on a keyframe).
	ss := time.Duration(start.UnixMilli()-part.StartMS) * time.Millisecond

	q, err := embedded.Open(filepath.Join(tmp, "jobs"), time.Minute)
	if err != nil {
		return err
	}
	defer q.Close()
	workDir := filepath.Join(tmp, "work")
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return fmt.Errorf("work folder: %w", err)
	}
	ts := &timedStore{Store: st}
	reg := prometheus.NewRegistry() // the editor's phase timings
	// One attempt: a failed job fails the bench instead of waiting for a retry.
	w := editor.New(editor.Config{WorkDir: workDir, MaxAttempts: 1}, ts, q, quiet, reg)
	wctx, wcancel := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		w.Run(wctx)
	}()
	defer func() { wcancel(); <-wdone }()

	fmt.Printf("clip %s from %s into the run (%.1f s into segment %d, 0.5 s past a keyframe), segments %d..%d (%d)\n",
		c.clip, lead+offKey, ss.Seconds(), part.FirstSeq, part.FirstSeq, part.LastSeq, part.LastSeq-part.FirstSeq+1)

	// Copy: rewind, then the peer's concat and cut.
	slog.Info("rewind copy job")
	copyJob, err := runJob(ctx, st, ts, q, reg, rec, part, start, end, catalog.FormatMP4, catalog.ModeCopy)
	if err != nil {
		return err
	}
	allTS := filepath.Join(tmp, "all.ts")
	slog.Info("peer concat")
	t0 := time.Now()
	if err := concat(ctx, st, rec, part, allTS); err != nil {
		return err
	}
	concatTook := time.Since(t0)
	slog.Info("peer copy")
	copyOut := filepath.Join(tmp, "out.mp4")
	copyPeer, copyRSS, err := ffmpeg(ctx, "-ss", secs(ss), "-to", secs(ss+c.clip), "-i", allTS,
		"-c", "copy", "-movflags", "+faststart", "-y", copyOut)
	if err != nil {
		return err
	}

	// Accurate: rewind, then the peer's full re-encode (maybe of a shorter
	// range, scaled up).
	slog.Info("rewind accurate job")
	accJob, err := runJob(ctx, st, ts, q, reg, rec, part, start, end, catalog.FormatMP4, catalog.ModeAccurate)
	if err != nil {
		return err
	}
	slog.Info("peer re-encode", "range", c.reencode)
	accOut := filepath.Join(tmp, "out2.mp4")
	accPeer, accRSS, err := ffmpeg(ctx, "-i", allTS, "-ss", secs(ss), "-to", secs(ss+c.reencode),
		"-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-c:a", "copy", "-movflags", "+faststart", "-y", accOut)
	if err != nil {
		return err
	}
	scale := c.clip.Seconds() / c.reencode.Seconds()

	rows := []row{
		{mode: "copy", rewind: copyJob.took, peer: copyPeer, cut: copyJob.phases.cut, rss: copyJob.rss, peerRSS: copyRSS},
		{mode: "accurate", rewind: accJob.took, peer: time.Duration(float64(accPeer) * scale), cut: accJob.phases.cut,
			rss: accJob.rss, peerRSS: accRSS, scaled: scale != 1},
	}
	outs := [][2]string{{stored(st, copyJob), copyOut}, {stored(st, accJob), accOut}}
	for i := range rows {
		if rows[i].rp, err = ffprobe(ctx, outs[i][0]); err != nil {
			return err
		}
		if rows[i].pp, err = ffprobe(ctx, outs[i][1]); err != nil {
			return err
		}
	}

	fmt.Printf("clip benchmark: %s clip of a %s 1080p30 recording (4 Mbit/s H.264 ultrafast, 2 s GOPs, AAC; 4 s segments) in a local FS store; %d CPUs\n",
		c.clip, c.source, runtime.NumCPU())
	fmt.Printf("%-9s %9s %9s %7s %9s %9s %10s %10s %10s %10s %10s %10s\n",
		"mode", "rewind s", "ffmpeg s", "ratio", "ratio+cat", "ratio cut", "rewind MiB", "ffmpeg MiB", "rewind dur", "ffmpeg dur",
		"rewind rss", "ffmpeg rss")
	for _, r := range rows {
		mark := ""
		if r.scaled {
			mark = "*"
		}
		fmt.Printf("%-9s %9.2f %9s %7.2f %9.2f %9.2f %10.1f %10.1f %10.3f %10.3f %10s %10s\n",
			r.mode, r.rewind.Seconds(), fmt.Sprintf("%.2f%s", r.peer.Seconds(), mark),
			ratio(r.rewind, r.peer), ratio(r.rewind, r.peer+concatTook), ratio(r.cut, r.peer),
			mib(r.rp.size), mib(r.pp.size), r.rp.duration, r.pp.duration, rssMiB(r.rss), rssMiB(r.peerRSS))
	}
	fmt.Printf("rewind s: job wall time, queue Send to the job document saying succeeded (polled every 20 ms); ffmpeg s: the ffmpeg command alone on all.ts;\n")
	fmt.Printf("ratio: rewind s / ffmpeg s; ratio+cat: rewind s / (ffmpeg s + %.2f s the peer took to concatenate the %d segments from the store into all.ts);\n",
		concatTook.Seconds(), part.LastSeq-part.FirstSeq+1)
	fmt.Printf("ratio cut: rewind's cut phase alone (last segment read to output put, reading the output back included) / ffmpeg s; dur: container duration, s.\n")
	if scale != 1 {
		fmt.Printf("* ffmpeg re-encoded %s of the %s clip in %.2f s, scaled x%.2f; its MiB and dur are of the %s it wrote.\n",
			c.reencode, c.clip, accPeer.Seconds(), scale, c.reencode)
	}
	fmt.Printf("rss MiB: rewind: the bench process's peak RSS during the job less its RSS before (the editor runs in it; clear_refs 5); ffmpeg: its maxrss.\n")
	fmt.Printf("rewind's upload is the FS store's PutFile (the output hard-linked into the store and fsynced, not written again); ffmpeg's output is not synced.\n")
	fmt.Printf("rewind copy phases:     %s\n", copyJob.phases)
	fmt.Printf("rewind accurate phases: %s\n", accJob.phases)

	// The checks: figures for outputs that are not the clip mean nothing.
	frame := time.Duration(float64(time.Second) / fps)
	fmt.Printf("outputs (ffprobe): container s, video s from its start s, video frames counted, audio start s; want copy within %s, accurate within %.1f ms (one frame at %.2f fps):\n",
		gop, frame.Seconds()*1000, fps)
	var bad []string
	check := func(what string, p probe, want, tol time.Duration) {
		fmt.Printf("  %-17s %8.3f %8.3f from %6.3f %7d frames (%.0f expected), audio from %.3f\n",
			what, p.duration, p.vdur, p.vstart, p.vframes, want.Seconds()*fps, p.astart)
		for _, got := range []float64{p.duration, p.vdur} {
			if d := math.Abs(got - want.Seconds()); d > tol.Seconds()+0.001 {
				bad = append(bad, fmt.Sprintf("%s: %.3f s, want %.3f ± %.3f", what, got, want.Seconds(), tol.Seconds()))
			}
		}
	}
	check("rewind copy", rows[0].rp, c.clip, gop)
	check("ffmpeg copy", rows[0].pp, c.clip, gop)
	check("rewind accurate", rows[1].rp, c.clip, frame)
	check("ffmpeg re-encode", rows[1].pp, c.reencode, frame)

	// HLS by reference: only the edges are new.
	hbad, err := hlsRows(ctx, st, ts, q, reg, rec, part, start, end, c.clip, fps, quiet)
	if err != nil {
		return err
	}
	bad = append(bad, hbad...)
	if len(bad) > 0 {
		return errors.New("outputs off: " + strings.Join(bad, "; "))
	}
	return nil
}

// stored is the local file of a job's output in the FS store.
func stored(st *fsstore.FS, r jobRun) string {
	return filepath.Join(st.Root(), filepath.FromSlash(r.job.Output.Key))
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a.Seconds() / b.Seconds()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// rssMiB formats a byte count as MiB, "-" when unknown (negative).
func rssMiB(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", mib(n))
}
