package rtmpwire

import (
	"bufio"
	"encoding/binary"
	"fmt"
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
	recycle []byte // the current message's whole payload if audio or video, to recycle

	// take, when set, is offered every audio and video message first (see
	// SetMediaHook).
	take MediaHook

	// Acknowledgements of what the client sent (see SetAcker).
	in        *countingReader
	ack       func(seq uint32) error
	ackWindow uint32 // the client's window; 0 until it sends one
	acked     uint64 // bytes received when we last acknowledged

	wmu     sync.Mutex
	swallow int
}

// MediaHook takes an audio or video message off the normalized stream:
// taken means go-rtmp never sees it and the payload now belongs to the
// hook; an error ends reading (Read returns it from then on). It runs on
// the goroutine that called Read, in message order: every message before
// it has been handed to go-rtmp and handled, since go-rtmp reads the next
// message only after it has dispatched the last one.
type MediaHook func(m Message) (taken bool, err error)

// SetMediaHook sets the hook for the messages read from now on (nil: none).
// Call it on the goroutine that reads (a go-rtmp handler method). A
// publisher's frames then skip go-rtmp's reparse and the copies in
// between: the payload the reader assembled is the frame.
func (c *Conn) SetMediaHook(h MediaHook) { c.take = h }

// SetAcker sets how an Acknowledgement reaches the client: Conn counts the
// bytes received and, once the client has announced its window
// (WindowAcknowledgementSize, which go-rtmp then never sees), calls ack
// with the count every half window, as go-rtmp did when it saw every
// byte. Frames a media hook takes never reach go-rtmp, so its own count
// would fall short. Call it before reading starts, or on the reading
// goroutine.
func (c *Conn) SetAcker(ack func(seq uint32) error) { c.ack = ack }

// countingReader counts the bytes read from the client.
type countingReader struct {
	r io.Reader
	n uint64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += uint64(n)
	return n, err
}

// readBufferSize is the read buffer under the chunk reader: a publisher's
// chunks (128 bytes to a few KiB each, headers apart) come from it, not
// from a read syscall each, and one syscall takes whatever has arrived.
const readBufferSize = 64 << 10

// NewConn wraps raw; l are the limits until SetLimits changes them.
func NewConn(raw io.ReadWriteCloser, l Limits) *Conn {
	in := &countingReader{r: raw}
	br := bufio.NewReaderSize(in, readBufferSize)
	return &Conn{raw: raw, br: br, in: in, rd: NewReader(br, l), swallow: goRTMPHandshakeWrites}
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
		if err := c.acknowledge(); err != nil {
			c.err = err
			return 0, err
		}
		if len(m.Payload) == 0 {
			continue
		}
		switch m.TypeID {
		case TypeWindowAckSize:
			if err := c.setAckWindow(m.Payload); err != nil {
				c.err = err
				return 0, err
			}
			continue
		case TypeAudio, TypeVideo:
			if c.take == nil {
				break
			}
			taken, err := c.take(m)
			if err != nil {
				c.err = err
				return 0, err
			}
			if taken {
				continue
			}
		}
		var ok bool
		if m, ok = c.cmd.normalize(m); !ok {
			continue
		}
		c.out = appendChunk(c.out[:0], m, len(m.Payload))
		c.payload = m.Payload
		if m.TypeID == TypeAudio || m.TypeID == TypeVideo {
			c.recycle = m.Payload // passed through as it is, copied out by go-rtmp
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
		if c.recycle != nil {
			c.rd.Recycle(c.recycle)
			c.recycle = nil
		}
	}
	return n, nil
}

// setAckWindow takes the client's WindowAcknowledgementSize.
func (c *Conn) setAckWindow(p []byte) error {
	if len(p) < 4 {
		return malformed("WindowAcknowledgementSize of %d bytes, want 4", len(p))
	}
	c.ackWindow = binary.BigEndian.Uint32(p) & 0x7fffffff
	return nil
}

// acknowledge sends an Acknowledgement once half the client's window has
// arrived since the last one; the sequence number is the count of bytes
// received, modulo 2^32 as the field is.
func (c *Conn) acknowledge() error {
	if c.ack == nil || c.ackWindow == 0 || c.in.n-c.acked < uint64(c.ackWindow/2) {
		return nil
	}
	c.acked = c.in.n
	if err := c.ack(uint32(c.in.n)); err != nil {
		return fmt.Errorf("send acknowledgement: %w", err)
	}
	return nil
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
