package origin

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rewind-vod/rewind/media"
)

// TestReadFLVEnhanced: enhanced RTMP HEVC tags come out of a pulled FLV
// as they went in; an unknown FourCC, a truncated ExVideoTagHeader or
// another legacy codec id end the pull as a malformed stream.
func TestReadFLVEnhanced(t *testing.T) {
	seq := append(media.AppendExVideoHeader(nil, true, media.ExSequenceStart, media.FourCCHEVC, 0), 1, 2, 3)
	key := append(media.AppendExVideoHeader(nil, true, media.ExCodedFrames, media.FourCCHEVC, 80), 0, 0, 0, 1, 0x28)
	in := []media.Frame{
		{Type: media.FrameVideo, Payload: seq},
		{Type: media.FrameVideo, Timestamp: 40, Payload: key},
	}
	_, out, err := readAll(flvBytes(true, in...), 1<<16)
	if !errors.Is(err, io.EOF) || !sameFrames(in, out) {
		t.Fatalf("%v: %d frames", err, len(out))
	}
	for name, c := range map[string]struct {
		p    []byte
		want string
	}{
		"unknown fourcc": {[]byte{0x90, 'a', 'v', '0', '1', 0}, `FourCC "av01"`},
		"truncated":      {[]byte{0x91, 'h', 'v'}, "truncated header"},
		"sorenson":       {[]byte{0x22, 0, 0}, "codec id 2"},
	} {
		_, out, err := readAll(flvBytes(true, media.Frame{Type: media.FrameVideo, Payload: seq}, media.Frame{Type: media.FrameVideo, Payload: c.p}), 1<<16)
		if !errors.Is(err, errBadFLV) || !strings.Contains(err.Error(), c.want) || len(out) != 1 {
			t.Errorf("%s: %v (%d frames before it)", name, err, len(out))
		}
	}
}
