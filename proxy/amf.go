package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/rewind-vod/rewind/media"
)

// The few AMF0 values the proxy writes and reads itself: its answers to
// connect and createStream, its error statuses, and the fields of the
// client commands it routes by. Everything else passes through undecoded.

// prop is one key/value pair of an AMF0 object, in wire order.
type prop struct {
	key string
	val any // string, float64, bool or nil (null)
}

func appendAMFString(b []byte, s string) []byte {
	if len(s) > math.MaxUint16 {
		s = s[:math.MaxUint16]
	}
	b = append(b, media.AMF0String, byte(len(s)>>8), byte(len(s)))
	return append(b, s...)
}

func appendAMFNumber(b []byte, v float64) []byte {
	b = append(b, media.AMF0Number)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

func appendAMFValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendAMFString(b, v)
	case float64:
		return appendAMFNumber(b, v)
	case bool:
		if v {
			return append(b, media.AMF0Boolean, 1)
		}
		return append(b, media.AMF0Boolean, 0)
	case []prop:
		return appendAMFObject(b, v)
	default:
		return append(b, media.AMF0Null)
	}
}

func appendAMFObject(b []byte, props []prop) []byte {
	b = append(b, media.AMF0Object)
	for _, p := range props {
		k := p.key
		if len(k) > math.MaxUint16 {
			k = k[:math.MaxUint16]
		}
		b = append(b, byte(len(k)>>8), byte(len(k)))
		b = append(b, k...)
		b = appendAMFValue(b, p.val)
	}
	return append(b, 0, 0, media.AMF0ObjectEnd)
}

// amfCommand encodes a command: name, transaction id, then the values.
func amfCommand(name string, tx float64, vals ...any) []byte {
	b := appendAMFString(nil, name)
	b = appendAMFNumber(b, tx)
	for _, v := range vals {
		b = appendAMFValue(b, v)
	}
	return b
}

var errAMF = errors.New("bad AMF0 value")

// amfValue reads the AMF0 value at the front of b as a Go value where the
// proxy needs one (string, number, boolean, null; objects and ECMA arrays
// as a key/value map of their scalar members) and returns the rest.
// Values of other kinds are skipped (v is nil).
func amfValue(b []byte) (v any, rest []byte, err error) {
	n, err := media.AMF0Size(b)
	if err != nil {
		return nil, nil, err
	}
	val, rest := b[:n], b[n:]
	switch val[0] {
	case media.AMF0Number:
		return math.Float64frombits(binary.BigEndian.Uint64(val[1:])), rest, nil
	case media.AMF0Boolean:
		return val[1] != 0, rest, nil
	case media.AMF0String:
		return string(val[3:]), rest, nil
	case media.AMF0LongString:
		return string(val[5:]), rest, nil
	case media.AMF0Object:
		m, err := amfProps(val[1:])
		return m, rest, err
	case media.AMF0ECMAArray:
		m, err := amfProps(val[5:])
		return m, rest, err
	}
	return nil, rest, nil
}

// amfProps reads the members of an object that AMF0Size has already
// checked, keeping the scalar ones (nested objects are skipped).
func amfProps(b []byte) (map[string]any, error) {
	m := map[string]any{}
	for {
		if len(b) < 2 {
			return nil, errAMF
		}
		k := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if k == 0 {
			return m, nil // the end marker AMF0Size checked
		}
		if k > len(b) {
			return nil, errAMF
		}
		key := string(b[:k])
		b = b[k:]
		if len(b) > 0 && (b[0] == media.AMF0Object || b[0] == media.AMF0ECMAArray) {
			n, err := media.AMF0Size(b)
			if err != nil {
				return nil, err
			}
			b = b[n:]
			continue
		}
		v, rest, err := amfValue(b)
		if err != nil {
			return nil, err
		}
		if _, dup := m[key]; !dup {
			m[key] = v
		}
		b = rest
	}
}

// amfString is m[key] when it is a string.
func amfString(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
