package rtmpwire

import (
	"bufio"
	"encoding/binary"
	"io"
	"sync"
	"time"
)

// normalizedChunkSize is the chunk size Conn announces to go-rtmp before
// anything else: the largest go-rtmp accepts, and no RTMP message (24-bit
// length) is longer, so every message goes over in one chunk.
const normalizedChunkSize = 0xFFFFFF

// goRTMPHandshakeWrites is what go-rtmp's server handshake writes: S0, S1
// and S2. We answered the client already, so they are swallowed.
const goRTMPHandshakeWrites = 1 + 2*HandshakeSize

// Conn sits between a client connection and go-rtmp's server. On its
// first Read it does the real handshake with the client; go-rtmp then
// reads a synthetic C0/C1/C2 (its verification must be skipped), a
// SetChunkSize, and each complete client message as one fmt 0 chunk on
// chunk stream 2 (protocol control) or 3 (the rest). Writes pass through, except go-rtmp's own
// handshake. The client's SetChunkSize and Abort are applied by the
// reader, not handed on; zero-length messages are dropped (go-rtmp panics
// on them).
type Conn struct {
	raw io.ReadWriteCloser
	br  *bufio.Reader
	rd  *Reader
	cmd commands

	started bool
	hs      Handshake
	err     error  // sticky: once reading failed, it stays failed
	out     []byte // normalized bytes not yet read by go-rtmp
	payload []byte // the current message's payload, after out
	media   []byte // the current message's whole payload if audio or video, to recycle

	wmu     sync.Mutex
	swallow int
}

// readBufferSize is the read buffer under the chunk reader: a publisher's
// chunks (128 bytes to a few KiB each, headers apart) come from it, not
// from a read syscall each, and one syscall takes whatever has arrived.
const readBufferSize = 64 << 10

// NewConn wraps raw; l are the limits until SetLimits changes them.
func NewConn(raw io.ReadWriteCloser, l Limits) *Conn {
	br := bufio.NewReaderSize(raw, readBufferSize)
	return &Conn{raw: raw, br: br, rd: NewReader(br, l), swallow: goRTMPHandshakeWrites}
}

// SetLimits changes the reader's limits (after a publish is accepted).
func (c *Conn) SetLimits(l Limits) { c.rd.SetLimits(l) }

// Handshake is the handshake the client did; valid once Read has returned
// data.
func (c *Conn) Handshake() Handshake { return c.hs }

// Read hands go-rtmp the normalized stream.
func (c *Conn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if !c.started {
		hs, err := ServerHandshake(c.br, c.raw, uint32(time.Now().UnixMilli()))
		if err != nil {
			c.err = err
			return 0, err
		}
		c.hs, c.started = hs, true
		// C0, C1 and C2 for go-rtmp: zeros do, it does not verify them.
		c.out = make([]byte, 1+2*HandshakeSize, 1+2*HandshakeSize+16)
		c.out[0] = rtmpVersion
		var sz [4]byte
		binary.BigEndian.PutUint32(sz[:], normalizedChunkSize)
		c.out = appendChunk(c.out, Message{ChunkStreamID: 2, TypeID: TypeSetChunkSize}, len(sz))
		c.out = append(c.out, sz[:]...)
	}
	for len(c.out) == 0 && len(c.payload) == 0 {
		m, err := c.rd.ReadMessage()
		if err != nil {
			c.err = err
			return 0, err
		}
		if len(m.Payload) == 0 {
			continue
		}
		var ok bool
		if m, ok = c.cmd.normalize(m); !ok {
			continue
		}
		c.out = appendChunk(c.out[:0], m, len(m.Payload))
		c.payload = m.Payload
		if m.TypeID == TypeAudio || m.TypeID == TypeVideo {
			c.media = m.Payload // passed through as it is, copied out by go-rtmp
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	if n < len(p) && len(c.out) == 0 {
		k := copy(p[n:], c.payload)
		c.payload = c.payload[k:]
		n += k
	}
	if len(c.payload) == 0 {
		c.payload = nil // let the message go
		if c.media != nil {
			c.rd.Recycle(c.media)
			c.media = nil
		}
	}
	return n, nil
}

// appendChunk appends a fmt 0 chunk header for m with a payload of n
// bytes. Everything but protocol control (chunk stream 2) goes on chunk
// stream 3: go-rtmp keeps a buffer per chunk stream as large as the largest
// message it saw there, so a peer spreading messages over 60 ids would pin
// 60 of them; each chunk being a whole message, sharing an id loses nothing.
func appendChunk(b []byte, m Message, n int) []byte {
	csid := uint32(3)
	if m.ChunkStreamID == 2 {
		csid = 2
	}
	ts := m.Timestamp
	field := min(ts, extendedTS)
	b = append(b, byte(csid),
		byte(field>>16), byte(field>>8), byte(field),
		byte(n>>16), byte(n>>8), byte(n),
		m.TypeID)
	b = binary.LittleEndian.AppendUint32(b, m.StreamID)
	if field == extendedTS {
		b = binary.BigEndian.AppendUint32(b, ts)
	}
	return b
}

// Write sends go-rtmp's bytes to the client, less its handshake.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	k := 0
	if c.swallow > 0 {
		k = min(c.swallow, len(p))
		c.swallow -= k
		if k == len(p) {
			return k, nil
		}
	}
	n, err := c.raw.Write(p[k:])
	return k + n, err
}

// Close closes the client connection.
func (c *Conn) Close() error { return c.raw.Close() }
