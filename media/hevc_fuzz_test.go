package media

import (
	"bytes"
	"testing"
)

// Seeds live in testdata/fuzz/<Target>/ (x265's parameter sets, the spec's
// header layouts, truncated and odd variants) besides the f.Add ones.

func FuzzParseExVideoTag(f *testing.F) {
	f.Add(AppendExVideoHeader(nil, true, ExCodedFrames, FourCCHEVC, 40))
	f.Add(AppendExVideoHeader(nil, true, ExSequenceStart, FourCCHEVC, 0))
	f.Add([]byte{0x84, 'h', 'v', 'c', '1', 2, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ParseExVideoTag(b)
		if err != nil {
			if CheckVideoTag(b) == nil && IsExVideo(b) {
				t.Fatal("the ingest check passes what does not parse")
			}
			return
		}
		if x.FourCC != FourCCHEVC || len(x.Data) > len(b)-5 || x.PacketType > ExMetadata {
			t.Fatalf("accepted %+v", x)
		}
		// Whatever parses, a publisher would write the same header.
		h := AppendExVideoHeader(nil, x.FrameType == 1, x.PacketType, x.FourCC, x.CTS)
		if x.PacketType != ExMetadata && (x.FrameType == 1 || x.FrameType == 2) && !bytes.Equal(h, b[:len(h)]) {
			t.Fatalf("header % x rewritten as % x", b[:len(h)], h)
		}
	})
}

func FuzzParseHEVCConfig(f *testing.F) {
	rec, _ := BuildHEVCConfig([][]byte{x265VPS}, [][]byte{x265SPS}, [][]byte{x265PPS})
	f.Add(rec)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseHEVCConfig(b)
		if err != nil {
			return
		}
		if len(c.VPS) == 0 || len(c.SPS) == 0 || len(c.PPS) == 0 || (c.LengthSize != 1 && c.LengthSize != 2 && c.LengthSize != 4) {
			t.Fatalf("accepted an unusable config: %+v", c)
		}
		_ = c.CodecString()
		// Whatever was accepted must mux any access unit without panicking.
		au := []byte{0, 0, 0, 3, 20 << 1, 1, 0xaf}
		if c.LengthSize == 4 {
			if out, key, err := c.AnnexB(nil, au); err != nil || !key || !bytes.HasPrefix(out, hevcAUD) {
				t.Fatalf("annex b: %v %v", key, err)
			}
		}
		for _, sps := range c.SPS {
			if info, err := ParseHEVCSPS(sps); err == nil && (info.Width <= 0 || info.Height <= 0) {
				t.Fatalf("size %dx%d", info.Width, info.Height)
			}
		}
	})
}

func FuzzParseHEVCSPS(f *testing.F) {
	f.Add(x265SPS)
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseHEVCSPS(b)
		if err != nil {
			return
		}
		if info.Width <= 0 || info.Height <= 0 {
			t.Fatalf("accepted size %dx%d", info.Width, info.Height)
		}
		// An SPS that parses gives a record that parses back.
		rec, err := BuildHEVCConfig([][]byte{x265VPS}, [][]byte{b}, [][]byte{x265PPS})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseHEVCConfig(rec); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzHEVCAnnexB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 20 << 1, 1, 0xaf, 0, 0, 0, 3, 0x46, 1, 0x50}, uint8(2))
	cfgs := map[uint8]*HEVCConfig{}
	for _, n := range []uint8{1, 2, 4} {
		cfgs[n] = &HEVCConfig{LengthSize: int(n), VPS: [][]byte{x265VPS}, SPS: [][]byte{x265SPS}, PPS: [][]byte{x265PPS}}
	}
	f.Fuzz(func(t *testing.T, au []byte, ls uint8) {
		c := cfgs[[]uint8{1, 2, 4}[ls%3]]
		out, key, err := c.AnnexB(nil, au)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(out, hevcAUD) {
			t.Fatal("no AUD first")
		}
		if key && !bytes.Contains(out, append([]byte{0, 0, 0, 1}, x265VPS...)) {
			t.Fatal("an IRAP without the VPS")
		}
	})
}
