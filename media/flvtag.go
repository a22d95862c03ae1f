// Package media parses what RTMP carries: FLV audio and video tag bodies,
// the H.264 decoder configuration and SPS, and the AAC AudioSpecificConfig.
// The origin reads stream facts from it; the recorder also muxes with it.
package media

import (
	"errors"
	"fmt"
)

// FLV tag body headers (Adobe FLV spec 10.1, E.4.2 and E.4.3).
const (
	CodecAVC = 7
	SoundAAC = 10

	AVCSeqHeader = 0
	AVCNALU      = 1
	AVCEndOfSeq  = 2

	AACSeqHeader = 0
	AACRaw       = 1
)

// VideoTag is an FLV video tag body: H.264, or H.265 from an enhanced RTMP
// ExVideoTagHeader (Codec CodecHEVC). For HEVC the packet type is mapped
// onto the AVC ones: SequenceStart is AVCSeqHeader, CodedFrames and
// CodedFramesX are AVCNALU, SequenceEnd is AVCEndOfSeq, and Metadata is
// ExMetadata (not a picture).
type VideoTag struct {
	Keyframe   bool
	Codec      int
	PacketType int
	CTS        int32 // composition time offset, ms
	Data       []byte
}

// ParseVideoTag splits an FLV video tag body; only H.264 and (enhanced
// RTMP) H.265 are accepted.
func ParseVideoTag(p []byte) (VideoTag, error) {
	var t VideoTag
	if len(p) < 1 {
		return t, errors.New("flv video: empty tag")
	}
	if IsExVideo(p) {
		return parseExAsVideoTag(p)
	}
	t.Keyframe = p[0]>>4 == 1
	t.Codec = int(p[0] & 0x0f)
	if t.Codec != CodecAVC {
		return t, fmt.Errorf("flv video: codec id %d is not supported (H.264 only)", t.Codec)
	}
	if len(p) < 5 {
		return t, errors.New("flv video: truncated AVC header")
	}
	t.PacketType = int(p[1])
	// 24-bit signed composition time.
	cts := int32(p[2])<<16 | int32(p[3])<<8 | int32(p[4])
	if cts&0x800000 != 0 {
		cts -= 1 << 24
	}
	t.CTS = cts
	t.Data = p[5:]
	return t, nil
}

// AudioTag is an AAC FLV audio tag body.
type AudioTag struct {
	Format     int
	PacketType int
	Data       []byte
}

// ParseAudioTag splits an FLV audio tag body; only AAC is accepted.
func ParseAudioTag(p []byte) (AudioTag, error) {
	var t AudioTag
	if len(p) < 1 {
		return t, errors.New("flv audio: empty tag")
	}
	t.Format = int(p[0] >> 4)
	if t.Format != SoundAAC {
		return t, fmt.Errorf("flv audio: sound format %d is not supported (AAC only)", t.Format)
	}
	if len(p) < 2 {
		return t, errors.New("flv audio: truncated AAC header")
	}
	t.PacketType = int(p[1])
	t.Data = p[2:]
	return t, nil
}

func parseExAsVideoTag(p []byte) (VideoTag, error) {
	var t VideoTag
	x, err := ParseExVideoTag(p)
	if err != nil {
		return t, err
	}
	t.Codec, t.CTS, t.Data = CodecHEVC, x.CTS, x.Data
	switch x.PacketType {
	case ExSequenceStart:
		t.PacketType = AVCSeqHeader
	case ExCodedFrames, ExCodedFramesX:
		t.PacketType = AVCNALU
		t.Keyframe = x.FrameType == 1
	case ExSequenceEnd:
		t.PacketType = AVCEndOfSeq
	default:
		t.PacketType = x.PacketType
	}
	return t, nil
}

// IsVideoKeyframe reports whether an FLV video tag body is a keyframe that
// a decoder can start on (a sequence header is not one), legacy or
// enhanced RTMP.
func IsVideoKeyframe(p []byte) bool {
	if IsExVideo(p) {
		pt := p[0] & 0x0f
		return len(p) >= 5 && (p[0]>>4)&0x07 == 1 && (pt == ExCodedFrames || pt == ExCodedFramesX)
	}
	if len(p) < 2 || p[0]>>4 != 1 {
		return false
	}
	return p[0]&0x0f != CodecAVC || p[1] == AVCNALU
}

// IsVideoSeqHeader reports whether an FLV video tag body is a video
// sequence header: the AVC one, or an enhanced RTMP SequenceStart.
func IsVideoSeqHeader(p []byte) bool {
	return IsAVCSeqHeader(p) || (len(p) >= 5 && IsExVideo(p) && p[0]&0x0f == ExSequenceStart)
}

// IsAVCSeqHeader reports whether an FLV video tag body is an H.264
// sequence header (AVCDecoderConfigurationRecord).
func IsAVCSeqHeader(p []byte) bool {
	return len(p) >= 2 && p[0]&0x80 == 0 && p[0]&0x0f == CodecAVC && p[1] == AVCSeqHeader
}

// IsAACSeqHeader reports whether an FLV audio tag body is an AAC sequence
// header (AudioSpecificConfig).
func IsAACSeqHeader(p []byte) bool {
	return len(p) >= 2 && p[0]>>4 == SoundAAC && p[1] == AACSeqHeader
}
