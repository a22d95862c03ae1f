package ertmppub

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/media"
)

// TestEncode checks the publisher's tags against the enhanced RTMP spec:
// onMetaData with videocodecid 'hvc1' as a UI32, a SequenceStart
// (0x90 'hvc1' + HEVCDecoderConfigurationRecord) first, then CodedFrames
// (SI24 composition time) or CodedFramesX, keyframes exactly on the IRAP
// pictures, no parameter sets or AUDs in the frames; converted back to
// Annex B, ffmpeg decodes every picture.
func TestEncode(t *testing.T) {
	mediatest.Require(t)
	frames, err := Encode(context.Background(), Source{Seconds: 6, Size: "320x240"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := metaValue(frames[0], "videocodecid"); v != 0x68766331 {
		t.Errorf("videocodecid %v", v)
	}
	seq := frames[1].Payload
	if !bytes.HasPrefix(seq, []byte{0x90, 'h', 'v', 'c', '1'}) {
		t.Fatalf("sequence start % x", seq[:5])
	}
	cfg, err := media.ParseHEVCConfig(seq[5:])
	if err != nil {
		t.Fatal(err)
	}
	if info, err := media.ParseHEVCSPS(cfg.SPS[0]); err != nil || info.Width != 320 || info.Height != 240 || cfg.LengthSize != 4 {
		t.Fatalf("config %+v %v", info, err)
	}
	var video, keys, aac, withCTS int
	var last uint32
	for _, f := range frames[1:] {
		if f.Timestamp < last {
			t.Fatalf("timestamps go back: %d after %d", f.Timestamp, last)
		}
		last = f.Timestamp
		switch {
		case f.Type == media.FrameAudio:
			aac++
		case f.Type == media.FrameVideo && !media.IsVideoSeqHeader(f.Payload):
			video++
			x, err := media.ParseExVideoTag(f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if (x.PacketType == media.ExCodedFrames) != (x.CTS != 0) || (x.PacketType != media.ExCodedFrames && x.PacketType != media.ExCodedFramesX) {
				t.Errorf("packet type %d with composition time %d", x.PacketType, x.CTS)
			}
			if x.CTS != 0 {
				withCTS++
			}
			irap := false
			for p := x.Data; len(p) > 0; {
				n := int(p[0])<<24 | int(p[1])<<16 | int(p[2])<<8 | int(p[3])
				ty := media.HEVCNaluType(p[4 : 4+n])
				if ty >= 32 && ty <= 35 {
					t.Errorf("frame holds a nal of type %d", ty)
				}
				irap = irap || (ty >= 16 && ty <= 23)
				p = p[4+n:]
			}
			if irap != media.IsVideoKeyframe(f.Payload) {
				t.Errorf("keyframe flag %v on a unit with IRAP %v", media.IsVideoKeyframe(f.Payload), irap)
			}
			if irap {
				keys++
			}
		}
	}
	if video != 150 || keys != 3 || aac < 200 || withCTS == 0 {
		t.Errorf("%d pictures, %d keyframes, %d AAC tags, %d with a composition time", video, keys, aac, withCTS)
	}
	annexB, err := AnnexB(frames)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "back.hevc")
	if err := os.WriteFile(path, annexB, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := mediatest.CountFrames(t, path); got.Video != video {
		t.Errorf("ffprobe decodes %d of %d pictures", got.Video, video)
	}
	if b, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path).Output(); err != nil || string(bytes.TrimSpace(b)) != "hevc" {
		t.Errorf("ffprobe: %q %v", b, err)
	}
}

// metaValue reads a number from an onMetaData frame.
func metaValue(f media.Frame, key string) (float64, bool) {
	if f.Type != media.FrameData {
		return 0, false
	}
	_, rest, ok := media.SplitAMF0String(f.Payload)
	if !ok {
		return 0, false
	}
	v, _, err := media.ReadAMF0(rest)
	if err != nil {
		return 0, false
	}
	m, _ := v.(map[string]any)
	n, ok := m[key].(float64)
	return n, ok
}

// TestAppendObjectWith: the connect command object carries fourCcList as
// an AMF0 strict array of strings (enhanced RTMP v1, table 5).
func TestAppendObjectWith(t *testing.T) {
	b := appendObjectWith(nil, []media.AMF0Prop{{Key: "app", Val: "live"}}, "fourCcList", []string{"hvc1"})
	want := []byte{media.AMF0Object, 0, 3, 'a', 'p', 'p', 2, 0, 4, 'l', 'i', 'v', 'e',
		0, 10, 'f', 'o', 'u', 'r', 'C', 'c', 'L', 'i', 's', 't', 0x0a, 0, 0, 0, 1, 2, 0, 4, 'h', 'v', 'c', '1', 0, 0, 9}
	if !bytes.Equal(b, want) {
		t.Errorf("\n got % x\nwant % x", b, want)
	}
	if n, err := media.AMF0Size(b); err != nil || n != len(b) {
		t.Errorf("AMF0Size %d %v", n, err)
	}
}
