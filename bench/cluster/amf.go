package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/rewind-vod/rewind/media"
)

// The few AMF0 values the RTMP player writes (connect, createStream and
// play commands) and reads (their answers and onStatus).

// prop is one key/value pair of an AMF0 object, in wire order.
type prop struct {
	key string
	val any // string, float64, bool or nil (null)
}

func appendAMF(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		b = append(b, media.AMF0String, byte(len(v)>>8), byte(len(v)))
		return append(b, v...)
	case float64:
		b = append(b, media.AMF0Number)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	case bool:
		if v {
			return append(b, media.AMF0Boolean, 1)
		}
		return append(b, media.AMF0Boolean, 0)
	case []prop:
		b = append(b, media.AMF0Object)
		for _, p := range v {
			b = append(b, byte(len(p.key)>>8), byte(len(p.key)))
			b = append(b, p.key...)
			b = appendAMF(b, p.val)
		}
		return append(b, 0, 0, media.AMF0ObjectEnd)
	default:
		return append(b, media.AMF0Null)
	}
}

// decodeAMF decodes a sequence of AMF0 values: numbers, booleans, strings,
// null, and objects and ECMA arrays as map[string]any; other types are
// skipped as nil.
func decodeAMF(b []byte) ([]any, error) {
	var out []any
	for len(b) > 0 {
		v, n, err := amfValue(b)
		if err != nil {
			return out, err
		}
		out = append(out, v)
		b = b[n:]
	}
	return out, nil
}

var errAMFShort = errors.New("amf0: truncated value")

func amfValue(b []byte) (any, int, error) {
	if len(b) == 0 {
		return nil, 0, errAMFShort
	}
	switch b[0] {
	case media.AMF0Number:
		if len(b) < 9 {
			return nil, 0, errAMFShort
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b[1:9])), 9, nil
	case media.AMF0Boolean:
		if len(b) < 2 {
			return nil, 0, errAMFShort
		}
		return b[1] != 0, 2, nil
	case media.AMF0String:
		if len(b) < 3 {
			return nil, 0, errAMFShort
		}
		n := int(binary.BigEndian.Uint16(b[1:3]))
		if len(b) < 3+n {
			return nil, 0, errAMFShort
		}
		return string(b[3 : 3+n]), 3 + n, nil
	case media.AMF0Null, media.AMF0Undefined:
		return nil, 1, nil
	case media.AMF0Object:
		m, n, err := amfProps(b[1:])
		return m, 1 + n, err
	case media.AMF0ECMAArray:
		if len(b) < 5 {
			return nil, 0, errAMFShort
		}
		m, n, err := amfProps(b[5:])
		return m, 5 + n, err
	default:
		n, err := media.AMF0Size(b)
		if err != nil {
			return nil, 0, fmt.Errorf("amf0: %w", err)
		}
		return nil, n, nil
	}
}

// amfProps reads object properties up to and including the end marker.
func amfProps(b []byte) (map[string]any, int, error) {
	m := map[string]any{}
	off := 0
	for {
		if len(b) < off+3 {
			return m, off, errAMFShort
		}
		kl := int(binary.BigEndian.Uint16(b[off:]))
		if kl == 0 && b[off+2] == media.AMF0ObjectEnd {
			return m, off + 3, nil
		}
		off += 2
		if len(b) < off+kl {
			return m, off, errAMFShort
		}
		key := string(b[off : off+kl])
		off += kl
		v, n, err := amfValue(b[off:])
		if err != nil {
			return m, off, err
		}
		m[key] = v
		off += n
	}
}
