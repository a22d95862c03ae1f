package catalog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/rewind-vod/rewind/infra/store"
)

// readConcurrency bounds the chunk Gets of one ReadIndex: a 24 h run has 43
// chunks, and one at a time would add up the store's latency.
const readConcurrency = 8

// WriteIndex stores the whole index of a run written at once (the warm-up
// recording, benchmark fixtures); the recorder appends chunk by chunk as
// segments come. It returns how many chunks it wrote.
func WriteIndex(ctx context.Context, st store.Store, s Stream, run string, entries []Entry) (int, error) {
	if err := s.Validate(); err != nil {
		return 0, err
	}
	if err := ValidRunID(run); err != nil {
		return 0, err
	}
	writes, err := NewIndexWriter(nil).Append(entries...)
	if err != nil {
		return 0, fmt.Errorf("index of %s/%s: %w", s, run, err)
	}
	for _, w := range writes {
		if err := st.Put(ctx, IndexChunkKey(s, run, w.Number), w.Data, "application/octet-stream"); err != nil {
			return 0, fmt.Errorf("index of %s/%s: %w", s, run, err)
		}
	}
	return len(writes), nil
}

// ReadIndex reads the whole index of a run: every chunk under IndexPrefix, in
// order. Chunk numbers must run from 0 without a hole, every chunk but the
// last must be full, and seqs must keep increasing across chunks. A run
// without any chunk yet has an empty index (nil, nil). Objects under idx/
// that are not chunk names are ignored.
func ReadIndex(ctx context.Context, st store.Store, s Stream, run string) ([]Entry, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := ValidRunID(run); err != nil {
		return nil, err
	}
	prefix := IndexPrefix(s, run)
	res, err := list(ctx, st, prefix, "/")
	if err != nil {
		return nil, fmt.Errorf("read index of %s run %s: %w", s, run, err)
	}
	var keys []string
	for _, o := range res.Objects {
		name := strings.TrimPrefix(o.Key, prefix)
		n, err := ParseChunkName(name)
		if err != nil {
			continue
		}
		if n != uint64(len(keys)) {
			return nil, fmt.Errorf("read index of %s run %s: %w: chunk %d missing", s, run, ErrCorruptIndex, len(keys))
		}
		keys = append(keys, o.Key)
	}
	if len(keys) == 0 {
		return nil, nil
	}

	chunks, err := getChunks(ctx, st, keys)
	if err != nil {
		return nil, fmt.Errorf("read index of %s run %s: %w", s, run, err)
	}
	entries := make([]Entry, 0, len(chunks)*EntriesPerChunk)
	for i, c := range chunks {
		if c.Number != uint64(i) {
			return nil, fmt.Errorf("read index of %s run %s: %w: %s holds chunk %d", s, run, ErrCorruptIndex, keys[i], c.Number)
		}
		if i < len(chunks)-1 && len(c.Entries) != EntriesPerChunk {
			return nil, fmt.Errorf("read index of %s run %s: %w: chunk %d has %d entries but is not the last", s, run, ErrCorruptIndex, i, len(c.Entries))
		}
		if len(c.Entries) > 0 && len(entries) > 0 && c.Entries[0].Seq <= entries[len(entries)-1].Seq {
			return nil, fmt.Errorf("read index of %s run %s: %w: chunk %d starts at seq %d, not after %d", s, run, ErrCorruptIndex, i, c.Entries[0].Seq, entries[len(entries)-1].Seq)
		}
		entries = append(entries, c.Entries...)
	}
	return entries, nil
}

// getChunks gets and decodes the chunks at keys with bounded concurrency.
func getChunks(ctx context.Context, st store.Store, keys []string) ([]Chunk, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make([]Chunk, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, readConcurrency)
	var wg sync.WaitGroup
	for i, key := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			data, err := GetAll(ctx, st, key, MaxChunkSize)
			if err == nil {
				chunks[i], err = DecodeChunk(data)
				if err != nil {
					err = fmt.Errorf("%s: %w", key, err)
				}
			}
			if err != nil {
				errs[i] = err
				cancel() // the result is useless now; stop the other Gets
			}
		})
	}
	wg.Wait()
	// Report the first failure in key order, preferring a real cause over the
	// cancellations it triggered.
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			return nil, err
		}
		if first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return chunks, nil
}

// ListRuns lists the run ids of a stream, sorted (that is by start time).
// Prefixes that are not valid run ids are ignored.
func ListRuns(ctx context.Context, st store.Store, s Stream) ([]string, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	prefix := StreamPrefix(s)
	res, err := list(ctx, st, prefix, "/")
	if err != nil {
		return nil, fmt.Errorf("list runs of %s: %w", s, err)
	}
	var runs []string
	for _, p := range res.CommonPrefixes {
		run := strings.TrimSuffix(strings.TrimPrefix(p, prefix), "/")
		if ValidRunID(run) == nil {
			runs = append(runs, run)
		}
	}
	sort.Strings(runs)
	return runs, nil
}

// ListStreams lists every stream that has anything stored, sorted by app then
// name. Prefixes that are not valid names are ignored.
func ListStreams(ctx context.Context, st store.Store) ([]Stream, error) {
	apps, err := list(ctx, st, StreamsPrefix, "/")
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	var streams []Stream
	for _, ap := range apps.CommonPrefixes {
		app := strings.TrimSuffix(strings.TrimPrefix(ap, StreamsPrefix), "/")
		if !ValidPart(app) {
			continue
		}
		names, err := list(ctx, st, ap, "/")
		if err != nil {
			return nil, fmt.Errorf("list streams of app %s: %w", app, err)
		}
		for _, np := range names.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(np, ap), "/")
			if ValidPart(name) {
				streams = append(streams, Stream{App: app, Name: name})
			}
		}
	}
	// Key order is not (app, name) order: "a-b/" sorts before "a/".
	slices.SortFunc(streams, func(a, b Stream) int {
		return cmp.Or(strings.Compare(a.App, b.App), strings.Compare(a.Name, b.Name))
	})
	return streams, nil
}

// list lists prefix in one call. Without MaxKeys the store returns
// everything (paging internally), so a truncated result breaks the contract;
// it is refused rather than silently taken as complete.
func list(ctx context.Context, st store.Store, prefix, delim string) (store.ListResult, error) {
	res, err := st.List(ctx, prefix, store.ListOptions{Delimiter: delim})
	if err != nil {
		return store.ListResult{}, fmt.Errorf("list %s: %w", prefix, err)
	}
	if res.Truncated {
		return store.ListResult{}, fmt.Errorf("list %s: store returned a truncated listing without MaxKeys", prefix)
	}
	return res, nil
}
