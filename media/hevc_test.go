package media

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rewind-vod/rewind/internal/mediatest"
)

// Parameter sets x265 (ffmpeg 5.1, libx265 3.5) writes for 426x240 Main:
// the width is coded as 432 with a conformance window of 6 columns.
var (
	x265VPS = mustHex("40010c01ffff01600000030090000003000003003c959809")
	x265SPS = mustHex("42010101600000030090000003000003003ca00d880f1c9e5959a4932bc05a020000030002000003003210")
	x265PPS = mustHex("4401c172b46240")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseHEVCSPS(t *testing.T) {
	info, err := ParseHEVCSPS(x265SPS)
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 426 || info.Height != 240 || info.ChromaFormat != 1 || info.BitDepthLuma != 8 {
		t.Errorf("got %+v", info)
	}
	for _, bad := range [][]byte{nil, x265SPS[:3], x265SPS[:12], x265PPS, x265VPS} {
		if _, err := ParseHEVCSPS(bad); err == nil {
			t.Errorf("% x accepted", bad)
		}
	}
}

// TestParseHEVCSPSFromEncoder checks sizes against what libx265 encodes,
// 720p (no cropping) and an odd size (cropping on both axes).
func TestParseHEVCSPSFromEncoder(t *testing.T) {
	mediatest.Require(t)
	for _, size := range [][2]int{{1280, 720}, {322, 182}} {
		nalus := encodeHEVC(t, size[0], size[1], 1)
		var sps []byte
		for _, n := range nalus {
			if HEVCNaluType(n) == HEVCNaluSPS {
				sps = n
			}
		}
		info, err := ParseHEVCSPS(sps)
		if err != nil {
			t.Fatal(err)
		}
		if info.Width != size[0] || info.Height != size[1] {
			t.Errorf("%v: got %dx%d", size, info.Width, info.Height)
		}
	}
}

// encodeHEVC runs libx265 and returns the NAL units of its Annex B output.
func encodeHEVC(t *testing.T, w, h, frames int) [][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.hevc")
	cmd := exec.Command("ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", "testsrc2=size="+strconv.Itoa(w)+"x"+strconv.Itoa(h)+":rate=25", "-frames:v", strconv.Itoa(frames),
		"-c:v", "libx265", "-x265-params", "log-level=error", "-f", "hevc", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return SplitAnnexB(b)
}

func TestHEVCConfigRoundTrip(t *testing.T) {
	rec, err := BuildHEVCConfig([][]byte{x265VPS}, [][]byte{x265SPS}, [][]byte{x265PPS})
	if err != nil {
		t.Fatal(err)
	}
	// ISO/IEC 14496-15 8.3.3.1.2 layout: version 1, then the SPS's general
	// profile_tier_level, then lengthSizeMinusOne 3 and three arrays.
	if rec[0] != 1 || !bytes.Equal(rec[1:13], unescapeRBSP(x265SPS[2:])[1:13]) || rec[21]&3 != 3 || rec[22] != 3 {
		t.Fatalf("record % x", rec[:23])
	}
	c, err := ParseHEVCConfig(rec)
	if err != nil {
		t.Fatal(err)
	}
	if c.LengthSize != 4 || !bytes.Equal(c.VPS[0], x265VPS) || !bytes.Equal(c.SPS[0], x265SPS) || !bytes.Equal(c.PPS[0], x265PPS) {
		t.Fatalf("parsed %+v", c)
	}
	// Main profile (1, compatible with 1 and 2), level 2 (60), main tier,
	// progressive + frame-only constraint flags (0x90).
	if got := c.CodecString(); got != "hvc1.1.6.L60.90" {
		t.Errorf("codec string %q", got)
	}
	for n := range len(rec) {
		if _, err := ParseHEVCConfig(rec[:n]); err == nil {
			t.Errorf("truncated to %d accepted", n)
		}
	}
}

// TestHEVCConfigMatchesFFmpeg compares the record we build with the hvcC
// box ffmpeg's mp4 muxer writes for the same stream.
func TestHEVCConfigMatchesFFmpeg(t *testing.T) {
	mediatest.Require(t)
	dir := t.TempDir()
	in, mp4 := filepath.Join(dir, "in.hevc"), filepath.Join(dir, "out.mp4")
	var annexB []byte
	for _, n := range [][]byte{x265VPS, x265SPS, x265PPS} {
		annexB = append(append(annexB, 0, 0, 0, 1), n...)
	}
	// Plus a real picture, so that the muxer has a sample to write.
	for _, n := range encodeHEVC(t, 426, 240, 1) {
		if HEVCNaluType(n) == 19 || HEVCNaluType(n) == 20 || HEVCNaluType(n) == 21 {
			annexB = append(append(annexB, 0, 0, 0, 1), n...)
		}
	}
	if err := os.WriteFile(in, annexB, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffmpeg", "-loglevel", "error", "-y", "-f", "hevc", "-i", in, "-c", "copy", "-tag:v", "hvc1", mp4)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(mp4)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("hvcC"))
	if i < 4 {
		t.Fatal("no hvcC box")
	}
	size := int(binary.BigEndian.Uint32(b[i-4:]))
	want := b[i+4 : i-4+size]
	got, err := BuildHEVCConfig([][]byte{x265VPS}, [][]byte{x265SPS}, [][]byte{x265PPS})
	if err != nil {
		t.Fatal(err)
	}
	// ffmpeg derives the fields from the same parameter sets; the header
	// (profile, level, chroma, depths, layers, length size) must agree.
	if !bytes.Equal(got[:13], want[:13]) || got[16] != want[16] || got[17] != want[17] || got[18] != want[18] || got[21] != want[21] {
		t.Errorf("header\n got % x\nwant % x", got[:23], want[:23])
	}
	cw, err := ParseHEVCConfig(want)
	if err != nil {
		t.Fatalf("ffmpeg's hvcC: %v", err)
	}
	if cw.CodecString() != "hvc1.1.6.L60.90" {
		t.Errorf("ffmpeg's record gives %q", cw.CodecString())
	}
}

func TestHEVCAnnexB(t *testing.T) {
	rec, _ := BuildHEVCConfig([][]byte{x265VPS}, [][]byte{x265SPS}, [][]byte{x265PPS})
	c, err := ParseHEVCConfig(rec)
	if err != nil {
		t.Fatal(err)
	}
	lp := func(nalus ...[]byte) []byte {
		var b []byte
		for _, n := range nalus {
			b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
			b = append(b, n...)
		}
		return b
	}
	aud := []byte{0x46, 1, 0x50}
	idr := []byte{20 << 1, 1, 0xaf, 0x01}  // IDR_N_LP
	cra := []byte{21 << 1, 1, 0xaf, 0x02}  // CRA_NUT
	trail := []byte{1 << 1, 1, 0xd0, 0x03} // TRAIL_R
	sei := []byte{39 << 1, 1, 5, 1, 0x80}  // prefix SEI
	for name, tc := range map[string]struct {
		in   []byte
		key  bool
		want [][]byte
	}{
		"idr with in-band sets": {lp(aud, x265VPS, x265SPS, x265PPS, sei, idr), true, [][]byte{aud, x265VPS, x265SPS, x265PPS, sei, idr}},
		"bare idr":              {lp(idr), true, [][]byte{aud, x265VPS, x265SPS, x265PPS, idr}},
		"cra":                   {lp(sei, cra), true, [][]byte{aud, x265VPS, x265SPS, x265PPS, sei, cra}},
		"trail":                 {lp(aud, trail), false, [][]byte{aud, trail}},
	} {
		out, key, err := c.AnnexB(nil, tc.in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := SplitAnnexB(out)
		if key != tc.key || len(got) != len(tc.want) {
			t.Fatalf("%s: key %v, %d nalus", name, key, len(got))
		}
		for i := range got {
			if !bytes.Equal(got[i], tc.want[i]) {
				t.Errorf("%s: nalu %d = % x, want % x", name, i, got[i], tc.want[i])
			}
		}
	}
	if _, _, err := c.AnnexB(nil, []byte{0, 0, 0, 9, 1}); err == nil {
		t.Error("a length beyond the unit accepted")
	}
}

// TestExVideoTagLayout checks ParseExVideoTag and AppendExVideoHeader
// against the ExVideoTagHeader table of the enhanced RTMP spec (v1, table
// 4): IsExHeader in bit 7, FrameType in bits 6-4, PacketType in bits 3-0,
// the FourCC, and an SI24 composition time for CodedFrames only.
func TestExVideoTagLayout(t *testing.T) {
	for _, tc := range []struct {
		key  bool
		pt   int
		cts  int32
		want string
	}{
		{true, ExSequenceStart, 0, "90 68 76 63 31"},
		{true, ExCodedFrames, 80, "91 68 76 63 31 00 00 50"},
		{false, ExCodedFrames, -40, "a1 68 76 63 31 ff ff d8"},
		{false, ExCodedFramesX, 0, "a3 68 76 63 31"},
		{true, ExSequenceEnd, 0, "92 68 76 63 31"},
	} {
		h := AppendExVideoHeader(nil, tc.key, tc.pt, FourCCHEVC, tc.cts)
		if got := hex.EncodeToString(h); got != removeSpaces(tc.want) {
			t.Errorf("%+v: % x", tc, h)
		}
		p := append(h, 0xde, 0xad)
		x, err := ParseExVideoTag(p)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		wantFT := 2
		if tc.key {
			wantFT = 1
		}
		if x.FrameType != wantFT || x.PacketType != tc.pt || x.FourCC != "hvc1" || x.CTS != tc.cts || !bytes.Equal(x.Data, []byte{0xde, 0xad}) {
			t.Errorf("%+v: parsed %+v", tc, x)
		}
		v, err := ParseVideoTag(p)
		if err != nil || v.Codec != CodecHEVC || v.CTS != tc.cts {
			t.Errorf("%+v: ParseVideoTag %+v %v", tc, v, err)
		}
		isKey := tc.key && (tc.pt == ExCodedFrames || tc.pt == ExCodedFramesX)
		if IsVideoKeyframe(p) != isKey || v.Keyframe != isKey {
			t.Errorf("%+v: keyframe %v", tc, IsVideoKeyframe(p))
		}
		if IsVideoSeqHeader(p) != (tc.pt == ExSequenceStart) || IsAVCSeqHeader(p) {
			t.Errorf("%+v: sequence header %v", tc, IsVideoSeqHeader(p))
		}
	}
	// Metadata: frame type bits are to be ignored.
	if x, err := ParseExVideoTag([]byte{0x84, 'h', 'v', 'c', '1', 2, 0, 9}); err != nil || x.PacketType != ExMetadata {
		t.Errorf("metadata: %+v %v", x, err)
	}
	for name, bad := range map[string][]byte{
		"truncated fourcc":   {0x90, 'h', 'v'},
		"truncated cts":      {0x91, 'h', 'v', 'c', '1', 0},
		"av1":                {0x90, 'a', 'v', '0', '1'},
		"avc1 fourcc":        {0x91, 'a', 'v', 'c', '1', 0, 0, 0},
		"mpeg2ts start":      {0x95, 'h', 'v', 'c', '1'},
		"multitrack":         {0x96, 'h', 'v', 'c', '1'},
		"modex":              {0x97, 'h', 'v', 'c', '1'},
		"reserved type":      {0x9a, 'h', 'v', 'c', '1'},
		"reserved frametype": {0x81, 'h', 'v', 'c', '1', 0, 0, 0},
	} {
		if _, err := ParseExVideoTag(bad); err == nil {
			t.Errorf("%s accepted", name)
		}
		if err := CheckVideoTag(bad); err == nil {
			t.Errorf("%s passes the ingest check", name)
		}
	}
	// Legacy tags: AVC passes as before, other codec ids do not.
	if err := CheckVideoTag([]byte{0x17, 1, 0, 0, 0}); err != nil {
		t.Error(err)
	}
	if err := CheckVideoTag([]byte{0x12, 0, 0}); err == nil {
		t.Error("Sorenson H.263 passes the ingest check")
	}
}

func removeSpaces(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)) }
