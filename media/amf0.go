package media

import (
	"encoding/binary"
	"errors"
)

// AMF0 value markers (FLV script data and RTMP commands).
const (
	AMF0Number      = 0x00
	AMF0Boolean     = 0x01
	AMF0String      = 0x02
	AMF0Object      = 0x03
	AMF0Null        = 0x05
	AMF0Undefined   = 0x06
	AMF0Reference   = 0x07
	AMF0ECMAArray   = 0x08
	AMF0ObjectEnd   = 0x09
	AMF0StrictArray = 0x0A
	AMF0Date        = 0x0B
	AMF0LongString  = 0x0C
	AMF0XMLDocument = 0x0F
	AMF0TypedObject = 0x10
)

// ErrAMF0 is a value that is cut short, nested too deep or of an unknown
// marker.
var ErrAMF0 = errors.New("bad AMF0 value")

// AMF0Size returns the encoded length of the AMF0 value at the start of b.
func AMF0Size(b []byte) (int, error) { return amf0Size(b, 0) }

func amf0Size(b []byte, depth int) (int, error) {
	if len(b) == 0 || depth > 16 {
		return 0, ErrAMF0
	}
	need := func(n int) (int, error) {
		if n > len(b) {
			return 0, ErrAMF0
		}
		return n, nil
	}
	switch b[0] {
	case AMF0Number:
		return need(9)
	case AMF0Boolean:
		return need(2)
	case AMF0String:
		if len(b) < 3 {
			return 0, ErrAMF0
		}
		return need(3 + int(binary.BigEndian.Uint16(b[1:])))
	case AMF0LongString, AMF0XMLDocument:
		if len(b) < 5 {
			return 0, ErrAMF0
		}
		return need(5 + int(binary.BigEndian.Uint32(b[1:])))
	case AMF0Null, AMF0Undefined:
		return 1, nil
	case AMF0Reference:
		return need(3)
	case AMF0Date:
		return need(11)
	case AMF0Object:
		n, err := skipProperties(b[1:], depth)
		return 1 + n, err
	case AMF0ECMAArray:
		if len(b) < 5 {
			return 0, ErrAMF0
		}
		n, err := skipProperties(b[5:], depth)
		return 5 + n, err
	case AMF0TypedObject:
		if len(b) < 3 {
			return 0, ErrAMF0
		}
		name := 3 + int(binary.BigEndian.Uint16(b[1:]))
		if name > len(b) {
			return 0, ErrAMF0
		}
		n, err := skipProperties(b[name:], depth)
		return name + n, err
	case AMF0StrictArray:
		if len(b) < 5 {
			return 0, ErrAMF0
		}
		count := binary.BigEndian.Uint32(b[1:])
		off := 5
		for i := uint32(0); i < count; i++ {
			n, err := amf0Size(b[off:], depth+1)
			if err != nil {
				return 0, err
			}
			off += n
		}
		return off, nil
	}
	return 0, ErrAMF0
}

// skipProperties skips key/value pairs up to and including the end marker.
func skipProperties(b []byte, depth int) (int, error) {
	off := 0
	for {
		if off+2 > len(b) {
			return 0, ErrAMF0
		}
		k := int(binary.BigEndian.Uint16(b[off:]))
		off += 2
		if k == 0 {
			if off >= len(b) || b[off] != AMF0ObjectEnd {
				return 0, ErrAMF0
			}
			return off + 1, nil
		}
		off += k
		if off > len(b) {
			return 0, ErrAMF0
		}
		n, err := amf0Size(b[off:], depth+1)
		if err != nil {
			return 0, err
		}
		off += n
	}
}

// SplitAMF0String splits the AMF0 string value (marker, 16-bit length,
// bytes) at the front of b from what follows it: a data message's name, a
// command's name or an argument.
func SplitAMF0String(b []byte) (s string, rest []byte, ok bool) {
	if len(b) < 3 || b[0] != AMF0String {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b[1:]))
	if len(b) < 3+n {
		return "", nil, false
	}
	return string(b[3 : 3+n]), b[3+n:], true
}
