package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"
)

func TestChunkRoundTrip(t *testing.T) {
	full := testEntries(1, EntriesPerChunk, 4)
	for name, c := range map[string]Chunk{
		"empty":  {Number: 0},
		"one":    {Number: 3, Entries: full[:1]},
		"tail":   {Number: 7, Entries: full[:100]},
		"sealed": {Number: 42, Sealed: true, Entries: full},
		"extremes": {Number: math.MaxUint64, Entries: []Entry{
			{Seq: 0, StartMS: math.MaxInt64, Duration: math.MaxUint32, Size: math.MaxUint32, Flags: FlagDiscontinuity | FlagIndependent | FlagGap},
			{Seq: 1, StartMS: math.MinInt64, Duration: 0, Size: 0},
			{Seq: math.MaxUint64, StartMS: -1, Duration: math.MaxUint32, Size: 1},
		}},
	} {
		data, err := EncodeChunk(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := DecodeChunk(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Number != c.Number || got.Sealed != c.Sealed || !entriesEqual(got.Entries, c.Entries) {
			t.Fatalf("%s: round trip differs", name)
		}
		again, _ := EncodeChunk(got)
		if !bytes.Equal(again, data) {
			t.Fatalf("%s: re-encoding differs", name)
		}
	}
}

func TestEncodeChunkRejects(t *testing.T) {
	full := testEntries(1, EntriesPerChunk+1, 5)
	for name, c := range map[string]Chunk{
		"too many":      {Entries: full},
		"sealed short":  {Sealed: true, Entries: full[:10]},
		"seq order":     {Entries: []Entry{{Seq: 2}, {Seq: 2}}},
		"unknown flags": {Entries: []Entry{{Seq: 2, Flags: 0x80}}},
	} {
		if _, err := EncodeChunk(c); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

// reseal recomputes the CRC after a test edits a chunk's body.
func reseal(data []byte) []byte {
	body := data[:len(data)-4]
	return binary.BigEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
}

func TestDecodeChunkCorrupt(t *testing.T) {
	good, err := EncodeChunk(Chunk{Number: 1, Entries: testEntries(5, 3, 6)})
	if err != nil {
		t.Fatal(err)
	}
	// Header: magic(4) version(1) flags(1) number(1) count(1), then entries.
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":        nil,
		"short":        good[:7],
		"truncated":    reseal(good[:len(good)-6]),
		"bad magic":    reseal(edit(func(b []byte) []byte { b[0] = 'X'; return b })),
		"version 2":    reseal(edit(func(b []byte) []byte { b[4] = 2; return b })),
		"bad crc":      edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		"bit flip":     edit(func(b []byte) []byte { b[10] ^= 4; return b }),
		"chunk flags":  reseal(edit(func(b []byte) []byte { b[5] = 2; return b })),
		"sealed short": reseal(edit(func(b []byte) []byte { b[5] = 1; return b })),
		"count too big": reseal(edit(func(b []byte) []byte {
			out := append([]byte{}, b[:7]...)
			out = binary.AppendUvarint(out, EntriesPerChunk+1)
			return append(out, b[8:]...)
		})),
		"count beyond data": reseal(edit(func(b []byte) []byte { b[7] = 100; return b })),
		"trailing bytes": reseal(edit(func(b []byte) []byte {
			return append(b[:len(b)-4:len(b)-4], 0, 0, 0, 0, 0)
		})),
		"padded varint": reseal(edit(func(b []byte) []byte {
			// chunk number 1 written as 0x81 0x00
			out := append([]byte{}, b[:6]...)
			out = append(out, 0x81, 0x00)
			return append(out, b[7:]...)
		})),
	}
	// A seq delta of 0: build the entries by hand.
	var b []byte
	b = append(b, chunkMagic...)
	b = append(b, chunkVersion, 0, 0, 2)
	b = append(b, 5, 0, 0, 0, 0) // seq 5, start 0, duration 0, size 0, flags 0
	b = append(b, 0, 0, 0, 0, 0) // seq delta 0
	cases["seq repeats"] = reseal(append(b, 0, 0, 0, 0))
	// Duration delta below zero.
	b = append(b[:len(b)-5], 1, 0, 1, 0, 0) // zigzag 1 = -1
	cases["negative duration"] = reseal(append(b, 0, 0, 0, 0))
	// Unknown entry flags.
	b = append(b[:len(b)-5], 1, 0, 0, 0, 0x10)
	cases["entry flags"] = reseal(append(b, 0, 0, 0, 0))
	// Sanity: the hand-built chunk is valid with good flags.
	b[len(b)-1] = byte(FlagGap)
	if _, err := DecodeChunk(reseal(append(b, 0, 0, 0, 0))); err != nil {
		t.Fatalf("hand-built chunk: %v", err)
	}

	for name, data := range cases {
		_, err := DecodeChunk(data)
		t.Logf("%s: %v", name, err)
		if !errors.Is(err, ErrCorruptIndex) {
			t.Errorf("%s: %v, want ErrCorruptIndex", name, err)
		}
	}
}

// TestIndexSize24h checks the design goal: a 24 h run of 2 s segments
// indexes in well under 1 MB.
func TestIndexSize24h(t *testing.T) {
	const n = 24 * 3600 / 2
	entries := testEntries(1, n, 7)
	w := NewIndexWriter(nil)
	final := map[uint64]int{}
	// Batches of 100, as a recorder catching up after an outage would.
	for i := 0; i < n; i += 100 {
		cws, err := w.Append(entries[i:min(i+100, n)]...)
		if err != nil {
			t.Fatal(err)
		}
		for _, cw := range cws {
			final[cw.Number] = len(cw.Data)
		}
	}
	total := 0
	for _, size := range final {
		total += size
	}
	t.Logf("24 h of 2 s segments: %d entries in %d chunks, %d bytes (%.2f bytes/entry)", n, len(final), total, float64(total)/n)
	if total >= 1<<20 {
		t.Fatalf("index is %d bytes, want < 1 MB", total)
	}
	if total >= 500_000 {
		t.Errorf("index is %d bytes; 'well under 1 MB' expected", total)
	}
}
