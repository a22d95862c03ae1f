package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/recorder"
)

// sourceFLV encodes the 1080p30 source once into out and caches it; took is
// zero when the cached file was used. ultrafast keeps a first run of the
// 11-minute default in minutes on two cores.
func sourceFLV(ctx context.Context, out string, d time.Duration) (path string, took time.Duration, err error) {
	secs := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	path = filepath.Join(out, "clip-src-1080p30-4000k-g60-"+secs+"s.flv")
	if _, err := os.Stat(path); err == nil {
		return path, 0, nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", 0, fmt.Errorf("source folder: %w", err)
	}
	slog.Info("encoding the source once", "path", path, "duration", d)
	tmp := path + ".tmp.flv"
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", secs, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-b:v", "4M", "-maxrate", "4M", "-bufsize", "8M",
		"-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k", "-f", "flv", "-y", tmp)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return "", 0, fmt.Errorf("encode source: %w", err)
	}
	took = time.Since(t0)
	if err := os.Rename(tmp, path); err != nil {
		return "", 0, fmt.Errorf("encode source: %w", err)
	}
	return path, took, nil
}

// recording is the run the recorder stored, as read back from the store.
type recording struct {
	stream   catalog.Stream
	run      string
	manifest catalog.Manifest
	entries  []catalog.Entry
	tags     int           // FLV tags handed to the recorder
	took     time.Duration // first frame written to the last segment indexed
	counts   map[string]float64
}

// record writes the source through the recorder into st as fast as it
// goes, then waits until every segment, the index and run.json are stored.
func record(ctx context.Context, src string, st store.Store, spool string, log *slog.Logger) (recording, error) {
	reg := prometheus.NewRegistry()
	rec, err := recorder.New(recorder.Config{Spool: spool, SegmentDuration: 4 * time.Second}, st, log, reg)
	if err != nil {
		return recording{}, fmt.Errorf("recorder: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		rec.Run(rctx)
	}()
	defer func() { cancel(); <-stopped }()

	// StartedAt an hour back as the brief asks; note the recorder anchors
	// segment times to the wall clock at the first frame, not to this.
	start := time.Now().Add(-time.Hour)
	r := recording{stream: catalog.Stream{App: "bench", Name: "cam"}, run: catalog.NewRunID(start, "bench")}
	f, err := os.Open(src)
	if err != nil {
		return r, fmt.Errorf("source: %w", err)
	}
	defer f.Close()
	fr, err := flvfile.NewReader(f)
	if err != nil {
		return r, fmt.Errorf("source %s: %w", src, err)
	}
	s, err := rec.Open(media.StreamInfo{App: r.stream.App, Name: r.stream.Name, Run: r.run, StartedAt: start})
	if err != nil {
		return r, fmt.Errorf("open run: %w", err)
	}
	t0 := time.Now()
	for {
		tag, err := fr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.Close()
			return r, fmt.Errorf("source %s: %w", src, err)
		}
		// The origin hands sinks audio, video and script data (the
		// @setDataFrame payload, which is what an FLV script tag holds).
		switch media.FrameType(tag.Type) {
		case media.FrameAudio, media.FrameVideo, media.FrameData:
			s.WriteFrame(media.Frame{Type: media.FrameType(tag.Type), Timestamp: tag.Timestamp, Payload: tag.Body})
			r.tags++
		}
		if r.tags%4096 == 0 && ctx.Err() != nil {
			s.Close()
			return r, ctx.Err()
		}
	}
	s.Close()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Minute)
	defer wcancel()
	if err := rec.WaitIdle(wctx); err != nil {
		return r, err
	}
	r.took = time.Since(t0)
	if r.counts, err = gather(reg); err != nil {
		return r, err
	}
	if r.manifest, err = catalog.ReadManifest(ctx, st, r.stream, r.run); err != nil {
		return r, err
	}
	if r.manifest.State != catalog.StateEnded {
		return r, fmt.Errorf("run %s is %s after the publish ended", r.run, r.manifest.State)
	}
	if r.entries, err = catalog.ReadIndex(ctx, st, r.stream, r.run); err != nil {
		return r, err
	}
	if len(r.entries) == 0 {
		return r, fmt.Errorf("run %s has no segments", r.run)
	}
	return r, nil
}

// gather sums every counter and gauge of reg by family name.
func gather(reg *prometheus.Registry) (map[string]float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("recorder metrics: %w", err)
	}
	m := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			switch {
			case s.GetCounter() != nil:
				m[mf.GetName()] += s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				m[mf.GetName()] += s.GetGauge().GetValue()
			}
		}
	}
	return m, nil
}

// span is the recording's media time, first segment start to last end.
func (r recording) span() time.Duration {
	return time.Duration(r.entries[len(r.entries)-1].EndMS()-r.entries[0].StartMS) * time.Millisecond
}

// bytes is the size of the stored segments.
func (r recording) bytes() int64 {
	var n int64
	for _, e := range r.entries {
		n += int64(e.Size)
	}
	return n
}

// part is what vodapi's clipParts makes of [start, end) for this one run:
// the segments overlapping it, from the first's start to the last's end.
func (r recording) part(start, end time.Time) (catalog.ClipPart, error) {
	to := end.UnixMilli()
	p, ok := catalog.PartOf(r.run, r.entries, start, end)
	if !ok {
		return p, errors.New("no segment overlaps the clip range")
	}
	if p.EndMS < to {
		return p, fmt.Errorf("the recording ends %d ms before the clip range does", to-p.EndMS)
	}
	return p, nil
}

// concat copies the part's segments from the store into one local TS, as
// the editor's fetch does: ffmpeg's equivalent of rewind's download.
func concat(ctx context.Context, st store.Store, r recording, p catalog.ClipPart, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("concat: %w", err)
	}
	defer f.Close()
	for seq := p.FirstSeq; seq <= p.LastSeq; seq++ {
		key := catalog.SegmentKey(r.stream, p.Run, seq)
		rc, _, err := st.Get(ctx, key, nil)
		if err != nil {
			return fmt.Errorf("concat: %w", err)
		}
		_, err = io.Copy(f, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("concat %s: %w", key, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("concat: %w", err)
	}
	return nil
}
