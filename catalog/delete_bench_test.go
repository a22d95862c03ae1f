package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

// benchRun stores one hour of 2 s segments (1800 objects of 1 KiB, two
// index chunks, run.json) on the FS store.
func benchRun(b *testing.B, st store.Store, s Stream) string {
	ctx := context.Background()
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := NewRunID(start, "node1")
	end := start.Add(time.Hour)
	if err := WriteManifest(ctx, st, Manifest{Stream: s.String(), Run: run, Node: "node1", StartedAt: start, EndedAt: &end,
		State: StateEnded, TargetDurationMS: 2000, Version: ManifestVersion}); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1024)
	w := NewIndexWriter(nil)
	for seq := uint64(1); seq <= 1800; seq++ {
		if err := st.Put(ctx, SegmentKey(s, run, seq), data, "video/mp2t"); err != nil {
			b.Fatal(err)
		}
		cws, err := w.Append(Entry{Seq: seq, StartMS: start.UnixMilli() + int64(seq)*2000, Duration: 180000, Size: 1024, Flags: FlagIndependent})
		if err != nil {
			b.Fatal(err)
		}
		for _, cw := range cws {
			if err := st.Put(ctx, IndexChunkKey(s, run, cw.Number), cw.Data, ""); err != nil {
				b.Fatal(err)
			}
		}
	}
	return run
}

// The peer: storing the run (what the recorder does over its hour).
func BenchmarkStoreRun1h(b *testing.B) {
	st, err := fsstore.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s, _ := NewStream("live", "cam")
	for b.Loop() {
		benchRun(b, st, s)
	}
}

// Deleting the same run, listing included.
func BenchmarkDeleteRun1h(b *testing.B) {
	st, err := fsstore.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s, _ := NewStream("live", "cam")
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		run := benchRun(b, st, s)
		b.StartTimer()
		stats, err := DeleteRuns(ctx, st, s, []string{run})
		if err != nil || stats.Objects != 1800+2+1 {
			b.Fatalf("%+v %v", stats, err)
		}
	}
}
