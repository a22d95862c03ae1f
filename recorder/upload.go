package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/backoff"
)

// runUpload is the upload side of one run: segments are put in any order
// by the workers, but enter the index strictly in sequence.
type runUpload struct {
	dir    string
	stream catalog.Stream
	run    string
	// inMemory: the run's slicer is in this process and hands its segments
	// and its end over directly; scans leave it alone. Its segments were
	// counted in the spool size by the slicer.
	inMemory bool

	// adv serialises advance, which holds it across store requests; it
	// guards idx and livePut.
	adv     sync.Mutex
	livePut bool                 // the live run.json is in the store
	idx     *catalog.IndexWriter // nil until known (read from the store for a run found on disk)

	// mu guards the rest, and is never held across I/O, so that neither
	// the slicer nor the scanner ever waits for the store.
	mu        sync.Mutex
	maxQueued uint64   // highest seq queued (or skipped): each is queued once
	ended     bool     // no more segments will come
	finished  bool     // ended run.json stored and spool cleared
	pending   []uint64 // seqs queued and not yet indexed, in order
	done      map[uint64]doneSeg
}

type doneSeg struct {
	meta     segMeta
	finished time.Time
	lost     bool // its file vanished or was unreadable: not indexed
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

// runFor returns the upload state of the run in dir, making it if new.
func (a *Agent) runFor(dir string, s catalog.Stream, run string) (*runUpload, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ru := a.runs[dir]; ru != nil {
		return ru, false
	}
	ru := &runUpload{dir: dir, stream: s, run: run, done: map[uint64]doneSeg{}}
	a.runs[dir] = ru
	return ru, true
}

// opened registers a run this process's slicer is starting: it has nothing
// in the store yet, and its segments come in memory.
func (a *Agent) opened(dir string, s catalog.Stream, run string) *runUpload {
	ru := &runUpload{dir: dir, stream: s, run: run, inMemory: true, done: map[uint64]doneSeg{},
		idx: catalog.NewIndexWriter(nil)}
	a.mu.Lock()
	a.runs[dir] = ru
	a.mu.Unlock()
	return ru
}

// forget drops a run whose directory could not be made.
func (a *Agent) forget(ru *runUpload) {
	a.mu.Lock()
	delete(a.runs, ru.dir)
	a.mu.Unlock()
}

// enqueue hands a finished, durable spool segment to the workers, once.
func (a *Agent) enqueue(ru *runUpload, meta segMeta, finished time.Time) {
	ru.mu.Lock()
	if meta.Seq <= ru.maxQueued || ru.ended {
		ru.mu.Unlock()
		return
	}
	ru.maxQueued = meta.Seq
	ru.pending = append(ru.pending, meta.Seq)
	ru.mu.Unlock()
	if !ru.inMemory {
		a.spoolBytes.add(int64(meta.Size))
	}
	a.queue.push(uploadJob{ru: ru, meta: meta, finished: finished})
}

// endRun records that a run will get no more segments; its ended run.json
// goes to the store once its last segment is indexed.
func (a *Agent) endRun(ru *runUpload) {
	ru.mu.Lock()
	if ru.ended {
		ru.mu.Unlock()
		return
	}
	ru.ended = true
	ru.mu.Unlock()
	// If all is uploaded already, finish now, from a goroutine of our own
	// so a store outage never holds up the publisher's teardown.
	a.bg.Go(func() { a.advance(a.ctx, ru) })
}

func (a *Agent) uploadLoop(ctx context.Context) {
	for {
		j, ok := a.queue.pop(ctx)
		if !ok {
			return
		}
		lost := false
		if err := a.uploadSegment(ctx, j); err != nil {
			if ctx.Err() != nil {
				// Only ctx ends the retries: the segment stays in the
				// spool for the next start.
				return
			}
			a.log.Error("spooled segment unreadable: skipped", "dir", j.ru.dir, "seq", j.meta.Seq, "err", err)
			a.m.segmentsDropped.Inc()
			lost = true
		}
		j.ru.mu.Lock()
		j.ru.done[j.meta.Seq] = doneSeg{meta: j.meta, finished: j.finished, lost: lost}
		j.ru.mu.Unlock()
		a.advance(ctx, j.ru)
	}
}

// uploadSegment puts one segment; an error other than ctx's means its
// spool file cannot be read. The file goes to the store as it is
// (store.PutFile: the filesystem store links it, S3 streams it), never
// read into memory here; the slicer never writes a .ts again, and the
// agent only removes it once stored.
func (a *Agent) uploadSegment(ctx context.Context, j uploadJob) error {
	path := segBase(j.ru.dir, j.meta.Seq) + extTS
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("upload: read spool: %w", err)
	}
	if err := a.waitBandwidth(ctx, int(fi.Size())); err != nil {
		return err
	}
	key := catalog.SegmentKey(j.ru.stream, j.ru.run, j.meta.Seq)
	return a.retry(ctx, "segment", key, fi.Size(), func() error {
		err := store.PutFile(ctx, a.st, key, path, "video/mp2t")
		if err != nil {
			if _, serr := os.Stat(path); serr != nil {
				// Gone from the spool: no retry can store it.
				return errUnreadable{fmt.Errorf("upload: read spool: %w", serr)}
			}
		}
		return err
	})
}

// errUnreadable ends retry at once: the source of the object is gone.
type errUnreadable struct{ err error }

func (e errUnreadable) Error() string { return e.err.Error() }
func (e errUnreadable) Unwrap() error { return e.err }

func (a *Agent) waitBandwidth(ctx context.Context, n int) error {
	if a.limiter == nil {
		return nil
	}
	for n > 0 {
		k := min(n, a.limiter.Burst())
		if err := a.limiter.WaitN(ctx, k); err != nil {
			return fmt.Errorf("upload: bandwidth wait: %w", err)
		}
		n -= k
	}
	return nil
}

// put stores an object, retrying with backoff until it succeeds or ctx
// ends.
func (a *Agent) put(ctx context.Context, kind, key string, data []byte, contentType string) error {
	return a.retry(ctx, kind, key, int64(len(data)), func() error {
		return a.st.Put(ctx, key, data, contentType)
	})
}

// retry calls put (one store request of size bytes) with backoff until
// it succeeds, ctx ends or it returns errUnreadable.
func (a *Agent) retry(ctx context.Context, kind, key string, size int64, put func() error) error {
	retry := backoff.Policy{Min: a.cfg.RetryMin, Max: a.cfg.RetryMax}
	for attempt := 1; ; attempt++ {
		a.m.storeRequests.WithLabelValues(kind).Inc()
		err := put()
		if err == nil {
			a.m.bytesStored.Add(float64(size))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var gone errUnreadable
		if errors.As(err, &gone) {
			return err
		}
		a.m.retries.WithLabelValues(kind).Inc()
		if attempt == 1 || attempt%10 == 0 {
			a.log.Warn("store put failed, retrying", "key", key, "attempt", attempt, "err", err)
		}
		if !backoff.Sleep(ctx, retry.Wait(attempt)) {
			return ctx.Err()
		}
	}
}

// advance indexes the run's uploaded segments that are next in sequence,
// then, once the run has ended and all is indexed, writes the ended run.json
// and clears the run from the spool. Calls for one run are serialised by
// ru.adv, which keeps index writes in order.
func (a *Agent) advance(ctx context.Context, ru *runUpload) {
	ru.adv.Lock()
	defer ru.adv.Unlock()
	ru.mu.Lock()
	finished := ru.finished
	ru.mu.Unlock()
	if finished || ctx.Err() != nil {
		return
	}
	if ru.idx == nil {
		existing, err := a.readIndex(ctx, ru)
		if err != nil {
			return
		}
		ru.idx = catalog.NewIndexWriter(existing)
	}
	// The uploaded segments next in sequence. Only enqueue touches pending
	// meanwhile, and only at its end.
	ru.mu.Lock()
	var ready []doneSeg
	for _, seq := range ru.pending {
		d, ok := ru.done[seq]
		if !ok {
			break
		}
		ready = append(ready, d)
	}
	ru.mu.Unlock()

	var entries []catalog.Entry
	var lags []time.Time
	last, hasLast := ru.idx.Last()
	for _, d := range ready {
		if d.lost || hasLast && d.meta.Seq <= last.Seq {
			continue // lost, or indexed before a crash (only the spool copy was left)
		}
		e := d.meta.entry()
		if hasLast && e.Seq != last.Seq+1 {
			// Segments lost in between (spool trouble, a crash).
			e.Flags |= catalog.FlagGap | catalog.FlagDiscontinuity
		}
		last, hasLast = e, true
		entries = append(entries, e)
		lags = append(lags, d.finished)
	}
	if len(entries) > 0 {
		if !ru.livePut {
			m, err := a.runManifest(ctx, ru)
			if err != nil {
				return
			}
			m.State, m.EndedAt = catalog.StateLive, nil
			if err := a.putManifest(ctx, ru, m); err != nil {
				return
			}
			ru.livePut = true
		}
		writes, err := ru.idx.Append(entries...)
		if err != nil {
			// A programming error, not a store one: do not spin on it.
			a.log.Error("index append", "run", ru.run, "err", err)
			return
		}
		for _, w := range writes {
			if err := a.put(ctx, "index", catalog.IndexChunkKey(ru.stream, ru.run, w.Number), w.Data, "application/octet-stream"); err != nil {
				// The writer already holds the entries; rebuild it from the
				// store next time rather than trust a half-written state.
				ru.idx = nil
				return
			}
		}
		now := time.Now()
		for _, t := range lags {
			a.m.uploadLag.Observe(now.Sub(t).Seconds())
		}
		a.m.uploaded.Add(float64(len(entries)))
	}
	for _, d := range ready {
		base := segBase(ru.dir, d.meta.Seq)
		if err := os.Remove(base + extTS); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log.Warn("spool cleanup", "err", err)
		}
		os.Remove(base + extMeta)
		a.spoolBytes.add(-int64(d.meta.Size))
	}
	ru.mu.Lock()
	for _, d := range ready {
		delete(ru.done, d.meta.Seq)
	}
	ru.pending = ru.pending[len(ready):]
	finish := ru.ended && len(ru.pending) == 0
	ru.mu.Unlock()
	if finish {
		a.finish(ctx, ru)
	}
}

// finish stores the ended run.json of a run whose segments are all
// indexed and clears the run from the spool (ru.adv held).
func (a *Agent) finish(ctx context.Context, ru *runUpload) {
	if ru.idx.Len() > 0 || ru.livePut {
		m, err := a.runManifest(ctx, ru)
		if err != nil {
			return
		}
		if m.State != catalog.StateEnded || m.EndedAt == nil {
			m.State = catalog.StateEnded
			end := time.Now().UTC()
			if e, ok := ru.idx.Last(); ok {
				end = e.Start().Add(e.Dur())
			}
			m.EndedAt = &end
		}
		if m.EndedAt.Before(m.StartedAt) {
			m.EndedAt = &m.StartedAt // a clock step back; the manifest must stay valid
		}
		if err := a.putManifest(ctx, ru, m); err != nil {
			return
		}
		a.m.runsEnded.Inc()
	}
	ru.mu.Lock()
	ru.finished = true
	ru.mu.Unlock()
	if err := removeRunDir(ru.dir); err != nil {
		a.log.Warn("spool cleanup", "dir", ru.dir, "err", err)
		return
	}
	// It stays in the map, finished, until a scan no longer finds its
	// directory: a scan that listed it just before it went must not take
	// it for a new run.
	removeEmptyParents(a.cfg.Spool, filepath.Dir(ru.dir))
	a.log.Info("run stored", "stream", ru.stream.String(), "run", ru.run, "segments", ru.idx.Len())
}

// runManifest is the run's descriptor from the spool. One lost in a crash
// (unreadable, or rebuilt from the run id when its run was ended for a dead
// slicer: no tracks) gets its tracks back from the store's copy, which the
// live put wrote.
func (a *Agent) runManifest(ctx context.Context, ru *runUpload) (catalog.Manifest, error) {
	m, err := readRunManifest(ru.dir, ru.stream, ru.run)
	if err == nil && (m.Video != nil || m.Audio != nil) {
		return m, nil
	}
	if err != nil {
		a.log.Warn("run descriptor unreadable; rebuilt from the run id", "dir", ru.dir, "err", err)
		if m, err = rebuiltManifest(ru.stream, ru.run, &a.cfg); err != nil {
			return m, err
		}
	}
	stored, ok, err := a.storedManifest(ctx, ru)
	if err != nil {
		return m, err
	}
	if ok {
		m.StartedAt, m.Video, m.Audio = stored.StartedAt, stored.Video, stored.Audio
		m.TargetDurationMS, m.MaxSegmentDurationMS = stored.TargetDurationMS, stored.MaxSegmentDurationMS
	}
	return m, nil
}

// storedManifest reads the run's run.json from the store, retrying while the
// store is unreachable; ok is false when there is none (or none readable).
func (a *Agent) storedManifest(ctx context.Context, ru *runUpload) (catalog.Manifest, bool, error) {
	key := catalog.ManifestKey(ru.stream, ru.run)
	retry := backoff.Policy{Min: a.cfg.RetryMin, Max: a.cfg.RetryMax}
	for attempt := 1; ; attempt++ {
		a.m.storeRequests.WithLabelValues("manifest_read").Inc()
		data, err := getSmall(ctx, a.st, key)
		if errors.Is(err, store.ErrNotFound) {
			return catalog.Manifest{}, false, nil
		}
		if err == nil {
			m, err := catalog.UnmarshalManifest(data)
			if err != nil {
				a.log.Warn("stored run.json unreadable", "key", key, "err", err)
				return m, false, nil
			}
			return m, true, nil
		}
		if ctx.Err() != nil {
			return catalog.Manifest{}, false, ctx.Err()
		}
		a.m.retries.WithLabelValues("manifest_read").Inc()
		if !backoff.Sleep(ctx, retry.Wait(attempt)) {
			return catalog.Manifest{}, false, ctx.Err()
		}
	}
}

// getSmall reads a whole object of at most 64 KiB (a run.json is < 1 KiB).
func getSmall(ctx context.Context, st store.Store, key string) ([]byte, error) {
	rc, _, err := st.Get(ctx, key, nil)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

func (a *Agent) putManifest(ctx context.Context, ru *runUpload, m catalog.Manifest) error {
	b, err := catalog.MarshalManifest(m)
	if err != nil {
		a.log.Error("manifest", "run", m.Run, "err", err)
		return err
	}
	return a.put(ctx, "manifest", catalog.ManifestKey(ru.stream, ru.run), b, "application/json")
}

// readIndex reads what a run already has in the store, retrying while the
// store is unreachable.
func (a *Agent) readIndex(ctx context.Context, ru *runUpload) ([]catalog.Entry, error) {
	retry := backoff.Policy{Min: a.cfg.RetryMin, Max: a.cfg.RetryMax}
	for attempt := 1; ; attempt++ {
		a.m.storeRequests.WithLabelValues("index_read").Inc()
		entries, err := catalog.ReadIndex(ctx, a.st, ru.stream, ru.run)
		if err == nil {
			return entries, nil
		}
		if errors.Is(err, catalog.ErrCorruptIndex) {
			// Never build on a corrupt index: keep the spool and say so.
			a.log.Error("stored index is corrupt; run left in the spool", "run", ru.run, "err", err)
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.m.retries.WithLabelValues("index_read").Inc()
		if !backoff.Sleep(ctx, retry.Wait(attempt)) {
			return nil, ctx.Err()
		}
	}
}

// removeRunDir removes a finished run's directory with run.json last, so
// that a crash halfway leaves a run that is found, and finished, again.
func removeRunDir(dir string) error {
	files, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, f := range files {
		if f.Name() != spoolManifest {
			if err := os.RemoveAll(filepath.Join(dir, f.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(dirFile(dir, spoolManifest)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func removeEmptyParents(root, dir string) {
	root = filepath.Clean(root)
	for dir = filepath.Clean(dir); dir != root && len(dir) > len(root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			return
		}
	}
}
