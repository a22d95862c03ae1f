package recorder

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzScanTS feeds the torn-segment scanner and repair arbitrary bytes, as
// a crash can leave anything at the tail of a spool file: no panic, and a
// repaired file is whole packets, no longer than before, ending just before
// the last PES start that was found.
func FuzzScanTS(f *testing.F) {
	pkt := func(pusi bool, pid uint16, pes []byte) []byte {
		p := make([]byte, tsPacketSize)
		p[0], p[1], p[2], p[3] = 0x47, byte(pid>>8)&0x1f, byte(pid), 0x10
		if pusi {
			p[1] |= 0x40
		}
		copy(p[4:], pes)
		return p
	}
	pes := []byte{0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1}
	seed := append(pkt(true, 0x100, pes), pkt(false, 0x100, nil)...)
	f.Add(seed)
	f.Add(append(seed, seed[:100]...))
	f.Add([]byte{0x47})
	f.Fuzz(func(t *testing.T, data []byte) {
		span, err := scanTS(bytes.NewReader(data))
		if span.packets*tsPacketSize > len(data)+tsPacketSize {
			t.Fatalf("%d packets in %d bytes", span.packets, len(data))
		}
		if err == nil && span.pes > 0 && span.end < span.first {
			t.Fatalf("span ends before it starts: %+v", span)
		}
		if span.lastPES%tsPacketSize != 0 || span.lastPES > int64(len(data)) {
			t.Fatalf("last PES at %d of %d bytes", span.lastPES, len(data))
		}
		path := filepath.Join(t.TempDir(), "seg.ts")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		size, _, err := repairTorn(path)
		if err != nil {
			return
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if size != fi.Size() || size%tsPacketSize != 0 || size > int64(len(data)) {
			t.Fatalf("repaired to %d (file %d) from %d bytes", size, fi.Size(), len(data))
		}
	})
}
