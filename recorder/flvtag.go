package recorder

import (
	"errors"
	"fmt"
)

// FLV tag body headers (Adobe FLV spec 10.1, E.4.2 and E.4.3).
const (
	flvCodecAVC = 7
	flvSoundAAC = 10

	flvAVCSeqHeader = 0
	flvAVCNALU      = 1
	flvAVCEndOfSeq  = 2

	flvAACSeqHeader = 0
	flvAACRaw       = 1
)

type videoTag struct {
	keyframe   bool
	codec      int
	packetType int
	cts        int32 // composition time offset, ms
	data       []byte
}

func parseVideoTag(p []byte) (videoTag, error) {
	var t videoTag
	if len(p) < 1 {
		return t, errors.New("flv video: empty tag")
	}
	t.keyframe = p[0]>>4 == 1
	t.codec = int(p[0] & 0x0f)
	if p[0]&0x80 != 0 {
		// Enhanced RTMP (HEVC, AV1, ...) sets the top bit: not H.264.
		return t, fmt.Errorf("flv video: enhanced RTMP codecs are not supported")
	}
	if t.codec != flvCodecAVC {
		return t, fmt.Errorf("flv video: codec id %d is not supported (H.264 only)", t.codec)
	}
	if len(p) < 5 {
		return t, errors.New("flv video: truncated AVC header")
	}
	t.packetType = int(p[1])
	// 24-bit signed composition time.
	cts := int32(p[2])<<16 | int32(p[3])<<8 | int32(p[4])
	if cts&0x800000 != 0 {
		cts -= 1 << 24
	}
	t.cts = cts
	t.data = p[5:]
	return t, nil
}

type audioTag struct {
	format     int
	packetType int
	data       []byte
}

func parseAudioTag(p []byte) (audioTag, error) {
	var t audioTag
	if len(p) < 1 {
		return t, errors.New("flv audio: empty tag")
	}
	t.format = int(p[0] >> 4)
	if t.format != flvSoundAAC {
		return t, fmt.Errorf("flv audio: sound format %d is not supported (AAC only)", t.format)
	}
	if len(p) < 2 {
		return t, errors.New("flv audio: truncated AAC header")
	}
	t.packetType = int(p[1])
	t.data = p[2:]
	return t, nil
}
