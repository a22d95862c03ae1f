package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds are the inputs of the checked-in corpus in
// testdata/fuzz/FuzzDecodeChunk (regenerate with REWIND_WRITE_FUZZ_SEEDS=1).
func fuzzSeeds(t testing.TB) map[string][]byte {
	valid, err := EncodeChunk(Chunk{Number: 2, Entries: testEntries(2049, 5, 8)})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := EncodeChunk(Chunk{Number: 0, Sealed: true, Entries: testEntries(1, EntriesPerChunk, 9)})
	if err != nil {
		t.Fatal(err)
	}
	noEntries, err := EncodeChunk(Chunk{Number: 7})
	if err != nil {
		t.Fatal(err)
	}
	badCRC := bytes.Clone(valid)
	badCRC[len(badCRC)-1] ^= 0xff
	return map[string][]byte{
		"valid":      valid,
		"sealed":     sealed,
		"truncated":  valid[:len(valid)/2],
		"bad_crc":    badCRC,
		"empty":      {},
		"no_entries": noEntries,
	}
}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("REWIND_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set REWIND_WRITE_FUZZ_SEEDS=1 to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeChunk")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range fuzzSeeds(t) {
		body := "go test fuzz v1\n[]byte(" + quoteBytes(data) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed_"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzDecodeChunk(f *testing.F) {
	for _, data := range fuzzSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		// Random bytes almost never carry a matching CRC, which would stop
		// the fuzzer at the checksum; also try them with a fixed-up one so
		// that it explores the parser behind it.
		if len(data) >= 4 {
			checkDecode(t, reseal(data))
		}
	})
}

// checkDecode asserts that DecodeChunk fails cleanly or that what it decodes
// re-encodes to the very same bytes (a chunk has exactly one encoding).
func checkDecode(t *testing.T, data []byte) {
	c, err := DecodeChunk(data)
	if err != nil {
		if !errors.Is(err, ErrCorruptIndex) {
			t.Fatalf("error %v does not wrap ErrCorruptIndex", err)
		}
		return
	}
	again, err := EncodeChunk(c)
	if err != nil {
		t.Fatalf("decoded chunk does not encode: %v", err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("re-encoding differs:\n in  %x\n out %x", data, again)
	}
}

// quoteBytes writes data as a Go string literal byte by byte (strconv.Quote
// would turn valid UTF-8 sequences into runes, hiding the bytes).
func quoteBytes(data []byte) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range data {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
