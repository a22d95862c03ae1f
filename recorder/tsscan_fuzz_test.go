package recorder

import (
	"bytes"
	"testing"
)

// FuzzScanTS feeds the torn-segment scanner and the repair's cut arbitrary
// bytes, as a crash can leave anything at the tail of a spool file: no
// panic, and the cut is whole packets, no longer than before, just before
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
		// The repair's cut, without the file: whole packets, no longer
		// than the input, and what is kept scans the same way again.
		size, kept, err := tornCut(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if size%tsPacketSize != 0 || size > int64(len(data)) || size != span.lastPES {
			t.Fatalf("cut at %d of %d bytes (last PES at %d)", size, len(data), span.lastPES)
		}
		if kept.packets != int(size/tsPacketSize) {
			t.Fatalf("kept %d packets of a %d-byte cut", kept.packets, size)
		}
	})
}
