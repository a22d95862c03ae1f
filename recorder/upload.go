package recorder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/internal/backoff"
)

// runUpload is the upload side of one run: segments are put in any order
// by the workers, but enter the index strictly in sequence.
type runUpload struct {
	dir    string
	stream catalog.Stream
	run    string

	mu       sync.Mutex
	manifest catalog.Manifest // the local run.json as last written
	livePut  bool             // the live run.json is in the store
	ended    bool             // no more segments will come
	lastCut  time.Time        // when the last segment was finished (or the run began)
	finished bool             // ended run.json stored and spool cleared
	pending  []uint64         // seqs spooled and not yet indexed, in order
	done     map[uint64]doneSeg
	idx      *catalog.IndexWriter // nil until known (read from the store after a restart)
}

type doneSeg struct {
	meta     segMeta
	finished time.Time
}

type uploadJob struct {
	ru       *runUpload
	meta     segMeta
	finished time.Time
}

// jobQueue is an unbounded FIFO: the spool on disk is the real buffer, the
// queue only names what is in it.
type jobQueue struct {
	mu    sync.Mutex
	jobs  []uploadJob
	ready chan struct{}
}

func (q *jobQueue) init() { q.ready = make(chan struct{}, 1) }

func (q *jobQueue) push(j uploadJob) {
	q.mu.Lock()
	q.jobs = append(q.jobs, j)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *jobQueue) pop(ctx context.Context) (uploadJob, bool) {
	for {
		q.mu.Lock()
		if len(q.jobs) > 0 {
			j := q.jobs[0]
			q.jobs[0] = uploadJob{}
			q.jobs = q.jobs[1:]
			more := len(q.jobs) > 0
			q.mu.Unlock()
			if more { // pass the wake-up on to another worker
				select {
				case q.ready <- struct{}{}:
				default:
				}
			}
			return j, true
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return uploadJob{}, false
		case <-q.ready:
		}
	}
}

// registerRun makes the upload state of a new or recovered run.
func (r *Recorder) registerRun(ru *runUpload) {
	ru.done = map[uint64]doneSeg{}
	ru.lastCut = time.Now()
	r.mu.Lock()
	r.runs[ru.dir] = ru
	r.mu.Unlock()
}

// enqueue hands a finished, durable spool segment to the upload agent.
func (r *Recorder) enqueue(ru *runUpload, meta segMeta) {
	now := time.Now()
	ru.mu.Lock()
	ru.pending = append(ru.pending, meta.Seq)
	ru.lastCut = now
	ru.mu.Unlock()
	r.queue.push(uploadJob{ru: ru, meta: meta, finished: now})
}

// endRun records that a run will get no more segments; its ended run.json
// goes to the store once its last segment is indexed.
func (r *Recorder) endRun(ru *runUpload) {
	ru.mu.Lock()
	ru.ended = true
	ru.mu.Unlock()
	// If all is uploaded already, finish now, from a goroutine of our own
	// so a store outage never holds up the publisher's teardown.
	r.bg.Go(func() { r.advance(r.ctx, ru) })
}

func (r *Recorder) uploadLoop(ctx context.Context) {
	for {
		j, ok := r.queue.pop(ctx)
		if !ok {
			return
		}
		if err := r.uploadSegment(ctx, j); err != nil {
			// Only ctx ends the retries: the segment stays in the spool for
			// the next start.
			return
		}
		j.ru.mu.Lock()
		j.ru.done[j.meta.Seq] = doneSeg{meta: j.meta, finished: j.finished}
		j.ru.mu.Unlock()
		r.advance(ctx, j.ru)
	}
}

func (r *Recorder) uploadSegment(ctx context.Context, j uploadJob) error {
	path := segBase(j.ru.dir, j.meta.Seq) + extTS
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("upload: read spool: %w", err)
	}
	if err := r.waitBandwidth(ctx, len(data)); err != nil {
		return err
	}
	key := catalog.SegmentKey(j.ru.stream, j.ru.run, j.meta.Seq)
	return r.put(ctx, "segment", key, data, "video/mp2t")
}

func (r *Recorder) waitBandwidth(ctx context.Context, n int) error {
	if r.limiter == nil {
		return nil
	}
	for n > 0 {
		k := min(n, r.limiter.Burst())
		if err := r.limiter.WaitN(ctx, k); err != nil {
			return fmt.Errorf("upload: bandwidth wait: %w", err)
		}
		n -= k
	}
	return nil
}

// put stores an object, retrying with backoff until it succeeds or ctx
// ends.
func (r *Recorder) put(ctx context.Context, kind, key string, data []byte, contentType string) error {
	retry := backoff.Policy{Min: r.cfg.RetryMin, Max: r.cfg.RetryMax}
	for attempt := 1; ; attempt++ {
		r.m.storeRequests.WithLabelValues(kind).Inc()
		err := r.st.Put(ctx, key, data, contentType)
		if err == nil {
			r.m.bytesStored.Add(float64(len(data)))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.m.retries.WithLabelValues(kind).Inc()
		if attempt == 1 || attempt%10 == 0 {
			r.log.Warn("store put failed, retrying", "key", key, "attempt", attempt, "err", err)
		}
		if !backoff.Sleep(ctx, retry.Wait(attempt)) {
			return ctx.Err()
		}
	}
}

// advance indexes the run's uploaded segments that are next in sequence,
// then, once the run has ended and all is indexed, writes the ended run.json
// and clears the run from the spool. Calls for one run are serialised by
// its mutex, which keeps index writes in order.
func (r *Recorder) advance(ctx context.Context, ru *runUpload) {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	if ru.finished || ctx.Err() != nil {
		return
	}
	if ru.idx == nil {
		existing, err := r.readIndex(ctx, ru)
		if err != nil {
			return
		}
		ru.idx = catalog.NewIndexWriter(existing)
	}
	var entries []catalog.Entry
	var lags []time.Time
	last, hasLast := ru.idx.Last()
	n := 0
	for n < len(ru.pending) {
		d, ok := ru.done[ru.pending[n]]
		if !ok {
			break
		}
		n++
		if hasLast && d.meta.Seq <= last.Seq {
			continue // indexed before a crash; only the spool copy was left
		}
		e := d.meta.entry()
		if hasLast && e.Seq != last.Seq+1 {
			// Segments lost in between (spool trouble before a crash).
			e.Flags |= catalog.FlagGap | catalog.FlagDiscontinuity
		}
		last, hasLast = e, true
		entries = append(entries, e)
		lags = append(lags, d.finished)
	}
	if len(entries) > 0 {
		if !ru.livePut {
			m := ru.manifest
			m.State, m.EndedAt = catalog.StateLive, nil
			if err := r.putManifest(ctx, m); err != nil {
				return
			}
			ru.livePut = true
		}
		writes, err := ru.idx.Append(entries...)
		if err != nil {
			// A programming error, not a store one: do not spin on it.
			r.log.Error("index append", "run", ru.run, "err", err)
			return
		}
		for _, w := range writes {
			if err := r.put(ctx, "index", catalog.IndexChunkKey(ru.stream, ru.run, w.Number), w.Data, "application/octet-stream"); err != nil {
				// The writer already holds the entries; rebuild it from the
				// store next time rather than trust a half-written state.
				ru.idx = nil
				return
			}
		}
		now := time.Now()
		for _, t := range lags {
			r.m.uploadLag.Observe(now.Sub(t).Seconds())
		}
		r.m.uploaded.Add(float64(len(entries)))
	}
	for _, seq := range ru.pending[:n] {
		d := ru.done[seq]
		delete(ru.done, seq)
		base := segBase(ru.dir, seq)
		if err := os.Remove(base + extTS); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("spool cleanup", "err", err)
		}
		os.Remove(base + extMeta)
		r.spoolBytes.add(-int64(d.meta.Size))
	}
	ru.pending = ru.pending[n:]
	if !ru.ended || len(ru.pending) > 0 {
		return
	}
	if ru.idx.Len() > 0 || ru.livePut {
		m := ru.manifest
		if m.State != catalog.StateEnded {
			m.State = catalog.StateEnded
			end := time.Now().UTC()
			if e, ok := ru.idx.Last(); ok {
				end = e.Start().Add(e.Dur())
			}
			m.EndedAt = &end
		}
		if err := r.putManifest(ctx, m); err != nil {
			return
		}
		r.m.runsEnded.Inc()
	}
	ru.finished = true
	if err := os.RemoveAll(ru.dir); err != nil {
		r.log.Warn("spool cleanup", "dir", ru.dir, "err", err)
	}
	removeEmptyParents(r.cfg.Spool, filepath.Dir(ru.dir))
	r.mu.Lock()
	delete(r.runs, ru.dir)
	r.mu.Unlock()
	r.log.Info("run stored", "stream", ru.stream.String(), "run", ru.run, "segments", ru.idx.Len())
}

func (r *Recorder) putManifest(ctx context.Context, m catalog.Manifest) error {
	b, err := catalog.MarshalManifest(m)
	if err != nil {
		r.log.Error("manifest", "run", m.Run, "err", err)
		return err
	}
	return r.put(ctx, "manifest", catalog.ManifestKey(r.streamOf(m), m.Run), b, "application/json")
}

func (r *Recorder) streamOf(m catalog.Manifest) catalog.Stream {
	s, _ := catalog.ParseStream(m.Stream)
	return s
}

// readIndex reads what a run already has in the store, retrying while the
// store is unreachable.
func (r *Recorder) readIndex(ctx context.Context, ru *runUpload) ([]catalog.Entry, error) {
	retry := backoff.Policy{Min: r.cfg.RetryMin, Max: r.cfg.RetryMax}
	for attempt := 1; ; attempt++ {
		r.m.storeRequests.WithLabelValues("index_read").Inc()
		entries, err := catalog.ReadIndex(ctx, r.st, ru.stream, ru.run)
		if err == nil {
			return entries, nil
		}
		if errors.Is(err, catalog.ErrCorruptIndex) {
			// Never build on a corrupt index: keep the spool and say so.
			r.log.Error("stored index is corrupt; run left in the spool", "run", ru.run, "err", err)
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.m.retries.WithLabelValues("index_read").Inc()
		if !backoff.Sleep(ctx, retry.Wait(attempt)) {
			return nil, ctx.Err()
		}
	}
}

func removeEmptyParents(root, dir string) {
	root = filepath.Clean(root)
	for dir = filepath.Clean(dir); dir != root && len(dir) > len(root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			return
		}
	}
}
