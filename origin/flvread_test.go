package origin

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/rewind-vod/rewind/media"
)

// readAll reads a whole FLV stream: its frames and the error that ended it.
func readAll(b []byte, maxTag int) (video bool, frames []media.Frame, err error) {
	fr := newFLVReader(bytes.NewReader(b), maxTag)
	if err := fr.readHeader(); err != nil {
		return false, nil, err
	}
	for {
		f, err := fr.next()
		if err != nil {
			return fr.Video, frames, err
		}
		frames = append(frames, f)
	}
}

func sameFrames(a, b []media.Frame) bool {
	return slices.EqualFunc(a, b, func(x, y media.Frame) bool {
		return x.Type == y.Type && x.Timestamp == y.Timestamp && bytes.Equal(x.Payload, y.Payload)
	})
}

// What ServeFLV writes reads back as the same frames, timestamps past 24
// bits included.
func TestReadFLVRoundTrip(t *testing.T) {
	in := []media.Frame{
		{Type: media.FrameData, Payload: synthMeta},
		{Type: media.FrameVideo, Payload: synthAVCHdr},
		{Type: media.FrameAudio, Payload: synthAACHdr},
		{Type: media.FrameVideo, Timestamp: 40, Payload: synthKey},
		{Type: media.FrameAudio, Timestamp: 0x01234567, Payload: synthAACData},
		{Type: media.FrameVideo, Timestamp: 0xfffffff0, Payload: synthInter},
		{Type: media.FrameAudio, Timestamp: 7, Payload: []byte{}},
	}
	video, out, err := readAll(flvBytes(true, in...), MaxPullTagSize)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v, want io.EOF", err)
	}
	if !video || !sameFrames(in, out) {
		t.Errorf("read back %v (video %v), want %v", out, video, in)
	}
	if video, _, _ := readAll(flvBytes(false), MaxPullTagSize); video {
		t.Error("audio-only header read as video")
	}
}

// Script tags other than onMetaData are skipped; extra header bytes are
// allowed within a bound.
func TestReadFLVSkips(t *testing.T) {
	cue := append([]byte{media.AMF0String, 0, 10}, "onCuePoint"...)
	b := flvBytes(true, media.Frame{Type: media.FrameData, Payload: cue},
		media.Frame{Type: media.FrameData, Payload: []byte{media.AMF0Number}},
		media.Frame{Type: media.FrameVideo, Payload: synthKey})
	// DataOffset 12: three bytes of header extension.
	b = slices.Concat(b[:5], []byte{0, 0, 0, 12, 'x', 'y', 'z'}, b[9:])
	_, out, err := readAll(b, MaxPullTagSize)
	if !errors.Is(err, io.EOF) || len(out) != 1 || out[0].Type != media.FrameVideo {
		t.Errorf("got %v, %v; want the video frame alone", out, err)
	}
}

// Every malformed field ends the stream with a clear error.
func TestReadFLVBad(t *testing.T) {
	good := flvBytes(true, synthStart...)
	tag := func(mod func(b []byte)) []byte {
		b := slices.Clone(good)
		mod(b[13:]) // the first tag
		return b
	}
	const maxTag = 64
	cases := map[string]struct {
		in   []byte
		want string
		bad  bool // errBadFLV (else a read error)
	}{
		"signature":     {[]byte("GIF89a\x00\x00\x00\x00\x00\x00\x00"), "no FLV signature", true},
		"version":       {[]byte{'F', 'L', 'V', 2, 5, 0, 0, 0, 9, 0, 0, 0, 0}, "version 2", true},
		"short offset":  {[]byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 8, 0, 0, 0, 0}, "header size 8", true},
		"huge offset":   {[]byte{'F', 'L', 'V', 1, 5, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, "header size", true},
		"prev0":         {[]byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 1}, "PreviousTagSize0", true},
		"short header":  {[]byte("FLV"), "unexpected EOF", false},
		"tag type":      {tag(func(b []byte) { b[0] = 7 }), "tag type 7", true},
		"encrypted":     {tag(func(b []byte) { b[0] |= 0x20 }), "encrypted", true},
		"reserved bits": {tag(func(b []byte) { b[0] |= 0x80 }), "tag type", true},
		"stream id":     {tag(func(b []byte) { b[10] = 1 }), "stream id 1", true},
		"oversize":      {tag(func(b []byte) { b[1], b[2], b[3] = 0, 0, maxTag+1 }), "at most 64", true},
		"back pointer":  {tag(func(b []byte) { b[11+len(synthMeta)+3]++ }), "PreviousTagSize", true},
		"cut in a tag":  {good[:len(good)-3], "unexpected EOF", false},
		"cut in header": {good[:13+5], "unexpected EOF", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := readAll(c.in, maxTag)
			if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one with %q", err, c.want)
			}
			if errors.Is(err, errBadFLV) != c.bad {
				t.Errorf("err %v: malformed=%v, want %v", err, !c.bad, c.bad)
			}
		})
	}
	// A tag of exactly the bound is fine.
	exactBody := make([]byte, maxTag)
	exactBody[0] = 0x27 // an AVC inter frame: other codec ids are refused
	exact := flvBytes(true, media.Frame{Type: media.FrameVideo, Payload: exactBody})
	if _, out, err := readAll(exact, maxTag); !errors.Is(err, io.EOF) || len(out) != 1 {
		t.Errorf("tag of the maximum size: %v %v", out, err)
	}
}
