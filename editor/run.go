//go:build cgo

package editor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/editor/av"
	"github.com/rewind-vod/rewind/infra/store"
)

// Share of the progress bar per stage: fetching is quick next to cutting
// and transcoding, uploading quicker still on the same network.
const (
	fetchShare  = 0.15
	cutShare    = 0.80
	uploadShare = 0.05
)

// run does the work of one attempt in a scratch folder it removes after.
func (w *Worker) run(ctx context.Context, job *catalog.ClipJob, log *slog.Logger) (*catalog.ClipOutput, error) {
	t := time.Now()
	dir, err := os.MkdirTemp(w.cfg.WorkDir, "clip-"+job.ID+"-")
	if err != nil {
		return nil, fmt.Errorf("scratch folder: %w", err)
	}
	defer os.RemoveAll(dir)
	st, err := catalog.ParseStream(job.Request.Stream)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errPermanent, err)
	}
	prog := w.progress(ctx, job, log)
	if job.Request.Format == catalog.FormatHLS && job.Request.Transcode == nil {
		return w.runHLS(ctx, job, st, dir, prog, t)
	}

	var total, done int
	for _, p := range job.Parts {
		total += int(p.LastSeq - p.FirstSeq + 1)
	}
	from, to := job.Request.Start.UnixMilli(), job.Request.End.UnixMilli()
	parts := make([]av.Part, 0, len(job.Parts))
	for i, p := range job.Parts {
		path := filepath.Join(dir, fmt.Sprintf("part-%d.ts", i))
		err := w.fetchPart(ctx, st, p, path, func() {
			done++
			prog(fetchShare * float64(done) / float64(total))
		})
		if err != nil {
			return nil, err
		}
		// Offsets from the part's first segment, which starts on the
		// keyframe the recorder cut at: its wall clock is StartMS.
		parts = append(parts, av.Part{Path: path,
			From: time.Duration(max(from-p.StartMS, 0)) * time.Millisecond,
			To:   time.Duration(min(to, p.EndMS)-p.StartMS) * time.Millisecond})
	}

	t = w.m.phase("fetch", t)

	out := filepath.Join(dir, "clip."+job.Request.Format)
	if job.Request.Format == catalog.FormatHLS {
		out = filepath.Join(dir, "hls")
	}
	opt := av.Options{Format: av.Format(job.Request.Format), Mode: av.Mode(job.Request.Mode),
		Progress: func(f float64) { prog(fetchShare + cutShare*f) }}
	if t := job.Request.Transcode; t != nil {
		opt.Transcode = &av.Transcode{Height: t.Height, VideoBitrate: t.VideoBitrate, AudioBitrate: t.AudioBitrate}
	}
	res, err := av.Cut(ctx, parts, out, opt)
	if err != nil {
		return nil, fmt.Errorf("cut: %w", err)
	}
	t = w.m.phase("cut", t)
	key, files, err := w.upload(ctx, job, out, res)
	if err != nil {
		return nil, err
	}
	w.m.phase("upload", t)
	prog(1)
	return &catalog.ClipOutput{Key: key, Files: files, ContentType: store.ContentTypeFor(key),
		Duration: res.Duration.Seconds(), Size: res.Size, Width: res.Width, Height: res.Height}, nil
}

// fetchWindow is how many segments are fetched ahead at once: one GET
// at a time would leave the link idle for every request's round trip.
const fetchWindow = 8

// fetchPart writes the part's segments, in order, into one file: TS
// segments concatenate, each beginning with its tables and a keyframe.
// Up to fetchWindow segments are read from the store at once, each into
// memory, and written in order as they arrive.
func (w *Worker) fetchPart(ctx context.Context, st catalog.Stream, p catalog.ClipPart, path string, each func()) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("scratch file: %w", err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel (defers run last first)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type fetched struct {
		data []byte
		err  error
	}
	n := p.LastSeq - p.FirstSeq + 1
	slots := make([]chan fetched, n)
	for i := range slots {
		slots[i] = make(chan fetched, 1)
	}
	sem := make(chan struct{}, fetchWindow)
	wg.Go(func() {
		for i := range n {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				b, err := w.getSegment(ctx, catalog.SegmentKey(st, p.Run, p.FirstSeq+i))
				slots[i] <- fetched{b, err}
			})
		}
	})
	for i := range n {
		var r fetched
		select {
		case r = <-slots[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-sem
		if r.err != nil {
			return r.err
		}
		if _, err := f.Write(r.data); err != nil {
			return fmt.Errorf("scratch file: %w", err)
		}
		w.m.fetched.Add(float64(len(r.data)))
		each()
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("scratch file: %w", err)
	}
	return nil
}

// getSegment reads one segment whole.
func (w *Worker) getSegment(ctx context.Context, key string) ([]byte, error) {
	rc, info, err := w.st.Get(ctx, key, nil)
	if errors.Is(err, store.ErrNotFound) {
		// Gone (retention) or never stored: the offsets would be wrong
		// without it, and waiting will not bring it back.
		return nil, fmt.Errorf("%w: segment %s is not in the store", errPermanent, key)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", key, err)
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, max(info.Size, 0)+bytes.MinRead))
	if _, err := buf.ReadFrom(rc); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", key, err)
	}
	return buf.Bytes(), nil
}

// upload stores the output under clips/{id}/; an HLS playlist goes last so
// it never names a segment that is not there yet.
func (w *Worker) upload(ctx context.Context, job *catalog.ClipJob, out string, res av.Result) (key string, files int, err error) {
	prefix := catalog.ClipPrefix(job.ID)
	if job.Request.Format != catalog.FormatHLS {
		key = prefix + "clip." + job.Request.Format
		return key, 0, w.putFile(ctx, key, out)
	}
	// av lists the playlist first, then the segments in order.
	if len(res.Files) == 0 || filepath.Base(res.Files[0]) != "index.m3u8" {
		return "", 0, fmt.Errorf("hls output has no playlist")
	}
	for _, f := range res.Files[1:] {
		if err := w.putFile(ctx, prefix+"hls/"+filepath.Base(f), f); err != nil {
			return "", 0, err
		}
	}
	key = prefix + "hls/index.m3u8"
	return key, len(res.Files), w.putFile(ctx, key, res.Files[0])
}

// putFile stores a finished output file. The file is handed over, not
// read: the FS store hard-links it into place (fsynced, no second write),
// S3 streams it from disk, so a clip's memory does not grow with its
// length. Nothing writes to the file afterwards; the scratch folder is
// removed once the job ends, which leaves a linked object alone.
func (w *Worker) putFile(ctx context.Context, key, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("read output: %w", err)
	}
	if err := store.PutFile(ctx, w.st, key, path, store.ContentTypeFor(key)); err != nil {
		return fmt.Errorf("store output: %w", err)
	}
	w.m.stored.Add(float64(fi.Size()))
	return nil
}

// progress returns a reporter that rewrites the job document when the
// percentage moves, at most once a second (clients poll it).
func (w *Worker) progress(ctx context.Context, job *catalog.ClipJob, log *slog.Logger) func(float64) {
	var last time.Time
	return func(f float64) {
		pct := min(max(int(f*100), 0), 99) // 100 is only for succeeded
		if pct <= job.Progress || time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		job.Progress, job.UpdatedAt = pct, w.now().UTC()
		if err := catalog.WriteClipJob(ctx, w.st, job); err != nil && ctx.Err() == nil {
			log.Warn("write progress", "err", err)
		}
	}
}

// writeFile creates path with what r holds and closes it.
func writeFile(path string, r io.Reader) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}
