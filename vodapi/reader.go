package vodapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-vod/rewind/cache"
	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
)

// reader reads the catalog through caches: sealed index chunks and ended
// runs never change, so they are kept until evicted; run lists, live
// manifests and tail chunks are kept for about half a target duration.
type reader struct {
	st        store.Store
	shortTTL  time.Duration
	runLists  *cache.Cache[[]string]
	manifests *cache.Cache[catalog.Manifest]
	chunkKeys *cache.Cache[[]string]
	chunks    *cache.Cache[catalog.Chunk]
	streams   *cache.Cache[[]catalog.Stream]
}

func newReader(st store.Store, budget int64, shortTTL time.Duration, reg prometheus.Registerer) (*reader, error) {
	r := &reader{st: st, shortTTL: shortTTL}
	var err error
	// Index chunks are the bulk; the rest is small.
	if r.chunks, err = cache.New[catalog.Chunk](cache.Config{Name: "index_chunks", MaxBytes: budget * 6 / 10}, reg); err != nil {
		return nil, err
	}
	if r.runLists, err = cache.New[[]string](cache.Config{Name: "run_lists", MaxBytes: budget / 10}, reg); err != nil {
		return nil, err
	}
	if r.manifests, err = cache.New[catalog.Manifest](cache.Config{Name: "manifests", MaxBytes: budget / 10}, reg); err != nil {
		return nil, err
	}
	if r.chunkKeys, err = cache.New[[]string](cache.Config{Name: "chunk_lists", MaxBytes: budget / 10}, reg); err != nil {
		return nil, err
	}
	if r.streams, err = cache.New[[]catalog.Stream](cache.Config{Name: "streams", MaxBytes: budget / 10}, reg); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *reader) close() {
	r.chunks.Close()
	r.runLists.Close()
	r.manifests.Close()
	r.chunkKeys.Close()
	r.streams.Close()
}

func stringsCost(list []string) int64 {
	n := int64(64)
	for _, s := range list {
		n += int64(len(s)) + 16
	}
	return n
}

func (r *reader) listStreams(ctx context.Context) ([]catalog.Stream, error) {
	return r.streams.Get(ctx, "streams", func(ctx context.Context) ([]catalog.Stream, int64, time.Duration, error) {
		s, err := catalog.ListStreams(ctx, r.st)
		return s, int64(len(s))*48 + 64, r.shortTTL, err
	})
}

func (r *reader) listRuns(ctx context.Context, s catalog.Stream) ([]string, error) {
	return r.runLists.Get(ctx, s.String(), func(ctx context.Context) ([]string, int64, time.Duration, error) {
		runs, err := catalog.ListRuns(ctx, r.st, s)
		return runs, stringsCost(runs), r.shortTTL, err
	})
}

func (r *reader) manifest(ctx context.Context, s catalog.Stream, run string) (catalog.Manifest, error) {
	return r.manifests.Get(ctx, s.String()+"/"+run, func(ctx context.Context) (catalog.Manifest, int64, time.Duration, error) {
		m, err := catalog.ReadManifest(ctx, r.st, s, run)
		ttl := r.shortTTL
		if m.State == catalog.StateEnded {
			ttl = 0 // an ended run.json is final
		}
		return m, 512, ttl, err
	})
}

// index reads a run's entries; ended says the run will not grow.
func (r *reader) index(ctx context.Context, s catalog.Stream, run string, ended bool) ([]catalog.Entry, error) {
	ttl := r.shortTTL
	if ended {
		ttl = 0
	}
	prefix := catalog.IndexPrefix(s, run)
	keys, err := r.chunkKeys.Get(ctx, prefix, func(ctx context.Context) ([]string, int64, time.Duration, error) {
		res, err := r.st.List(ctx, prefix, store.ListOptions{})
		if err != nil {
			return nil, 0, 0, fmt.Errorf("list index of %s: %w", run, err)
		}
		var keys []string
		for _, o := range res.Objects {
			if _, err := catalog.ParseChunkName(strings.TrimPrefix(o.Key, prefix)); err == nil {
				keys = append(keys, o.Key)
			}
		}
		return keys, stringsCost(keys), ttl, nil
	})
	if err != nil {
		return nil, err
	}
	// The chunks are read a few at a time: one by one, a remote store's
	// latency adds up over a day's 43 chunks.
	chunks := make([]catalog.Chunk, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(prefetchers)
	for i, key := range keys {
		g.Go(func() error {
			c, err := r.chunks.Get(gctx, key, func(ctx context.Context) (catalog.Chunk, int64, time.Duration, error) {
				b, err := readSized(ctx, r.st, key, catalog.MaxChunkSize)
				if err != nil {
					return catalog.Chunk{}, 0, 0, err
				}
				c, err := catalog.DecodeChunk(b)
				if err != nil {
					return c, 0, 0, fmt.Errorf("%s: %w", key, err)
				}
				cttl := ttl
				if c.Sealed {
					cttl = 0 // sealed chunks are never rewritten
				}
				return c, int64(len(c.Entries))*32 + 64, cttl, nil
			})
			chunks[i] = c
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	n := 0
	for i, c := range chunks {
		if c.Number != uint64(i) {
			return nil, fmt.Errorf("index of %s: chunk %d where %d was expected: %w", run, c.Number, i, catalog.ErrCorruptIndex)
		}
		n += len(c.Entries)
	}
	entries := make([]catalog.Entry, 0, n)
	for _, c := range chunks {
		entries = append(entries, c.Entries...)
	}
	return entries, nil
}

// runInfo is one run as replay sees it.
type runInfo struct {
	id       string
	manifest catalog.Manifest
	entries  []catalog.Entry
	start    time.Time
	end      time.Time // ended_at, else the end of the last segment
	live     bool      // still growing (live and not timed out)
	finished bool      // can no longer gain segments: see finishedRun
}

// recoveryGrace is how long a run that run.json still calls live, but whose
// node went quiet (timed out after three target durations), may still gain
// segments: its node can restart, upload the spool into the run and end it.
// Playlists over such a run stay open (no ENDLIST, short caching) until then.
const recoveryGrace = 15 * time.Minute

// finishedRun says whether a run can still gain segments: not once run.json
// says ended (the recorder writes that after its last segment is indexed),
// nor once a silent node has had recoveryGrace to come back.
func finishedRun(m catalog.Manifest, lastActivity, now time.Time) bool {
	if m.State == catalog.StateEnded {
		return true
	}
	return now.Sub(lastActivity) > recoveryGrace
}

func (r *reader) run(ctx context.Context, s catalog.Stream, run string, now time.Time) (runInfo, error) {
	m, err := r.manifest(ctx, s, run)
	if err != nil {
		return runInfo{}, err
	}
	ended := m.State == catalog.StateEnded
	entries, err := r.index(ctx, s, run, ended)
	if err != nil {
		return runInfo{}, err
	}
	ri := runInfo{id: run, manifest: m, entries: entries, start: m.StartedAt}
	lastEnd := m.StartedAt
	if n := len(entries); n > 0 {
		lastEnd = time.UnixMilli(entries[n-1].EndMS()).UTC()
		ri.start = time.UnixMilli(entries[0].StartMS).UTC()
	}
	ri.end = lastEnd
	if ended && m.EndedAt != nil {
		ri.end = *m.EndedAt
	}
	ri.live = m.EffectiveState(lastEnd, now) == catalog.StateLive
	ri.finished = finishedRun(m, lastEnd, now)
	return ri, nil
}

// runsIn returns the runs of a stream that overlap [from, to], oldest first.
// Run ids sort by start time, so runs starting after `to` are skipped
// unread; walking back from there stops at the first run that ended more
// than `slack` before `from` (runs of one stream do not nest).
func (r *reader) runsIn(ctx context.Context, s catalog.Stream, from, to, now time.Time, slack time.Duration) ([]runInfo, error) {
	ids, err := r.listRuns(ctx, s)
	if err != nil {
		return nil, err
	}
	var out []runInfo
	for i := len(ids) - 1; i >= 0; i-- {
		id, err := catalog.ParseRunID(ids[i])
		if err != nil {
			continue
		}
		if !id.Started.Before(to) {
			continue
		}
		ri, err := r.run(ctx, s, ids[i], now)
		if errors.Is(err, store.ErrNotFound) {
			continue // no run.json yet: nothing stored to play
		}
		if err != nil {
			return nil, err
		}
		if ri.end.After(from) || ri.live {
			out = append(out, ri)
		} else if ri.end.Before(from.Add(-slack)) {
			break
		}
	}
	slices.Reverse(out)
	return out, nil
}
