package catalog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/store"
)

// writeIndex appends entries through an IndexWriter and puts every chunk it
// returns, as the recorder does.
func writeIndex(t *testing.T, st store.Store, s Stream, run string, entries []Entry) {
	t.Helper()
	ctx := context.Background()
	existing, err := ReadIndex(ctx, st, s, run)
	if err != nil {
		t.Fatal(err)
	}
	w := NewIndexWriter(existing)
	for i := 0; i < len(entries); i += 37 {
		cws, err := w.Append(entries[i:min(i+37, len(entries))]...)
		if err != nil {
			t.Fatal(err)
		}
		for _, cw := range cws {
			if err := st.Put(ctx, IndexChunkKey(s, run, cw.Number), cw.Data, "application/octet-stream"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestReadIndex(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := Stream{"live", "cam"}

	got, err := ReadIndex(ctx, st, s, testRun)
	if err != nil || len(got) != 0 {
		t.Fatalf("missing index: %v, %v", got, err)
	}

	all := testEntries(1, 3*EntriesPerChunk+100, 10)
	writeIndex(t, st, s, testRun, all[:EntriesPerChunk+1])
	writeIndex(t, st, s, testRun, all[EntriesPerChunk+1:]) // resumed
	// Stray objects are ignored.
	st.Put(ctx, IndexPrefix(s, testRun)+"000001.idx.tmp", []byte("junk"), "")
	st.Put(ctx, IndexPrefix(s, testRun)+"README", []byte("junk"), "")
	st.Put(ctx, IndexPrefix(s, testRun)+"sub/000000.idx", []byte("junk"), "")

	got, err = ReadIndex(ctx, st, s, testRun)
	if err != nil {
		t.Fatal(err)
	}
	if !entriesEqual(got, all) {
		t.Fatalf("read %d entries, want %d equal ones", len(got), len(all))
	}

	if _, err := ReadIndex(ctx, st, Stream{"live", "a/b"}, testRun); !errors.Is(err, ErrInvalidStream) {
		t.Errorf("bad stream: %v", err)
	}
	if _, err := ReadIndex(ctx, st, s, "run"); !errors.Is(err, ErrInvalidRunID) {
		t.Errorf("bad run: %v", err)
	}
}

func TestReadIndexCorrupt(t *testing.T) {
	ctx := context.Background()
	s := Stream{"live", "cam"}
	all := testEntries(1, 2*EntriesPerChunk+10, 11)
	key := func(n uint64) string { return IndexChunkKey(s, testRun, n) }
	enc := func(c Chunk) []byte {
		data, err := EncodeChunk(c)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for name, tc := range map[string]struct {
		edit func(st *memStore)
		want error
	}{
		"hole": {func(st *memStore) { st.Delete(ctx, key(1)) }, ErrCorruptIndex},
		"no chunk 0": {func(st *memStore) {
			st.Delete(ctx, key(0))
			st.Delete(ctx, key(1))
		}, ErrCorruptIndex},
		"garbage": {func(st *memStore) { st.Put(ctx, key(1), []byte("garbage"), "") }, ErrCorruptIndex},
		"wrong number": {func(st *memStore) {
			st.Put(ctx, key(1), enc(Chunk{Number: 5, Sealed: true, Entries: all[EntriesPerChunk : 2*EntriesPerChunk]}), "")
		}, ErrCorruptIndex},
		"short middle chunk": {func(st *memStore) {
			st.Put(ctx, key(1), enc(Chunk{Number: 1, Entries: all[EntriesPerChunk : EntriesPerChunk+5]}), "")
		}, ErrCorruptIndex},
		"seq goes back across chunks": {func(st *memStore) {
			st.Put(ctx, key(1), enc(Chunk{Number: 1, Sealed: true, Entries: all[:EntriesPerChunk]}), "")
		}, ErrCorruptIndex},
		"oversized":  {func(st *memStore) { st.Put(ctx, key(2), make([]byte, MaxChunkSize+1), "") }, nil},
		"get fails":  {func(st *memStore) { st.getErr[key(1)] = errors.New("boom") }, nil},
		"gone":       {func(st *memStore) { st.getErr[key(2)] = store.ErrNotFound }, store.ErrNotFound},
		"list fails": {func(st *memStore) { st.listErr = errors.New("boom") }, nil},
	} {
		st := newMemStore()
		writeIndex(t, st, s, testRun, all)
		tc.edit(st)
		_, err := ReadIndex(ctx, st, s, testRun)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		if !strings.Contains(err.Error(), "live/cam") {
			t.Errorf("%s: error lacks context: %v", name, err)
		}
	}
}

func TestReadIndexCanceled(t *testing.T) {
	st := newMemStore()
	s := Stream{"live", "cam"}
	writeIndex(t, st, s, testRun, testEntries(1, 20*EntriesPerChunk, 12))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadIndex(ctx, st, s, testRun); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestListRunsAndStreams(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	put := func(key string) {
		if err := st.Put(ctx, key, []byte("x"), ""); err != nil {
			t.Fatal(err)
		}
	}
	runs := []string{
		NewRunID(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), "node2"),
		NewRunID(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), "node1"),
		NewRunID(time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC), "node1"),
	}
	cam := Stream{"live", "cam"}
	for _, run := range runs {
		put(ManifestKey(cam, run))
		put(SegmentKey(cam, run, 1))
	}
	put(StreamPrefix(cam) + "not-a-run/run.json")
	put(StreamPrefix(cam) + "stray.txt")
	put("streams/a-b/x/" + runs[0] + "/run.json")
	put("streams/a/y/" + runs[0] + "/run.json")
	put("streams/a/z/" + runs[0] + "/run.json")
	put("streams/a/bad.name/" + runs[0] + "/run.json")
	put("streams/bad.app/x/" + runs[0] + "/run.json")
	put("streams/stray.txt")
	put("clips/job1/job.json")

	got, err := ListRuns(ctx, st, cam)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(runs))
	if !slices.Equal(got, want) {
		t.Fatalf("ListRuns = %v, want %v", got, want)
	}
	if want[0] != runs[1] {
		t.Fatal("run ids do not sort by time")
	}
	if got, err := ListRuns(ctx, st, Stream{"live", "none"}); err != nil || len(got) != 0 {
		t.Fatalf("no runs: %v, %v", got, err)
	}
	if _, err := ListRuns(ctx, st, Stream{"live", ""}); !errors.Is(err, ErrInvalidStream) {
		t.Fatalf("bad stream: %v", err)
	}

	streams, err := ListStreams(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	wantStreams := []Stream{{"a", "y"}, {"a", "z"}, {"a-b", "x"}, {"live", "cam"}}
	if !slices.Equal(streams, wantStreams) {
		t.Fatalf("ListStreams = %v, want %v", streams, wantStreams)
	}

	// A truncated listing is an error, never a silently short answer.
	if _, err := ListRuns(ctx, truncStore{st}, cam); err == nil {
		t.Error("ListRuns took a truncated listing")
	}
	if _, err := ListStreams(ctx, truncStore{st}); err == nil {
		t.Error("ListStreams took a truncated listing")
	}
	if _, err := ReadIndex(ctx, truncStore{st}, cam, runs[0]); err == nil {
		t.Error("ReadIndex took a truncated listing")
	}
	st.listErr = errors.New("boom")
	if _, err := ListStreams(ctx, st); err == nil {
		t.Error("list error lost")
	}
}

// TestWriteIndex: a run written at once reads back whole, in as many
// chunks as it takes; bad names store nothing.
func TestWriteIndex(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := Stream{"live", "cam"}
	all := testEntries(1, 2*EntriesPerChunk+100, 10)
	n, err := WriteIndex(ctx, st, s, testRun, all)
	if err != nil || n != 3 {
		t.Fatalf("WriteIndex: %d chunks, %v; want 3", n, err)
	}
	got, err := ReadIndex(ctx, st, s, testRun)
	if err != nil || !entriesEqual(got, all) {
		t.Fatalf("read %d entries (%v), want %d equal ones", len(got), err, len(all))
	}
	if _, err := WriteIndex(ctx, st, Stream{"live", "a/b"}, testRun, all); !errors.Is(err, ErrInvalidStream) {
		t.Errorf("bad stream: %v", err)
	}
	if _, err := WriteIndex(ctx, st, s, "run", all); !errors.Is(err, ErrInvalidRunID) {
		t.Errorf("bad run: %v", err)
	}
}
