package media

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// amfMeta builds an onMetaData body: an ECMA array of the given pairs
// (numbers, or strings when the value is a string).
func amfMeta(pairs ...any) []byte {
	var b bytes.Buffer
	str := func(s string) {
		b.Write(binary.BigEndian.AppendUint16(nil, uint16(len(s))))
		b.WriteString(s)
	}
	b.WriteByte(AMF0String)
	str("onMetaData")
	b.WriteByte(AMF0ECMAArray)
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(pairs)/2)))
	for i := 0; i+1 < len(pairs); i += 2 {
		str(pairs[i].(string))
		switch v := pairs[i+1].(type) {
		case float64:
			b.WriteByte(AMF0Number)
			b.Write(binary.BigEndian.AppendUint64(nil, math.Float64bits(v)))
		case string:
			b.WriteByte(AMF0String)
			str(v)
		case bool:
			b.WriteByte(AMF0Boolean)
			if v {
				b.WriteByte(1)
			} else {
				b.WriteByte(0)
			}
		}
	}
	b.Write([]byte{0, 0, AMF0ObjectEnd})
	return b.Bytes()
}

func TestParseMetadataTracks(t *testing.T) {
	for name, tc := range map[string]struct {
		body []byte
		want Tracks
		ok   bool
	}{
		"ffmpeg": {amfMeta("duration", 0.0, "width", 1280.0, "height", 720.0, "videocodecid", 7.0,
			"audiodatarate", 125.0, "audiosamplerate", 48000.0, "stereo", true, "audiocodecid", 10.0, "encoder", "Lavf59.27.100"), Tracks{true, true}, true},
		"video only":    {amfMeta("width", 320.0, "height", 240.0, "videocodecid", 7.0, "encoder", "x"), Tracks{Video: true}, true},
		"audio only":    {amfMeta("audiocodecid", 10.0, "audiosamplerate", 44100.0), Tracks{Audio: true}, true},
		"codec id zero": {amfMeta("videocodecid", 0.0, "audiocodecid", 10.0), Tracks{Audio: true}, true},
		"nothing":       {amfMeta("duration", 5.0), Tracks{}, true},
		"not metadata":  {[]byte{AMF0String, 0, 3, 'f', 'o', 'o', AMF0Null}, Tracks{}, false},
		"empty":         {nil, Tracks{}, false},
	} {
		got, ok := ParseMetadataTracks(tc.body)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %+v %v, want %+v %v", name, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseMetadataTracks(f *testing.F) {
	f.Add(amfMeta("width", 1280.0, "videocodecid", 7.0, "audiocodecid", 10.0, "encoder", "Lavf"))
	f.Add(amfMeta("stereo", true))
	f.Add([]byte{AMF0String, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', AMF0Object, 0, 1, 'x', AMF0StrictArray, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseMetadataTracks(b) // must not panic or loop on anything
	})
}
