package media

import (
	"encoding/binary"
	"math"
)

// Tracks is what a stream's onMetaData declares.
type Tracks struct {
	Video, Audio bool
}

// AMF0 markers read here.
const (
	amfNumber      = 0x00
	amfBoolean     = 0x01
	amfString      = 0x02
	amfObject      = 0x03
	amfNull        = 0x05
	amfUndefined   = 0x06
	amfECMAArray   = 0x08
	amfObjectEnd   = 0x09
	amfStrictArray = 0x0a
	amfDate        = 0x0b
	amfLongString  = 0x0c
)

// maxAMFDepth bounds nesting, so that hostile metadata cannot recurse deep.
const maxAMFDepth = 8

// ParseMetadataTracks reads which tracks an FLV script tag body ("onMetaData"
// and its object or ECMA array, as @setDataFrame carries it) declares: a
// videocodecid, width or height means video, an audiocodecid, audiosamplerate
// or stereo means audio (a codec id of 0 declares nothing). ok is false when
// the body is not onMetaData.
func ParseMetadataTracks(b []byte) (t Tracks, ok bool) {
	name, rest, ok := amfString0(b)
	if !ok || name != "onMetaData" || len(rest) == 0 {
		return Tracks{}, false
	}
	var n int
	switch rest[0] {
	case amfECMAArray:
		if len(rest) < 5 {
			return Tracks{}, false
		}
		n = 5 // the count is a hint only; the end marker ends it
	case amfObject:
		n = 1
	default:
		return Tracks{}, false
	}
	rest = rest[n:]
	for len(rest) >= 3 {
		kl := int(binary.BigEndian.Uint16(rest))
		if kl == 0 && rest[2] == amfObjectEnd {
			break
		}
		if len(rest) < 2+kl+1 {
			return t, true
		}
		key := string(rest[2 : 2+kl])
		rest = rest[2+kl:]
		val := rest
		size, ok := amfValueSize(rest, 0)
		if !ok {
			return t, true
		}
		rest = rest[size:]
		declared := true
		if val[0] == amfNumber {
			declared = math.Float64frombits(binary.BigEndian.Uint64(val[1:9])) != 0
		} else if val[0] == amfNull || val[0] == amfUndefined {
			declared = false
		}
		switch key {
		case "videocodecid", "width", "height":
			t.Video = t.Video || declared
		case "audiocodecid", "audiosamplerate", "stereo":
			t.Audio = t.Audio || declared
		}
	}
	return t, true
}

// amfString0 reads an AMF0 string value (marker, 16-bit length, bytes).
func amfString0(b []byte) (string, []byte, bool) {
	if len(b) < 3 || b[0] != amfString {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b[1:]))
	if len(b) < 3+n {
		return "", nil, false
	}
	return string(b[3 : 3+n]), b[3+n:], true
}

// amfValueSize is the encoded size of the AMF0 value at the start of b.
func amfValueSize(b []byte, depth int) (int, bool) {
	if len(b) == 0 || depth > maxAMFDepth {
		return 0, false
	}
	need := func(n int) (int, bool) { return n, len(b) >= n }
	switch b[0] {
	case amfNumber:
		return need(9)
	case amfBoolean:
		return need(2)
	case amfString:
		if len(b) < 3 {
			return 0, false
		}
		return need(3 + int(binary.BigEndian.Uint16(b[1:])))
	case amfLongString:
		if len(b) < 5 {
			return 0, false
		}
		n := binary.BigEndian.Uint32(b[1:])
		if uint64(n) > uint64(len(b)) {
			return 0, false
		}
		return need(5 + int(n))
	case amfNull, amfUndefined:
		return 1, true
	case amfDate:
		return need(11)
	case amfObject, amfECMAArray:
		off := 1
		if b[0] == amfECMAArray {
			off = 5
		}
		for {
			if len(b) < off+3 {
				return 0, false
			}
			kl := int(binary.BigEndian.Uint16(b[off:]))
			if kl == 0 && b[off+2] == amfObjectEnd {
				return off + 3, true
			}
			off += 2 + kl
			n, ok := amfValueSize(b[min(off, len(b)):], depth+1)
			if !ok || off > len(b) {
				return 0, false
			}
			off += n
		}
	case amfStrictArray:
		if len(b) < 5 {
			return 0, false
		}
		count := binary.BigEndian.Uint32(b[1:])
		off := 5
		for i := uint32(0); i < count; i++ {
			n, ok := amfValueSize(b[min(off, len(b)):], depth+1)
			if !ok {
				return 0, false
			}
			off += n
		}
		return off, true
	}
	return 0, false
}
