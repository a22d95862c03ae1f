package media

import (
	"encoding/binary"
	"math"
)

// Tracks is what a stream's onMetaData declares.
type Tracks struct {
	Video, Audio bool
}

// ParseMetadataTracks reads which tracks an FLV script tag body ("onMetaData"
// and its object or ECMA array, as @setDataFrame carries it) declares: a
// videocodecid, width or height means video, an audiocodecid, audiosamplerate
// or stereo means audio (a codec id of 0 declares nothing). ok is false when
// the body is not onMetaData.
func ParseMetadataTracks(b []byte) (t Tracks, ok bool) {
	name, rest, ok := SplitAMF0String(b)
	if !ok || name != "onMetaData" || len(rest) == 0 {
		return Tracks{}, false
	}
	var n int
	switch rest[0] {
	case AMF0ECMAArray:
		if len(rest) < 5 {
			return Tracks{}, false
		}
		n = 5 // the count is a hint only; the end marker ends it
	case AMF0Object:
		n = 1
	default:
		return Tracks{}, false
	}
	rest = rest[n:]
	for len(rest) >= 3 {
		kl := int(binary.BigEndian.Uint16(rest))
		if kl == 0 && rest[2] == AMF0ObjectEnd {
			break
		}
		if len(rest) < 2+kl+1 {
			return t, true
		}
		key := string(rest[2 : 2+kl])
		rest = rest[2+kl:]
		val := rest
		size, err := AMF0Size(rest)
		if err != nil {
			return t, true
		}
		rest = rest[size:]
		declared := true
		if val[0] == AMF0Number {
			declared = math.Float64frombits(binary.BigEndian.Uint64(val[1:9])) != 0
		} else if val[0] == AMF0Null || val[0] == AMF0Undefined {
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
