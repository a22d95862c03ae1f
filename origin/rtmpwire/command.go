package rtmpwire

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
)

// TypeCommandAMF0 is the AMF0 command message type.
const TypeCommandAMF0 = 20

// AMF0 markers we need to know.
const (
	amfNumber      = 0x00
	amfBoolean     = 0x01
	amfString      = 0x02
	amfObject      = 0x03
	amfNull        = 0x05
	amfUndefined   = 0x06
	amfReference   = 0x07
	amfECMAArray   = 0x08
	amfObjectEnd   = 0x09
	amfStrictArray = 0x0A
	amfDate        = 0x0B
	amfLongString  = 0x0C
	amfXMLDocument = 0x0F
	amfTypedObject = 0x10
)

var errAMF = errors.New("bad AMF0 value")

// skipAMF0 returns the length of the AMF0 value at the start of b.
func skipAMF0(b []byte, depth int) (int, error) {
	if len(b) == 0 || depth > 16 {
		return 0, errAMF
	}
	need := func(n int) (int, error) {
		if n > len(b) {
			return 0, errAMF
		}
		return n, nil
	}
	switch b[0] {
	case amfNumber:
		return need(9)
	case amfBoolean:
		return need(2)
	case amfString:
		if len(b) < 3 {
			return 0, errAMF
		}
		return need(3 + int(binary.BigEndian.Uint16(b[1:])))
	case amfLongString, amfXMLDocument:
		if len(b) < 5 {
			return 0, errAMF
		}
		return need(5 + int(binary.BigEndian.Uint32(b[1:])))
	case amfNull, amfUndefined:
		return 1, nil
	case amfReference:
		return need(3)
	case amfDate:
		return need(11)
	case amfObject:
		n, err := skipProperties(b[1:], depth)
		return 1 + n, err
	case amfECMAArray:
		if len(b) < 5 {
			return 0, errAMF
		}
		n, err := skipProperties(b[5:], depth)
		return 5 + n, err
	case amfTypedObject:
		if len(b) < 3 {
			return 0, errAMF
		}
		name := 3 + int(binary.BigEndian.Uint16(b[1:]))
		if name > len(b) {
			return 0, errAMF
		}
		n, err := skipProperties(b[name:], depth)
		return name + n, err
	case amfStrictArray:
		if len(b) < 5 {
			return 0, errAMF
		}
		count := binary.BigEndian.Uint32(b[1:])
		off := 5
		for i := uint32(0); i < count; i++ {
			n, err := skipAMF0(b[off:], depth+1)
			if err != nil {
				return 0, err
			}
			off += n
		}
		return off, nil
	}
	return 0, errAMF
}

// skipProperties skips key/value pairs up to and including the end marker.
func skipProperties(b []byte, depth int) (int, error) {
	off := 0
	for {
		if off+2 > len(b) {
			return 0, errAMF
		}
		k := int(binary.BigEndian.Uint16(b[off:]))
		off += 2
		if k == 0 {
			if off >= len(b) || b[off] != amfObjectEnd {
				return 0, errAMF
			}
			return off + 1, nil
		}
		off += k
		if off > len(b) {
			return 0, errAMF
		}
		n, err := skipAMF0(b[off:], depth+1)
		if err != nil {
			return 0, err
		}
		off += n
	}
}

func amfString0(b []byte) (string, bool) {
	if len(b) < 3 || b[0] != amfString {
		return "", false
	}
	n := int(binary.BigEndian.Uint16(b[1:]))
	if 3+n > len(b) {
		return "", false
	}
	return string(b[3 : 3+n]), true
}

// commands rewrites the end-of-publish commands that real encoders send in
// forms go-rtmp refuses (it drops the connection when a value does not
// decode): deleteStream with the stream name (GStreamer's rtmp2sink) or
// nothing instead of the stream id, and FCUnpublish without a name.
type commands struct {
	// lastStreamID is the message stream of the latest publish or play:
	// the stream a deleteStream without a usable id means.
	lastStreamID uint32
}

// normalize returns the message to hand on, and false to drop it.
func (c *commands) normalize(m Message) (Message, bool) {
	if m.TypeID != TypeCommandAMF0 {
		return m, true
	}
	p := m.Payload
	name, ok := amfString0(p)
	if !ok {
		return m, true
	}
	switch name {
	case "publish", "play":
		if m.StreamID != 0 {
			c.lastStreamID = m.StreamID
		}
		return m, true
	case "deleteStream", "FCUnpublish":
	default:
		return m, true
	}
	// name, transaction id, command object, then the argument.
	var ends []int // end offsets of the leading whole values
	for off := 0; off < len(p) && len(ends) < 4; {
		n, err := skipAMF0(p[off:], 0)
		if err != nil {
			return m, true // not ours to judge: go-rtmp will say
		}
		off += n
		ends = append(ends, off)
	}
	var prefix []byte
	switch len(ends) {
	case 1: // the name alone
		prefix = appendNumber(append([]byte(nil), p...), 0)
		prefix = append(prefix, amfNull)
	case 2: // no command object
		prefix = append(append([]byte(nil), p...), amfNull)
	default:
		prefix = append([]byte(nil), p[:ends[2]]...)
	}
	var arg []byte
	if len(ends) == 4 {
		arg = p[ends[2]:ends[3]]
	}
	switch name {
	case "deleteStream":
		if len(arg) > 0 && arg[0] == amfNumber {
			return m, true
		}
		id := c.lastStreamID
		if s, ok := amfString0(arg); ok {
			if v, err := strconv.ParseUint(s, 10, 32); err == nil {
				id = uint32(v)
			}
		}
		if id == 0 {
			id = m.StreamID
		}
		if id == 0 {
			return m, false // nothing that could be deleted
		}
		m.Payload = appendNumber(prefix, float64(id))
	case "FCUnpublish":
		if _, ok := amfString0(arg); ok {
			return m, true
		}
		m.Payload = append(prefix, amfString, 0, 0)
	}
	return m, true
}

func appendNumber(b []byte, v float64) []byte {
	b = append(b, amfNumber)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}
