package catalog

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

// TestWithFSStore runs the write and read paths against the real local
// filesystem store, to catch disagreements about keys and listing semantics
// that the in-memory store could hide.
func TestWithFSStore(t *testing.T) {
	ctx := context.Background()
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewStream("live", "cam-1")
	other, _ := NewStream("live", "cam")
	start := time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)
	var runs []string
	for i, node := range []string{"origin-b", "origin-a"} {
		run := NewRunID(start.Add(time.Duration(i)*time.Hour), node)
		runs = append(runs, run)
		m := Manifest{
			Stream: s.String(), Run: run, Node: node, StartedAt: start.Add(time.Duration(i) * time.Hour),
			State: StateLive, TargetDurationMS: 2000, Version: ManifestVersion,
			Video: &VideoInfo{Codec: "avc1.64001f", Width: 1920, Height: 1080, FPS: 29.97},
		}
		if err := WriteManifest(ctx, st, m); err != nil {
			t.Fatal(err)
		}
		entries := testEntries(1, EntriesPerChunk+3, uint64(i))
		for _, e := range entries[:3] { // segment objects beside the index must not disturb it
			if err := st.Put(ctx, SegmentKey(s, run, e.Seq), []byte("ts"), "video/mp2t"); err != nil {
				t.Fatal(err)
			}
		}
		writeIndex(t, st, s, run, entries)
		got, err := ReadIndex(ctx, st, s, run)
		if err != nil || !entriesEqual(got, entries) {
			t.Fatalf("ReadIndex: %d entries, %v", len(got), err)
		}
		back, err := ReadManifest(ctx, st, s, run)
		if err != nil || !manifestEqual(back, m) {
			t.Fatalf("ReadManifest: %+v, %v", back, err)
		}
	}
	if err := WriteManifest(ctx, st, Manifest{
		Stream: other.String(), Run: NewRunID(start, "n"), Node: "n", StartedAt: start,
		State: StateLive, TargetDurationMS: 4000, Version: ManifestVersion,
	}); err != nil {
		t.Fatal(err)
	}

	got, err := ListRuns(ctx, st, s)
	if err != nil || !slices.Equal(got, runs) {
		t.Fatalf("ListRuns = %v, %v; want %v", got, err, runs)
	}
	streams, err := ListStreams(ctx, st)
	if err != nil || !slices.Equal(streams, []Stream{other, s}) {
		t.Fatalf("ListStreams = %v, %v", streams, err)
	}
	if idx, err := ReadIndex(ctx, st, other, NewRunID(start, "n")); err != nil || len(idx) != 0 {
		t.Fatalf("index of a run without chunks: %v, %v", idx, err)
	}
}
