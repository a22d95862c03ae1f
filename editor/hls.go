//go:build cgo

package editor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/editor/av"
	"github.com/rewind-vod/rewind/infra/store"
)

// An HLS clip (copy or accurate, no transcode) references the source's
// immutable segments for everything between its edges; only a segment an
// edge falls in is cut (copy) or has its edge GOP re-encoded (accurate),
// keeping the source's timestamps, and stored under clips/{id}/hls/. The
// manifest (catalog.ClipHLS) goes last: the API makes the playlist from it.

// wholeSegment is a To past the end of any segment: a first edge keeps
// everything from its cut to the segment's end.
const wholeSegment = 24 * time.Hour

// edge is one segment cut anew.
type edge struct {
	key   string // the source segment
	src   string // local copy
	out   string // the cut
	item  int    // its entry in the manifest
	part  av.Part
	name  string
	res   av.Result
	empty bool // nothing of the segment is in the clip: the entry goes
	width int
}

func (w *Worker) runHLS(ctx context.Context, job *catalog.ClipJob, st catalog.Stream, dir string, prog func(float64), t time.Time) (*catalog.ClipOutput, error) {
	from, to := job.Request.Start.UnixMilli(), job.Request.End.UnixMilli()
	m := &catalog.ClipHLS{Version: catalog.ClipHLSVersion, Stream: st.String()}
	var edges []*edge
	for i, p := range job.Parts {
		entries, err := catalog.ReadIndex(ctx, w.st, st, p.Run)
		if err != nil {
			return nil, fmt.Errorf("index of %s: %w", p.Run, err)
		}
		n := len(m.Segments)
		for _, e := range entries {
			if e.Seq < p.FirstSeq || e.Seq > p.LastSeq {
				continue
			}
			if want := p.FirstSeq + uint64(len(m.Segments)-n); e.Seq != want {
				return nil, fmt.Errorf("%w: run %s: segment %d is not in the index", errPermanent, p.Run, want)
			}
			seg := catalog.ClipHLSSegment{Run: p.Run, Seq: e.Seq, DurUS: e.Dur().Microseconds(), Size: int64(e.Size),
				Discontinuity: i > 0 && e.Seq == p.FirstSeq}
			cutStart, cutEnd := from > e.StartMS, to < e.EndMS()
			if cutStart || cutEnd {
				// Offsets from the segment's first video DTS, its wall
				// clock StartMS (it starts on the keyframe it was cut at).
				part := av.Part{From: time.Duration(max(from-e.StartMS, 0)) * time.Millisecond, To: wholeSegment}
				if cutEnd {
					part.To = time.Duration(to-e.StartMS) * time.Millisecond
				}
				k := len(edges)
				edges = append(edges, &edge{key: catalog.SegmentKey(st, p.Run, e.Seq), item: len(m.Segments), part: part,
					src: filepath.Join(dir, fmt.Sprintf("src-%d.ts", k)), out: filepath.Join(dir, fmt.Sprintf("edge-%d.ts", k)),
					name: catalog.ClipHLSFileName(k)})
			}
			m.Segments = append(m.Segments, seg)
		}
		if got := uint64(len(m.Segments) - n); got != p.LastSeq-p.FirstSeq+1 {
			return nil, fmt.Errorf("%w: run %s: segments %d..%d are not all in the index", errPermanent, p.Run, p.FirstSeq, p.LastSeq)
		}
	}
	prog(0.1)
	t = w.m.phase("index", t)

	// The edges are independent: fetch, cut and store them side by side
	// (two at most per run: the clip's first and last segment).
	var stored int64
	var mu sync.Mutex
	err := eachConcurrently(ctx, edges, func(ctx context.Context, e *edge) error {
		if err := w.fetchSegment(ctx, e.key, e.src); err != nil {
			return err
		}
		opt := av.Options{Format: av.FormatTS, Mode: av.Mode(job.Request.Mode), KeepTimestamps: true}
		res, err := av.Cut(ctx, []av.Part{{Path: e.src, From: e.part.From, To: e.part.To}}, e.out, opt)
		if errors.Is(err, av.ErrNoPackets) && len(m.Segments) > 1 {
			// The clip only grazes this segment (it ends just after the
			// segment starts, say): it has no frame of it to show.
			e.empty = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("cut %s: %w", e.key, err)
		}
		e.res = res
		if err := w.putFile(ctx, catalog.ClipHLSFileKey(job.ID, e.name), e.out); err != nil {
			return err
		}
		mu.Lock()
		stored += res.Size
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	prog(0.9)
	t = w.m.phase("edges", t)

	out := &catalog.ClipOutput{Key: catalog.ClipHLSKey(job.ID), Files: len(m.Segments),
		ContentType: "application/vnd.apple.mpegurl"}
	for _, e := range edges {
		if e.empty {
			continue
		}
		s := &m.Segments[e.item]
		*s = catalog.ClipHLSSegment{File: e.name, DurUS: max(e.res.Duration.Microseconds(), 1), Size: e.res.Size,
			Discontinuity: e.item > 0}
		if e.item+1 < len(m.Segments) {
			// Its continuity counters do not lead into the next source
			// segment's.
			m.Segments[e.item+1].Discontinuity = true
		}
		if out.Width == 0 {
			out.Width, out.Height = e.res.Width, e.res.Height
		}
	}
	kept := m.Segments[:0]
	for i, s := range m.Segments {
		if !emptyAt(edges, i) {
			kept = append(kept, s)
		} else if i+1 < len(m.Segments) && i > 0 {
			m.Segments[i+1].Discontinuity = true
		}
	}
	m.Segments = kept
	if len(m.Segments) > 0 {
		m.Segments[0].Discontinuity = false
	}
	out.Files = len(m.Segments)
	var dur time.Duration
	for _, s := range m.Segments {
		dur += s.Dur()
		out.Size += s.Size
	}
	out.Duration = dur.Seconds()
	if out.Width == 0 {
		if man, err := catalog.ReadManifest(ctx, w.st, st, job.Parts[0].Run); err == nil && man.Video != nil {
			out.Width, out.Height = man.Video.Width, man.Video.Height
		}
	}
	b, err := catalog.EncodeClipHLS(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errPermanent, err)
	}
	if err := w.st.Put(ctx, out.Key, b, "application/json"); err != nil {
		return nil, fmt.Errorf("store hls manifest: %w", err)
	}
	w.m.stored.Add(float64(len(b)))
	out.Stored = stored + int64(len(b))
	w.m.phase("manifest", t)
	return out, nil
}

// emptyAt says whether the manifest entry i is an edge with nothing in it.
func emptyAt(edges []*edge, i int) bool {
	for _, e := range edges {
		if e.item == i && e.empty {
			return true
		}
	}
	return false
}

// fetchSegment copies one stored segment to a local file.
func (w *Worker) fetchSegment(ctx context.Context, key, path string) error {
	rc, _, err := w.st.Get(ctx, key, nil)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: segment %s is not in the store", errPermanent, key)
	}
	if err != nil {
		return fmt.Errorf("fetch %s: %w", key, err)
	}
	defer rc.Close()
	n, err := writeFile(path, rc)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", key, err)
	}
	w.m.fetched.Add(float64(n))
	return nil
}

// eachConcurrently runs fn for every item at once and returns the first
// error; the others are cancelled then.
func eachConcurrently[T any](ctx context.Context, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Go(func() {
			if errs[i] = fn(ctx, it); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}
