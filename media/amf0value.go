package media

import (
	"encoding/binary"
	"math"
)

// The AMF0 values rewind writes and reads itself (the proxy's answers and
// routing fields, the benchmark's RTMP player), as Go values: string,
// float64, bool, nil (null), and objects. Everything else passes through
// undecoded.

// AMF0Prop is one member of an AMF0 object, in wire order.
type AMF0Prop struct {
	Key string
	Val any // string, float64, bool, []AMF0Prop or nil (null)
}

// AppendAMF0 appends v: a string (cut at 65535 bytes), float64, bool,
// []AMF0Prop (an object) or anything else as null.
func AppendAMF0(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		if len(v) > math.MaxUint16 {
			v = v[:math.MaxUint16]
		}
		b = append(b, AMF0String, byte(len(v)>>8), byte(len(v)))
		return append(b, v...)
	case float64:
		b = append(b, AMF0Number)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	case bool:
		if v {
			return append(b, AMF0Boolean, 1)
		}
		return append(b, AMF0Boolean, 0)
	case []AMF0Prop:
		b = append(b, AMF0Object)
		for _, p := range v {
			k := p.Key
			if len(k) > math.MaxUint16 {
				k = k[:math.MaxUint16]
			}
			b = append(b, byte(len(k)>>8), byte(len(k)))
			b = append(b, k...)
			b = AppendAMF0(b, p.Val)
		}
		return append(b, 0, 0, AMF0ObjectEnd)
	default:
		return append(b, AMF0Null)
	}
}

// AMF0Command encodes an RTMP command: name, transaction id, then vals.
func AMF0Command(name string, tx float64, vals ...any) []byte {
	b := AppendAMF0(nil, name)
	b = AppendAMF0(b, tx)
	for _, v := range vals {
		b = AppendAMF0(b, v)
	}
	return b
}

// ReadAMF0 reads the AMF0 value at the front of b as a Go value (string,
// float64, bool, nil; objects and ECMA arrays as a map of their scalar
// members, nested objects skipped) and returns the rest. Values of other
// kinds are skipped (v is nil). The value is bounded by AMF0Size first.
func ReadAMF0(b []byte) (v any, rest []byte, err error) {
	n, err := AMF0Size(b)
	if err != nil {
		return nil, nil, err
	}
	val, rest := b[:n], b[n:]
	switch val[0] {
	case AMF0Number:
		return math.Float64frombits(binary.BigEndian.Uint64(val[1:])), rest, nil
	case AMF0Boolean:
		return val[1] != 0, rest, nil
	case AMF0String:
		return string(val[3:]), rest, nil
	case AMF0LongString:
		return string(val[5:]), rest, nil
	case AMF0Object:
		m, err := amf0Members(val[1:])
		return m, rest, err
	case AMF0ECMAArray:
		m, err := amf0Members(val[5:])
		return m, rest, err
	}
	return nil, rest, nil
}

// amf0Members reads the members of an object AMF0Size has already checked,
// keeping the scalar ones; the first of a repeated key wins.
func amf0Members(b []byte) (map[string]any, error) {
	m := map[string]any{}
	for {
		if len(b) < 2 {
			return nil, ErrAMF0
		}
		k := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if k == 0 {
			return m, nil // the end marker AMF0Size checked
		}
		if k > len(b) {
			return nil, ErrAMF0
		}
		key := string(b[:k])
		b = b[k:]
		if len(b) > 0 && (b[0] == AMF0Object || b[0] == AMF0ECMAArray) {
			n, err := AMF0Size(b)
			if err != nil {
				return nil, err
			}
			b = b[n:]
			continue
		}
		v, rest, err := ReadAMF0(b)
		if err != nil {
			return nil, err
		}
		if _, dup := m[key]; !dup {
			m[key] = v
		}
		b = rest
	}
}
