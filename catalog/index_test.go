package catalog

import (
	"math/rand/v2"
	"testing"
	"time"
)

// testEntries makes n entries starting at seq first: ~2 s segments of
// ~600 KB with jitter, wall clock following the media durations.
func testEntries(first uint64, n int, seed uint64) []Entry {
	rng := rand.New(rand.NewPCG(seed, 1))
	start := time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC).UnixMilli()
	out := make([]Entry, n)
	for i := range out {
		dur := uint32(180000 + (rng.IntN(11)-5)*90) // 2 s ± 5 ms
		e := Entry{
			Seq:      first + uint64(i),
			StartMS:  start,
			Duration: dur,
			Size:     uint32(600_000 + rng.IntN(200_001) - 100_000),
			Flags:    FlagIndependent,
		}
		if i%500 == 0 {
			e.Flags |= FlagDiscontinuity
		}
		out[i] = e
		start = e.EndMS() + int64(rng.IntN(3)) - 1
	}
	return out
}

func TestEntryHelpers(t *testing.T) {
	e := Entry{StartMS: 1_795_947_300_123, Duration: 180045}
	if got := e.Start(); !got.Equal(time.UnixMilli(1_795_947_300_123)) || got.Location() != time.UTC {
		t.Errorf("Start() = %v", got)
	}
	if got := e.Dur(); got != 2000500*time.Microsecond {
		t.Errorf("Dur() = %v", got)
	}
	if got := e.EndMS(); got != e.StartMS+2001 { // 2000.5 ms rounds up
		t.Errorf("EndMS() = %d", got)
	}
	max := Entry{Duration: 1<<32 - 1}
	if max.Dur() <= 0 || max.EndMS() <= 0 {
		t.Errorf("max duration overflows: %v %d", max.Dur(), max.EndMS())
	}
	if !(FlagIndependent | FlagGap).Has(FlagGap) || FlagGap.Has(FlagGap|FlagIndependent) {
		t.Error("Flags.Has wrong")
	}
}

func TestIndexWriter(t *testing.T) {
	all := testEntries(1, 2*EntriesPerChunk+10, 1)
	w := NewIndexWriter(nil)
	if _, ok := w.Last(); ok || w.Len() != 0 {
		t.Fatal("new writer not empty")
	}
	stored := map[uint64]ChunkWrite{}
	put := func(cws []ChunkWrite) {
		for _, cw := range cws {
			if old, ok := stored[cw.Number]; ok && old.Sealed {
				t.Fatalf("sealed chunk %d rewritten", cw.Number)
			}
			stored[cw.Number] = cw
		}
	}
	// One at a time up to just before the first chunk is full.
	for i := 0; i < EntriesPerChunk-1; i++ {
		cws, err := w.Append(all[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(cws) != 1 || cws[0].Number != 0 || cws[0].Sealed {
			t.Fatalf("append %d: %+v", i, cws)
		}
		put(cws)
	}
	// The entry that fills chunk 0 seals it and leaves no tail to write.
	cws, err := w.Append(all[EntriesPerChunk-1])
	if err != nil || len(cws) != 1 || !cws[0].Sealed || cws[0].Number != 0 {
		t.Fatalf("filling append: %+v, %v", cws, err)
	}
	put(cws)
	// A batch across a chunk boundary: chunk 1 sealed, then the tail chunk 2.
	cws, err = w.Append(all[EntriesPerChunk : 2*EntriesPerChunk+5]...)
	if err != nil || len(cws) != 2 || !cws[0].Sealed || cws[0].Number != 1 || cws[1].Sealed || cws[1].Number != 2 {
		t.Fatalf("batch append: %v", err)
	}
	put(cws)
	if w.Len() != 2*EntriesPerChunk+5 {
		t.Fatalf("Len() = %d", w.Len())
	}
	if last, ok := w.Last(); !ok || last != all[2*EntriesPerChunk+4] {
		t.Fatalf("Last() = %+v, %v", last, ok)
	}

	// Resume from what was written, as a restarted recorder would.
	got := decodeAll(t, stored)
	if len(got) != w.Len() {
		t.Fatalf("decoded %d entries", len(got))
	}
	w2 := NewIndexWriter(got)
	cws, err = w2.Append(all[2*EntriesPerChunk+5:]...)
	if err != nil || len(cws) != 1 || cws[0].Number != 2 || cws[0].Sealed {
		t.Fatalf("resumed append: %+v, %v", cws, err)
	}
	put(cws)
	if got := decodeAll(t, stored); !entriesEqual(got, all) {
		t.Fatal("entries differ after resume")
	}
}

func decodeAll(t *testing.T, stored map[uint64]ChunkWrite) []Entry {
	t.Helper()
	var out []Entry
	for n := uint64(0); n < uint64(len(stored)); n++ {
		c, err := DecodeChunk(stored[n].Data)
		if err != nil {
			t.Fatal(err)
		}
		if c.Number != n || c.Sealed != stored[n].Sealed {
			t.Fatalf("chunk %d: number %d sealed %v", n, c.Number, c.Sealed)
		}
		out = append(out, c.Entries...)
	}
	return out
}

func entriesEqual(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestIndexWriterResumeAtBoundary(t *testing.T) {
	all := testEntries(0, EntriesPerChunk+1, 2)
	w := NewIndexWriter(all[:EntriesPerChunk])
	cws, err := w.Append(all[EntriesPerChunk])
	if err != nil || len(cws) != 1 || cws[0].Number != 1 || cws[0].Sealed {
		t.Fatalf("%+v, %v", cws, err)
	}
	c, _ := DecodeChunk(cws[0].Data)
	if len(c.Entries) != 1 || c.Entries[0] != all[EntriesPerChunk] {
		t.Fatalf("tail chunk %+v", c)
	}
}

func TestIndexWriterRejects(t *testing.T) {
	w := NewIndexWriter(testEntries(10, 3, 3)) // seqs 10..12
	for name, batch := range map[string][]Entry{
		"same seq":      {{Seq: 12}},
		"lower seq":     {{Seq: 5}},
		"batch order":   {{Seq: 14}, {Seq: 13}},
		"batch repeat":  {{Seq: 14}, {Seq: 14}},
		"unknown flags": {{Seq: 14, Flags: 8}},
		"seq too large": {{Seq: MaxSeq + 1}},
	} {
		if cws, err := w.Append(batch...); err == nil {
			t.Errorf("%s: accepted, %d chunks", name, len(cws))
		}
	}
	// Nothing of a refused batch was kept.
	if w.Len() != 3 {
		t.Fatalf("Len() = %d after refused appends", w.Len())
	}
	if last, _ := w.Last(); last.Seq != 12 {
		t.Fatalf("Last().Seq = %d", last.Seq)
	}
	if cws, err := w.Append(); err != nil || cws != nil {
		t.Fatalf("empty append: %v, %v", cws, err)
	}
	cws, err := w.Append(Entry{Seq: 13})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := DecodeChunk(cws[0].Data)
	if len(c.Entries) != 4 || c.Entries[3].Seq != 13 {
		t.Fatalf("tail after refusals: %+v", c.Entries)
	}
}
