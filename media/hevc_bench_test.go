package media

import (
	"encoding/binary"
	"testing"
)

// BenchmarkAnnexB compares the HEVC conversion with its peer, the AVC one,
// on a keyframe-sized unit (SEI + one 60 kB slice) and an inter one (8 kB),
// and the ingest check on an AVC frame (the cost the check adds to the
// legacy path).
func BenchmarkAnnexB(b *testing.B) {
	unit := func(sei, slice []byte) []byte {
		var au []byte
		for _, n := range [][]byte{sei, slice} {
			au = binary.BigEndian.AppendUint32(au, uint32(len(n)))
			au = append(au, n...)
		}
		return au
	}
	body := func(hdr []byte, n int) []byte {
		p := make([]byte, n)
		copy(p, hdr)
		return p
	}
	avc := &AVCConfig{LengthSize: 4, SPS: [][]byte{{0x67, 0x64, 0, 0x1f, 0xac}}, PPS: [][]byte{{0x68, 0xee, 0x3c, 0x80}}}
	hevc := &HEVCConfig{LengthSize: 4, VPS: [][]byte{x265VPS}, SPS: [][]byte{x265SPS}, PPS: [][]byte{x265PPS}}
	cases := []struct {
		name string
		cfg  VideoConfig
		au   []byte
	}{
		{"avc/key", avc, unit(body([]byte{0x06, 5}, 40), body([]byte{0x65, 0x88}, 60<<10))},
		{"hevc/key", hevc, unit(body([]byte{39 << 1, 1, 5}, 40), body([]byte{19 << 1, 1}, 60<<10))},
		{"avc/inter", avc, unit(body([]byte{0x06, 5}, 40), body([]byte{0x41, 0x9a}, 8<<10))},
		{"hevc/inter", hevc, unit(body([]byte{39 << 1, 1, 5}, 40), body([]byte{1 << 1, 1}, 8<<10))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var dst []byte
			b.SetBytes(int64(len(c.au)))
			for b.Loop() {
				var err error
				if dst, _, err = c.cfg.AnnexB(dst[:0], c.au); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("check/avc", func(b *testing.B) {
		p := append([]byte{0x27, 1, 0, 0, 0}, cases[2].au...)
		for b.Loop() {
			if CheckVideoTag(p) != nil {
				b.Fatal("refused")
			}
		}
	})
	b.Run("check/hevc", func(b *testing.B) {
		p := append(AppendExVideoHeader(nil, false, ExCodedFrames, FourCCHEVC, 40), cases[3].au...)
		for b.Loop() {
			if CheckVideoTag(p) != nil {
				b.Fatal("refused")
			}
		}
	})
}
