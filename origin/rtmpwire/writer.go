package rtmpwire

import "encoding/binary"

// AppendMessage appends m, split into chunks of chunkSize, to b: a fmt 0
// header on m.ChunkStreamID, then fmt 3 headers for the rest, which carry
// the extended timestamp again when m has one (as FFmpeg, nginx-rtmp and
// our Reader expect). Every message starts with a full header, so the
// bytes depend on m alone, not on what went before on the chunk stream:
// one encoding serves every player that gets m unchanged, and no writer
// state on the chunk stream needs keeping. The chunk stream must be one
// nothing else writes on with shorter headers (go-rtmp uses 2 and 3).
func AppendMessage(b []byte, m Message, chunkSize int) []byte {
	n := len(m.Payload)
	ts := m.Timestamp
	field := min(ts, extendedTS)
	b = appendBasicHeader(b, 0, m.ChunkStreamID)
	b = append(b, byte(field>>16), byte(field>>8), byte(field),
		byte(n>>16), byte(n>>8), byte(n), m.TypeID)
	b = binary.LittleEndian.AppendUint32(b, m.StreamID)
	if field == extendedTS {
		b = binary.BigEndian.AppendUint32(b, ts)
	}
	p := m.Payload
	for {
		k := min(len(p), chunkSize)
		b = append(b, p[:k]...)
		p = p[k:]
		if len(p) == 0 {
			return b
		}
		b = appendBasicHeader(b, 3, m.ChunkStreamID)
		if field == extendedTS {
			b = binary.BigEndian.AppendUint32(b, ts)
		}
	}
}

// MessageSize is how many bytes AppendMessage appends for m.
func MessageSize(m Message, chunkSize int) int {
	chunks := max(1, (len(m.Payload)+chunkSize-1)/chunkSize)
	basic := len(appendBasicHeader(nil, 0, m.ChunkStreamID))
	ext := 0
	if m.Timestamp >= extendedTS {
		ext = 4
	}
	return basic + 11 + ext + len(m.Payload) + (chunks-1)*(basic+ext)
}

// appendBasicHeader appends a chunk basic header: one byte for chunk
// stream ids 2-63, two for 64-319, three above.
func appendBasicHeader(b []byte, format byte, csid uint32) []byte {
	switch {
	case csid < 64:
		return append(b, format<<6|byte(csid))
	case csid < 320:
		return append(b, format<<6, byte(csid-64))
	default:
		return append(b, format<<6|1, byte(csid-64), byte((csid-64)>>8))
	}
}

// WriteLocked runs write with the connection's write lock, the one every
// go-rtmp write takes: bytes write sends straight to the client (see
// Conn.Raw) cannot interleave with a go-rtmp chunk. go-rtmp flushes once
// per chunk from a 4 KiB buffer, so any of its chunks up to that size is
// one Write; on a play connection it sends no larger ones (acks, pings,
// command answers).
func (c *Conn) WriteLocked(write func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return write()
}
