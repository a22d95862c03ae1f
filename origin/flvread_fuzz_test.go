package origin

import (
	"errors"
	"io"
	"testing"

	"github.com/rewind-vod/rewind/media"
)

// FuzzReadFLV feeds the upstream FLV reader anything: it must never panic
// or hand out more than it read, every frame it returns is of a kind
// Players handles, and what it returns survives a round trip through the
// writer ServeFLV uses.
func FuzzReadFLV(f *testing.F) {
	f.Add(flvBytes(true, synthStart...))
	f.Add(flvBytes(false, media.Frame{Type: media.FrameAudio, Timestamp: 0x7f000001, Payload: synthAACData}))
	f.Add([]byte("FLV"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxTag = 1 << 16
		video, frames, err := readAll(data, maxTag)
		if err == nil {
			t.Fatal("reading ended without an error")
		}
		total := 0
		for _, fr := range frames {
			total += len(fr.Payload)
			if len(fr.Payload) > maxTag {
				t.Fatalf("a %d-byte frame, bound %d", len(fr.Payload), maxTag)
			}
			switch fr.Type {
			case media.FrameAudio, media.FrameVideo:
			case media.FrameData:
				if name, _, ok := media.SplitAMF0String(fr.Payload); !ok || name != "onMetaData" {
					t.Fatalf("script frame %q is not onMetaData", fr.Payload)
				}
			default:
				t.Fatalf("frame of type %d", fr.Type)
			}
		}
		if total > len(data) {
			t.Fatalf("%d payload bytes from %d input bytes", total, len(data))
		}
		video2, again, err := readAll(flvBytes(video, frames...), maxTag)
		if !errors.Is(err, io.EOF) || video2 != video || !sameFrames(frames, again) {
			t.Fatalf("round trip: %v, %d of %d frames", err, len(again), len(frames))
		}
	})
}
