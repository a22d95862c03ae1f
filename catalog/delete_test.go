package catalog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

// crashStore fails every Delete after the first n, as a process killed
// mid-way would stop; it records the order of the deletes that happened.
type crashStore struct {
	store.Store
	left    atomic.Int32
	deleted []string
}

var errCrash = errors.New("crash")

func (c *crashStore) Delete(ctx context.Context, key string) error {
	if c.left.Add(-1) < 0 {
		return errCrash
	}
	c.deleted = append(c.deleted, key)
	return c.Store.Delete(ctx, key)
}

// storeRun writes a run with a manifest, a two-chunk index, its segments
// and a snapshot beside them.
func storeRun(t *testing.T, st store.Store, s Stream, start time.Time) string {
	t.Helper()
	ctx := context.Background()
	run := NewRunID(start, "node1")
	end := start.Add(time.Hour)
	if err := WriteManifest(ctx, st, Manifest{Stream: s.String(), Run: run, Node: "node1", StartedAt: start, EndedAt: &end,
		State: StateEnded, TargetDurationMS: 2000, Version: ManifestVersion}); err != nil {
		t.Fatal(err)
	}
	entries := testEntries(1, EntriesPerChunk+2, 7)
	writeIndex(t, st, s, run, entries)
	for _, e := range entries[:5] {
		if err := st.Put(ctx, SegmentKey(s, run, e.Seq), []byte("ts-data"), "video/mp2t"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Put(ctx, RunPrefix(s, run)+"snap/0000000001.jpg", []byte("jpeg"), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	return run
}

func TestDeleteRuns(t *testing.T) {
	ctx := context.Background()
	fs, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewStream("live", "cam")
	other, _ := NewStream("live", "other")
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	r1, r2 := storeRun(t, fs, s, t0), storeRun(t, fs, s, t0.Add(2*time.Hour))
	keep := storeRun(t, fs, s, t0.Add(4*time.Hour))
	otherRun := storeRun(t, fs, other, t0)
	var want int
	var wantBytes int64
	for _, r := range []string{r1, r2} {
		objs, err := RunObjects(ctx, fs, s, r)
		if err != nil {
			t.Fatal(err)
		}
		want += len(objs)
		for _, o := range objs {
			wantBytes += o.Size
		}
	}

	// A crash after four deletes: both run.json went first, then the
	// newest index chunk of r1; the marker names both runs.
	cs := &crashStore{Store: fs}
	cs.left.Store(4)
	if _, err := DeleteRuns(ctx, cs, s, []string{r1, r2}); !errors.Is(err, errCrash) {
		t.Fatalf("crashed delete: %v", err)
	}
	wantOrder := []string{ManifestKey(s, r1), ManifestKey(s, r2), IndexChunkKey(s, r1, 1), IndexChunkKey(s, r1, 0)}
	if !slices.Equal(cs.deleted, wantOrder) {
		t.Fatalf("delete order %v, want %v", cs.deleted, wantOrder)
	}
	if _, err := ReadManifest(ctx, fs, s, r2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("run.json of r2 after the crash: %v", err)
	}
	pending, err := PendingDeletion(ctx, fs, s, r1)
	if err != nil || !slices.Equal(pending, []string{r1, r2}) {
		t.Fatalf("PendingDeletion = %v, %v", pending, err)
	}

	// The retry finishes; the crashed attempt's deletes are not counted
	// again.
	stats, err := DeleteRuns(ctx, fs, s, pending)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stats.Runs, []string{r1, r2}) || stats.Objects != want-4 {
		t.Fatalf("retry: %+v, want %d objects", stats, want-4)
	}
	for _, r := range []string{r1, r2} {
		if objs, _ := RunObjects(ctx, fs, s, r); len(objs) != 0 {
			t.Fatalf("run %s: %v left", r, objs)
		}
	}
	if p, err := PendingDeletion(ctx, fs, s, r1); p != nil || err != nil {
		t.Fatalf("marker left: %v %v", p, err)
	}
	runs, err := ListRuns(ctx, fs, s)
	if err != nil || !slices.Equal(runs, []string{keep}) {
		t.Fatalf("runs left %v, %v", runs, err)
	}
	if idx, err := ReadIndex(ctx, fs, other, otherRun); err != nil || len(idx) != EntriesPerChunk+2 {
		t.Fatalf("other stream's index: %d, %v", len(idx), err)
	}

	// A whole delete counts every object and byte; a second one nothing.
	stats, err = DeleteRuns(ctx, fs, s, []string{keep})
	if err != nil || stats.Objects != want/2 || stats.Bytes != wantBytes/2 || len(stats.Keys) != stats.Objects {
		t.Fatalf("delete: %+v, %v; want %d objects, %d bytes", stats, err, want/2, wantBytes/2)
	}
	for _, k := range stats.Keys {
		if strings.HasSuffix(k, deletionName) {
			t.Errorf("the marker counted: %s", k)
		}
	}
	stats, err = DeleteRuns(ctx, fs, s, []string{keep})
	if err != nil || stats.Objects != 0 || len(stats.Runs) != 0 {
		t.Fatalf("second delete: %+v, %v", stats, err)
	}
	if _, err := DeleteRuns(ctx, fs, s, []string{"../x"}); err == nil {
		t.Fatal("a bad run id was accepted")
	}
}

func TestRunEnd(t *testing.T) {
	ctx := context.Background()
	fs, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewStream("live", "cam")
	start := time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)
	run := NewRunID(start, "node1")
	m := Manifest{Stream: s.String(), Run: run, Node: "node1", StartedAt: start, State: StateLive, TargetDurationMS: 2000, Version: ManifestVersion}
	if end, err := RunEnd(ctx, fs, s, m); err != nil || !end.Equal(start) {
		t.Fatalf("no segment yet: %v, %v", end, err)
	}
	entries := testEntries(1, 10, 3)
	writeIndex(t, fs, s, run, entries)
	if end, err := RunEnd(ctx, fs, s, m); err != nil || end.UnixMilli() != entries[9].EndMS() {
		t.Fatalf("live: %v, %v; want the last segment's end", end, err)
	}
	ended := start.Add(time.Hour)
	m.State, m.EndedAt = StateEnded, &ended
	if end, err := RunEnd(ctx, fs, s, m); err != nil || !end.Equal(ended) {
		t.Fatalf("ended: %v, %v", end, err)
	}
}
