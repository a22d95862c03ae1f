package rtmpwire

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/rewind-vod/rewind/media"
)

// TypeCommandAMF0 and TypeDataAMF0 are the AMF0 command and data message
// types.
const (
	TypeCommandAMF0 = 20
	TypeDataAMF0    = 18
)

// setDataFrame is "@setDataFrame" as an AMF0 string.
var setDataFrame = append([]byte{media.AMF0String, 0, 13}, "@setDataFrame"...)

// metadataFrame turns metadata sent as a plain "onMetaData" data message
// (as relays such as nginx-rtmp's push send it, the way a server sends it
// to a player) into the "@setDataFrame" form an encoder uses, which is the
// only one go-rtmp hands on: the sinks then get the stream's metadata
// either way.
func metadataFrame(m Message) Message {
	if name, _, ok := media.SplitAMF0String(m.Payload); !ok || name != "onMetaData" {
		return m
	}
	m.Payload = append(append([]byte(nil), setDataFrame...), m.Payload...)
	return m
}

// commands rewrites the end-of-publish commands that real encoders send in
// forms go-rtmp refuses (it drops the connection when a value does not
// decode): deleteStream with the stream name (GStreamer's rtmp2sink) or
// nothing instead of the stream id, and FCUnpublish without a name.
type commands struct {
	// lastStreamID is the message stream of the latest publish or play:
	// the stream a deleteStream without a usable id means.
	lastStreamID uint32
	// fourCCs is the connect command's fourCcList: the codecs an enhanced
	// RTMP client declares (go-rtmp's connect struct has no field for it).
	fourCCs []string
}

// FourCCList is the fourCcList of the client's connect command (enhanced
// RTMP), nil if it sent none. Call it on go-rtmp's connection goroutine.
func (c *Conn) FourCCList() []string { return c.cmd.fourCCs }

// maxFourCCs bounds the fourCcList entries kept (for a log line).
const maxFourCCs = 16

// normalize returns the message to hand on, and false to drop it.
func (c *commands) normalize(m Message) (Message, bool) {
	if m.TypeID == TypeDataAMF0 {
		return metadataFrame(m), true
	}
	if m.TypeID != TypeCommandAMF0 {
		return m, true
	}
	p := m.Payload
	name, _, ok := media.SplitAMF0String(p)
	if !ok {
		return m, true
	}
	switch name {
	case "connect":
		return m, c.connect(p)
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
		n, err := media.AMF0Size(p[off:])
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
		prefix = append(prefix, media.AMF0Null)
	case 2: // no command object
		prefix = append(append([]byte(nil), p...), media.AMF0Null)
	default:
		prefix = append([]byte(nil), p[:ends[2]]...)
	}
	var arg []byte
	if len(ends) == 4 {
		arg = p[ends[2]:ends[3]]
	}
	switch name {
	case "deleteStream":
		if len(arg) > 0 && arg[0] == media.AMF0Number {
			return m, true
		}
		id := c.lastStreamID
		if s, _, ok := media.SplitAMF0String(arg); ok {
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
		if _, _, ok := media.SplitAMF0String(arg); ok {
			return m, true
		}
		m.Payload = append(prefix, media.AMF0String, 0, 0)
	}
	return m, true
}

func appendNumber(b []byte, v float64) []byte {
	b = append(b, media.AMF0Number)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

// connect records the fourCcList of a connect command and reports whether
// to hand the command on. Its values must all be whole: go-rtmp's AMF0
// decoder allocates a strict array's declared length before reading it, so
// a connect claiming a list of 2^31 entries would exhaust memory. Such a
// connect is dropped, and the client answered nothing.
func (c *commands) connect(p []byte) bool {
	var vals [][]byte
	for off := 0; off < len(p); {
		n, err := media.AMF0Size(p[off:])
		if err != nil {
			return false
		}
		vals = append(vals, p[off:off+n])
		off += n
	}
	if len(vals) >= 3 && vals[2][0] == media.AMF0Object {
		c.fourCCs = fourCCList(vals[2][1:])
	}
	return true
}

// fourCCList finds the fourCcList strict array of strings among the
// properties of an object (already bounded by AMF0Size).
func fourCCList(props []byte) []string {
	for len(props) >= 3 {
		k := int(binary.BigEndian.Uint16(props))
		if k == 0 || 2+k >= len(props) {
			return nil
		}
		key, v := string(props[2:2+k]), props[2+k:]
		n, err := media.AMF0Size(v)
		if err != nil {
			return nil
		}
		if key == "fourCcList" && v[0] == media.AMF0StrictArray {
			list := []string{}
			for el := v[5:n]; len(el) > 0 && len(list) < maxFourCCs; {
				s, rest, ok := media.SplitAMF0String(el)
				if !ok {
					break // not a string: skipped with the rest
				}
				list = append(list, s)
				el = rest
			}
			return list
		}
		props = v[n:]
	}
	return nil
}
