package media

import (
	"bytes"
	"testing"
)

// Seeds live in testdata/fuzz/<Target>/: real sequence headers from an
// ffmpeg publish plus truncated and odd variants.

func FuzzParseAVCConfig(f *testing.F) {
	f.Add([]byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseAVCConfig(b)
		if err != nil {
			return
		}
		if len(c.SPS) == 0 || len(c.PPS) == 0 || (c.LengthSize != 1 && c.LengthSize != 2 && c.LengthSize != 4) {
			t.Fatalf("accepted an unusable config: %+v", c)
		}
		// Whatever was accepted must be usable to mux any access unit
		// without panicking.
		au := []byte{0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x09}
		if c.LengthSize == 4 {
			if out, idr, err := AVCCToAnnexB(nil, au, &c); err != nil || !idr || !bytes.HasPrefix(out, audNALU) {
				t.Fatalf("annex b: %v %v", idr, err)
			}
		}
		for _, sps := range c.SPS {
			ParseSPS(sps)
		}
	})
}

func FuzzParseAudioSpecificConfig(f *testing.F) {
	f.Add([]byte{0x12, 0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseAudioSpecificConfig(b)
		if err != nil {
			return
		}
		if c.SampleRate == 0 || c.Channels == 0 || c.ObjectType < 1 || c.ObjectType > 4 {
			t.Fatalf("accepted an unusable config: %+v", c)
		}
		h := c.AppendADTS(nil, 100)
		if len(h) != 7 || h[0] != 0xff || h[1]&0xf0 != 0xf0 {
			t.Fatalf("bad ADTS header % x", h)
		}
	})
}

func FuzzParseSPS(f *testing.F) {
	f.Add([]byte{0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseSPS(b)
		if err == nil && (info.Width <= 0 || info.Height <= 0) {
			t.Fatalf("accepted size %dx%d", info.Width, info.Height)
		}
		// Whatever parses as an SPS has a readable id, in range.
		id, idErr := SPSID(b)
		if (err == nil && idErr != nil) || (idErr == nil && (id < 0 || id > 31)) {
			t.Fatalf("SPSID = %d, %v (ParseSPS: %v)", id, idErr, err)
		}
	})
}

func FuzzAVCCToAnnexB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x09}, uint8(4))
	cfgs := map[uint8]*AVCConfig{}
	for _, n := range []uint8{1, 2, 4} {
		cfgs[n] = &AVCConfig{LengthSize: int(n), SPS: [][]byte{{0x67, 1}}, PPS: [][]byte{{0x68, 2}}}
	}
	f.Fuzz(func(t *testing.T, au []byte, ls uint8) {
		cfg := cfgs[[]uint8{1, 2, 4}[ls%3]]
		out, _, err := AVCCToAnnexB(nil, au, cfg)
		if err == nil && !bytes.HasPrefix(out, audNALU) {
			t.Fatal("no AUD first")
		}
	})
}

func TestParseSPSSizes(t *testing.T) {
	// 320x240 High profile SPS as x264 writes it (from an ffmpeg publish).
	sps := []byte{0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60}
	info, err := ParseSPS(sps)
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 320 || info.Height != 240 {
		t.Errorf("got %dx%d", info.Width, info.Height)
	}
}

func TestParseAudioSpecificConfig(t *testing.T) {
	c, err := ParseAudioSpecificConfig([]byte{0x12, 0x10}) // AAC-LC 44.1 kHz stereo
	if err != nil || c.ObjectType != 2 || c.SampleRate != 44100 || c.Channels != 2 || c.CodecString() != "mp4a.40.2" {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range [][]byte{nil, {0x12}, {0x17, 0x90}, {0xf8, 0, 0}} {
		if _, err := ParseAudioSpecificConfig(bad); err == nil {
			t.Errorf("% x accepted", bad)
		}
	}
}

func FuzzParseVideoTag(f *testing.F) {
	f.Add([]byte{0x17, 1, 0, 0, 0x21, 0, 0, 0, 2, 0x65, 0x88})
	f.Add([]byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVideoTag(b)
		if err == nil && !IsExVideo(b) && (v.Codec != CodecAVC || len(v.Data) != len(b)-5) {
			t.Fatalf("accepted %+v", v)
		}
		if err == nil && IsExVideo(b) && (v.Codec != CodecHEVC || len(v.Data) > len(b)-5) {
			t.Fatalf("accepted enhanced %+v", v)
		}
		if IsVideoKeyframe(b) && IsVideoSeqHeader(b) {
			t.Fatal("a sequence header is not a keyframe to start on")
		}
		if IsAVCSeqHeader(b) && !IsVideoSeqHeader(b) {
			t.Fatal("an AVC sequence header is a video sequence header")
		}
		if a, err := ParseAudioTag(b); err == nil && a.Format != SoundAAC {
			t.Fatalf("accepted audio %+v", a)
		}
	})
}
