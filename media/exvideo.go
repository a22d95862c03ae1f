package media

import (
	"errors"
	"fmt"
)

// Enhanced RTMP (veovera enhanced-rtmp v1/v2) video tags. Byte 0 of the
// ExVideoTagHeader is IsExHeader (bit 7), FrameType (bits 6-4) and
// PacketType (bits 3-0); a FourCC follows, then (for CodedFrames only) an
// SI24 composition time, then the codec's data.
const (
	ExSequenceStart        = 0 // HEVCDecoderConfigurationRecord
	ExCodedFrames          = 1 // SI24 composition time, then length-prefixed NALUs
	ExSequenceEnd          = 2
	ExCodedFramesX         = 3 // NALUs, composition time 0
	ExMetadata             = 4 // AMF "colorInfo"; not a picture
	ExMPEG2TSSequenceStart = 5
	ExMultitrack           = 6
	ExModEx                = 7
)

// FourCCHEVC is the enhanced RTMP FourCC of H.265: the only one accepted.
const FourCCHEVC = "hvc1"

// CodecHEVC is the Codec of a VideoTag that came in an ExVideoTagHeader
// with FourCC hvc1. It is not a 4-bit FLV CodecID: no legacy tag has it.
const CodecHEVC = 0x100

// ExVideoTag is an enhanced RTMP video tag body, header split off.
type ExVideoTag struct {
	FrameType  int // 1 key, 2 inter, ... (meaningless for ExMetadata)
	PacketType int
	FourCC     string
	CTS        int32 // ms; 0 unless ExCodedFrames
	Data       []byte
}

// IsExVideo reports whether an FLV video tag body has an ExVideoTagHeader.
func IsExVideo(p []byte) bool { return len(p) > 0 && p[0]&0x80 != 0 }

// ParseExVideoTag splits an enhanced RTMP video tag body. Only what rewind
// can record is accepted: FourCC hvc1 and the packet types SequenceStart,
// CodedFrames, SequenceEnd, CodedFramesX and Metadata. Anything else (the
// MPEG-2 TS sequence start, multitrack, ModEx, reserved values, other
// FourCCs) is refused with an error that says which: the spec asks a
// parser to fail on signalling it does not understand.
func ParseExVideoTag(p []byte) (ExVideoTag, error) {
	var t ExVideoTag
	if !IsExVideo(p) {
		return t, errors.New("enhanced video: not an ExVideoTagHeader")
	}
	t.FrameType = int(p[0]>>4) & 0x07
	t.PacketType = int(p[0] & 0x0f)
	switch t.PacketType {
	case ExSequenceStart, ExCodedFrames, ExSequenceEnd, ExCodedFramesX, ExMetadata:
	case ExMPEG2TSSequenceStart:
		return t, errors.New("enhanced video: packet type MPEG2TSSequenceStart is not supported")
	case ExMultitrack:
		return t, errors.New("enhanced video: multitrack video is not supported")
	case ExModEx:
		return t, errors.New("enhanced video: packet type ModEx is not supported")
	default:
		return t, fmt.Errorf("enhanced video: reserved packet type %d", t.PacketType)
	}
	if t.PacketType != ExMetadata && (t.FrameType == 0 || t.FrameType > 5) {
		return t, fmt.Errorf("enhanced video: reserved frame type %d", t.FrameType)
	}
	if len(p) < 5 {
		return t, fmt.Errorf("enhanced video: truncated header (%d bytes, the FourCC needs 5)", len(p))
	}
	if string(p[1:5]) != FourCCHEVC { // compared without allocating: every frame passes here
		return t, fmt.Errorf("enhanced video: FourCC %q is not supported (hvc1 only)", printable(p[1:5]))
	}
	t.FourCC = FourCCHEVC
	t.Data = p[5:]
	if t.PacketType == ExCodedFrames {
		if len(t.Data) < 3 {
			return t, errors.New("enhanced video: truncated composition time")
		}
		cts := int32(t.Data[0])<<16 | int32(t.Data[1])<<8 | int32(t.Data[2])
		if cts&0x800000 != 0 {
			cts -= 1 << 24
		}
		t.CTS = cts
		t.Data = t.Data[3:]
	}
	return t, nil
}

// AppendExVideoHeader appends an ExVideoTagHeader for fourCC (with the
// composition time when packetType is ExCodedFrames): what a publisher
// writes before the codec data. fourCC is four bytes, e.g. FourCCHEVC.
func AppendExVideoHeader(dst []byte, key bool, packetType int, fourCC string, cts int32) []byte {
	ft := byte(2)
	if key {
		ft = 1
	}
	dst = append(dst, 0x80|ft<<4|byte(packetType&0x0f))
	dst = append(dst, fourCC[:4]...)
	if packetType == ExCodedFrames {
		dst = append(dst, byte(cts>>16), byte(cts>>8), byte(cts))
	}
	return dst
}

// printable shows a FourCC in a log line without control bytes.
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// CheckVideoTag is the ingest check of a video tag body: legacy AVC tags
// pass as they always did (a malformed one is the recorder's to skip),
// other legacy codec ids are refused, enhanced tags must parse. An error
// means the publisher sends video rewind cannot record at all: its
// connection is better dropped than its run recorded without the video.
func CheckVideoTag(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if !IsExVideo(p) {
		if c := p[0] & 0x0f; c != CodecAVC {
			return fmt.Errorf("flv video: codec id %d is not supported (H.264, or H.265 over enhanced RTMP)", c)
		}
		return nil
	}
	_, err := ParseExVideoTag(p)
	return err
}
