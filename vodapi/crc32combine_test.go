package vodapi

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestCRC32Combine: combining the CRCs of the pieces of a text gives the
// CRC of the text, for empty, short and long pieces.
func TestCRC32Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		text := make([]byte, rng.IntN(200_000))
		for i := range text {
			text[i] = byte(rng.Uint32())
		}
		var crc uint32
		for rest := text; ; {
			n := min(len(rest), rng.IntN(70_000))
			if rng.IntN(8) == 0 {
				n = 0
			}
			crc = crc32Combine(crc, crc32.ChecksumIEEE(rest[:n]), int64(n))
			rest = rest[n:]
			if len(rest) == 0 {
				break
			}
		}
		if want := crc32.ChecksumIEEE(text); crc != want {
			t.Fatalf("%d bytes: combined %08x, want %08x", len(text), crc, want)
		}
	}
}

// FuzzCRC32Combine: any split of any input.
func FuzzCRC32Combine(f *testing.F) {
	f.Add([]byte("#EXTINF:2.000,\nr/1.ts\n"), uint16(5))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, at uint16) {
		i := int(at) % (len(b) + 1)
		got := crc32Combine(crc32.ChecksumIEEE(b[:i]), crc32.ChecksumIEEE(b[i:]), int64(len(b)-i))
		if want := crc32.ChecksumIEEE(b); got != want {
			t.Fatalf("split at %d of %d: %08x, want %08x", i, len(b), got, want)
		}
	})
}
