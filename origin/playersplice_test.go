package origin

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rewind-vod/rewind/media"
)

// spliceRun feeds frames of run gen through s and returns what went out.
func spliceRun(t *testing.T, s *splicer, gen uint64, frames ...media.Frame) []media.Frame {
	t.Helper()
	var out []media.Frame
	for _, f := range frames {
		if err := s.next(taggedFrame{Frame: f, gen: gen}, func(f media.Frame, _ *frameEnc) error {
			out = append(out, f)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func vid(ts uint32, p []byte) media.Frame {
	return media.Frame{Type: media.FrameVideo, Timestamp: ts, Payload: p}
}
func aud(ts uint32, p []byte) media.Frame {
	return media.Frame{Type: media.FrameAudio, Timestamp: ts, Payload: p}
}
func meta(ts uint32, p []byte) media.Frame {
	return media.Frame{Type: media.FrameData, Timestamp: ts, Payload: p}
}

// frameSig is a frame's type, time and payload, for comparing lists.
type frameSig struct {
	typ     media.FrameType
	ts      uint32
	payload string
}

func sigs(fs []media.Frame) []frameSig {
	out := make([]frameSig, len(fs))
	for i, f := range fs {
		out[i] = frameSig{f.Type, f.Timestamp, string(f.Payload)}
	}
	return out
}

func checkFrames(t *testing.T, what string, got []media.Frame, want ...media.Frame) {
	t.Helper()
	g, w := sigs(got), sigs(want)
	if len(g) != len(w) {
		t.Fatalf("%s: %d frames out, want %d:\n got %v\nwant %v", what, len(g), len(w), g, w)
	}
	for i := range g {
		if g[i] != w[i] {
			t.Errorf("%s: frame %d = %v, want %v", what, i, g[i], w[i])
		}
	}
}

func TestSplicerRuns(t *testing.T) {
	avc2 := bytes.Clone(synthAVCHdr)
	avc2[len(avc2)-1] = 0x99 // another configuration
	meta2 := append(bytes.Clone(synthMeta[:len(synthMeta)-3]), 0, 0, media.AMF0ObjectEnd, 0)
	var s splicer

	// The first run goes out as it comes, from its first keyframe on.
	out := spliceRun(t, &s, 1,
		meta(0, synthMeta), vid(0, synthAVCHdr), aud(0, synthAACHdr),
		aud(980, synthAACData), vid(990, synthInter), // before the start point: not decodable
		vid(1000, synthKey), aud(1010, synthAACData), vid(1040, synthInter), vid(1080, synthInter))
	checkFrames(t, "first run", out,
		meta(0, synthMeta), vid(1000, synthAVCHdr), aud(1000, synthAACHdr),
		vid(1000, synthKey), aud(1010, synthAACData), vid(1040, synthInter), vid(1080, synthInter))

	// A second run from its own zero, with a new video configuration and
	// metadata but the same audio one: one frame interval (40 ms) after
	// the last tag, the new headers only, then its keyframe. Metadata is
	// not on the timeline: it is always at 0.
	out = spliceRun(t, &s, 2,
		meta(0, meta2), vid(0, avc2), aud(0, synthAACHdr),
		aud(0, synthAACData), // before the keyframe of a run with video
		vid(0, synthKey), aud(5, synthAACData), vid(40, synthInter),
		aud(30, synthAACData), // a little behind: held at the last time
		vid(80, synthInter))
	checkFrames(t, "second run", out,
		meta(0, meta2), vid(1120, avc2),
		vid(1120, synthKey), aud(1125, synthAACData), vid(1160, synthInter),
		aud(1160, synthAACData),
		vid(1200, synthInter))

	// Within a run a jump ahead is the source's own; its clock going
	// back by more than maxBackstep is a reset: the timeline goes on.
	out = spliceRun(t, &s, 2, vid(3000, synthInter), vid(10, synthInter), vid(50, synthKey))
	checkFrames(t, "clock reset", out, vid(4120, synthInter), vid(4160, synthInter), vid(4200, synthKey))

	// A run with the same configuration, whose timestamps are far ahead:
	// no header again, and no jump.
	out = spliceRun(t, &s, 3,
		meta(0, meta2), vid(90000, avc2), aud(90000, synthAACHdr), vid(90000, synthKey), vid(90040, synthInter))
	checkFrames(t, "same configuration", out, vid(4240, synthKey), vid(4280, synthInter))

	// An audio-only run starts on its first audio frame.
	out = spliceRun(t, &s, 4, aud(0, synthAACHdr), aud(0, synthAACData), aud(23, synthAACData))
	checkFrames(t, "audio only", out, aud(4320, synthAACData), aud(4343, synthAACData))
}

// Timestamps near the 32-bit wrap go on across it, and an error from the
// connection stops the splicer there.
func TestSplicerWrapAndError(t *testing.T) {
	var s splicer
	out := spliceRun(t, &s, 1, vid(0, synthAVCHdr), vid(0xffffffd0, synthKey), vid(0xfffffff0, synthInter), vid(0x10, synthInter))
	checkFrames(t, "wrap", out, vid(0xffffffd0, synthAVCHdr), vid(0xffffffd0, synthKey), vid(0xfffffff0, synthInter), vid(0x10, synthInter))
	out = spliceRun(t, &s, 2, vid(0, synthAVCHdr), vid(0, synthKey))
	checkFrames(t, "after the wrap", out, vid(0x30, synthKey))

	boom := errors.New("boom")
	err := s.next(taggedFrame{Frame: vid(40, synthInter), gen: 2}, func(media.Frame, *frameEnc) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("send error: %v", err)
	}
}

// picture is an H.264 picture tag body with a composition time offset.
func picture(key bool, cts int32) []byte {
	b := bytes.Clone(synthInter)
	if key {
		b = bytes.Clone(synthKey)
	}
	b[2], b[3], b[4] = byte(cts>>16), byte(cts>>8), byte(cts)
	return b
}

// A run that ends on a picture shown after later-decoded ones (B-frames
// that never came): the next run's first picture shows one frame after
// it, not before, though it decodes one frame after the last tag.
func TestSplicerPresentationTime(t *testing.T) {
	var s splicer
	p160 := picture(false, 160)
	spliceRun(t, &s, 1, vid(0, synthAVCHdr), vid(920, picture(true, 80)), vid(960, picture(false, 40)), vid(1000, p160))
	k80 := picture(true, 80)
	out := spliceRun(t, &s, 2, vid(0, synthAVCHdr), vid(500, k80), vid(540, picture(false, 0)))
	// maxPTS 1160, step 40: the keyframe shows at 1200, so decodes at
	// 1120 (not 1040, one frame after the last tag, which would show it
	// at 1120, before the last picture).
	checkFrames(t, "after a B-frame tail", out, vid(1120, k80), vid(1160, picture(false, 0)))
}

// Enhanced RTMP video (here HEVC, fourcc hvc1), which the GOP cache does
// not know: a run still starts, on its first tag marked key.
func TestSplicerEnhancedVideo(t *testing.T) {
	seqStart := []byte{0x90, 'h', 'v', 'c', '1', 1, 2, 3} // key, SequenceStart
	coded := []byte{0xa1, 'h', 'v', 'c', '1', 0, 0, 0, 9} // inter, CodedFrames
	key := []byte{0x91, 'h', 'v', 'c', '1', 0, 0, 0, 9}   // key, CodedFrames
	var s splicer
	out := spliceRun(t, &s, 1, vid(0, coded), vid(40, seqStart), vid(40, key), vid(80, coded))
	checkFrames(t, "enhanced", out, vid(40, seqStart), vid(40, key), vid(80, coded))
}
