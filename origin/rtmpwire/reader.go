package rtmpwire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"
)

// Message type ids the reader acts on itself, and the media ones (the
// writer uses those too; the commands' are in command.go).
const (
	TypeSetChunkSize  = 1
	TypeAbort         = 2
	TypeWindowAckSize = 5
	TypeAudio         = 8
	TypeVideo         = 9
)

const (
	defaultChunkSize = 128
	// MaxChunkStreams bounds the chunk streams one connection may use; real
	// clients use a handful.
	MaxChunkStreams = 64
	extendedTS      = 0xFFFFFF
	readPiece       = 64 << 10
	// exactUpTo: messages up to this size get their buffer in one
	// allocation (reserve).
	exactUpTo = 64 << 10
	// maxSpare is the largest payload buffer a Reader keeps for the next
	// message (see Recycle): audio and inter frames fit, a keyframe may not.
	maxSpare = 64 << 10
)

// Message is one reassembled client message.
type Message struct {
	ChunkStreamID uint32
	Timestamp     uint32
	TypeID        byte
	StreamID      uint32
	Payload       []byte // owned by the caller
}

// Limits bound what a connection may make us hold.
type Limits struct {
	// MaxMessageSize: a chunk header declaring a longer message is refused
	// at once, before any of its payload is read.
	MaxMessageSize int
	// MaxBuffered: bytes held in unfinished messages, all chunk streams
	// together.
	MaxBuffered int
}

// chunkStream is the state of one chunk stream id: the last header (which
// fmt 1-3 chunks continue) and the message being reassembled.
type chunkStream struct {
	hasHeader bool
	timestamp uint32 // of the latest message
	delta     uint32 // what a fmt 3 chunk that starts a message adds
	length    uint32
	typeID    byte
	streamID  uint32
	// extended: the latest fmt 0-2 header had the 0xFFFFFF escape, so fmt
	// 3 chunks carry the 4-byte extended timestamp too (as FFmpeg and
	// nginx-rtmp send them).
	extended bool

	buf        []byte // the unfinished message; len = bytes so far
	inProgress bool
	msgTS      uint32
}

// Reader reassembles client-to-server messages from RTMP chunks. It applies
// SetChunkSize and Abort itself and does not return them. Not safe for
// concurrent use, except SetLimits.
type Reader struct {
	r         *bufio.Reader
	chunkSize uint32
	streams   map[uint32]*chunkStream
	buffered  int

	maxMessage  atomic.Int64
	maxBuffered atomic.Int64

	hdr   [16]byte
	spare []byte // a recycled payload buffer, for the next message
}

// Recycle gives back the payload of a message returned by ReadMessage once
// nothing refers to it any more: the next message is read into it instead
// of a fresh buffer grown piece by piece.
func (rd *Reader) Recycle(p []byte) {
	if cap(p) <= maxSpare && cap(p) > cap(rd.spare) {
		rd.spare = p[:0]
	}
}

// NewReader reads chunks from r (past the handshake) within limits.
func NewReader(r *bufio.Reader, l Limits) *Reader {
	rd := &Reader{r: r, chunkSize: defaultChunkSize, streams: map[uint32]*chunkStream{}}
	rd.SetLimits(l)
	return rd
}

// SetLimits changes the limits for what is read from now on; it may be
// called from any goroutine.
func (rd *Reader) SetLimits(l Limits) {
	rd.maxMessage.Store(int64(l.MaxMessageSize))
	rd.maxBuffered.Store(int64(l.MaxBuffered))
}

// Buffered is how many bytes unfinished messages hold: their buffers'
// capacity.
func (rd *Reader) Buffered() int { return rd.buffered }

// ChunkSize is the peer's current chunk size.
func (rd *Reader) ChunkSize() uint32 { return rd.chunkSize }

// ReadMessage returns the next complete message other than SetChunkSize
// and Abort. Errors are *Error for what the peer got wrong, or the read
// error wrapped.
func (rd *Reader) ReadMessage() (Message, error) {
	for {
		m, done, err := rd.readChunk()
		if err != nil {
			return Message{}, err
		}
		if !done {
			continue
		}
		switch m.TypeID {
		case TypeSetChunkSize:
			if err := rd.setChunkSize(m.Payload); err != nil {
				return Message{}, err
			}
			continue
		case TypeAbort:
			if err := rd.abort(m.Payload); err != nil {
				return Message{}, err
			}
			continue
		}
		return m, nil
	}
}

func (rd *Reader) read(n int) ([]byte, error) {
	b := rd.hdr[:n]
	if _, err := io.ReadFull(rd.r, b); err != nil {
		return nil, fmt.Errorf("read chunk header: %w", err)
	}
	return b, nil
}

func be24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

// readChunk reads one chunk; done reports that it completed a message.
func (rd *Reader) readChunk() (Message, bool, error) {
	b := rd.hdr[:1]
	if _, err := io.ReadFull(rd.r, b); err != nil {
		// A close between chunks is the normal end: plain io.EOF, which
		// go-rtmp takes for a clean close.
		return Message{}, false, err
	}
	var err error
	format := b[0] >> 6
	csid := uint32(b[0] & 0x3f)
	switch csid {
	case 0:
		if b, err = rd.read(1); err != nil {
			return Message{}, false, err
		}
		csid = 64 + uint32(b[0])
	case 1:
		if b, err = rd.read(2); err != nil {
			return Message{}, false, err
		}
		csid = 64 + uint32(b[0]) + uint32(b[1])<<8
	}

	cs := rd.streams[csid]
	if cs == nil {
		if format >= 2 {
			return Message{}, false, malformed("chunk stream %d: a fmt %d chunk continues a header that was never sent", csid, format)
		}
		if len(rd.streams) >= MaxChunkStreams {
			return Message{}, false, malformed("more than %d chunk streams", MaxChunkStreams)
		}
		cs = &chunkStream{}
		rd.streams[csid] = cs
	}

	// The header: fmt 0 is absolute, 1 and 2 are deltas over the previous
	// header of this chunk stream, 3 repeats it.
	var ts uint32 // fmt 0: timestamp; 1, 2: delta; 3: cs.delta
	prevLen := cs.length
	switch format {
	case 0:
		if b, err = rd.read(11); err != nil {
			return Message{}, false, err
		}
		ts = be24(b[0:3])
		cs.length, cs.typeID = be24(b[3:6]), b[6]
		cs.streamID = binary.LittleEndian.Uint32(b[7:11])
	case 1:
		if b, err = rd.read(7); err != nil {
			return Message{}, false, err
		}
		ts = be24(b[0:3])
		cs.length, cs.typeID = be24(b[3:6]), b[6]
	case 2:
		if b, err = rd.read(3); err != nil {
			return Message{}, false, err
		}
		ts = be24(b[0:3])
	case 3:
		ts = cs.delta
	}
	if format < 3 {
		cs.extended = ts == extendedTS
	}
	if cs.extended {
		if b, err = rd.read(4); err != nil {
			return Message{}, false, err
		}
		ts = binary.BigEndian.Uint32(b)
	}
	cs.hasHeader = true

	if cs.inProgress && cs.length != prevLen {
		// A new header that cannot continue the message: drop what we had
		// (FFmpeg does the same).
		rd.discard(cs)
	}
	if !cs.inProgress {
		switch format {
		case 0:
			cs.msgTS = ts
		default:
			cs.msgTS = cs.timestamp + ts
		}
		if format != 3 || !cs.extended {
			cs.delta = ts
		}
		cs.timestamp = cs.msgTS
		if max := rd.maxMessage.Load(); int64(cs.length) > max {
			return Message{}, false, tooLarge("chunk stream %d: message of %d bytes (type %d) is over the limit of %d", csid, cs.length, cs.typeID, max)
		}
		cs.inProgress = true
	}

	// The payload of this chunk: up to a chunk size of what is missing,
	// read in pieces so that the buffer grows with what the peer really
	// sent, not what it announced (reserve).
	end := len(cs.buf) + int(min(cs.length-uint32(len(cs.buf)), rd.chunkSize))
	for len(cs.buf) < end {
		have := len(cs.buf)
		piece := min(end-have, readPiece)
		if err := rd.reserve(cs, have+piece); err != nil {
			return Message{}, false, err
		}
		k, err := io.ReadFull(rd.r, cs.buf[have:have+piece])
		cs.buf = cs.buf[:have+k]
		if err != nil {
			return Message{}, false, fmt.Errorf("read chunk payload: %w", err)
		}
	}
	if uint32(len(cs.buf)) < cs.length {
		return Message{}, false, nil
	}
	m := Message{ChunkStreamID: csid, Timestamp: cs.msgTS, TypeID: cs.typeID, StreamID: cs.streamID, Payload: cs.buf}
	rd.buffered -= cap(cs.buf)
	cs.buf, cs.inProgress = nil, false
	return m, true, nil
}

// reserve makes room in cs.buf for need bytes of its message. A message
// of up to exactUpTo bytes gets its whole buffer at once (audio and inter
// frames: one allocation, no copy); a longer one grows fourfold from what
// has arrived, so that a header alone never makes us hold more than
// exactUpTo. What unfinished messages hold is counted by capacity, and
// the limit is checked before anything is allocated.
func (rd *Reader) reserve(cs *chunkStream, need int) error {
	if need <= cap(cs.buf) {
		return nil
	}
	size := int(cs.length)
	if size > exactUpTo {
		size = min(size, max(need, 4*cap(cs.buf), exactUpTo))
	}
	useSpare := len(cs.buf) == 0 && cap(rd.spare) >= size
	if useSpare {
		size = cap(rd.spare)
	}
	grow := size - cap(cs.buf)
	if max := rd.maxBuffered.Load(); int64(rd.buffered)+int64(grow) > max {
		return tooLarge("unfinished messages would hold %d bytes, over the limit of %d", rd.buffered+grow, max)
	}
	rd.buffered += grow
	if useSpare {
		cs.buf, rd.spare = rd.spare[:0], nil
		return nil
	}
	nb := make([]byte, len(cs.buf), size)
	copy(nb, cs.buf)
	cs.buf = nb
	return nil
}

func (rd *Reader) discard(cs *chunkStream) {
	rd.buffered -= cap(cs.buf)
	cs.buf, cs.inProgress = nil, false
}

func (rd *Reader) setChunkSize(p []byte) error {
	if len(p) < 4 {
		return malformed("SetChunkSize of %d bytes, want 4", len(p))
	}
	v := binary.BigEndian.Uint32(p) & 0x7fffffff // the top bit is reserved
	if v == 0 {
		return malformed("SetChunkSize 0")
	}
	rd.chunkSize = v
	return nil
}

func (rd *Reader) abort(p []byte) error {
	if len(p) < 4 {
		return malformed("Abort message of %d bytes, want 4", len(p))
	}
	if cs := rd.streams[binary.BigEndian.Uint32(p)]; cs != nil && cs.inProgress {
		rd.discard(cs)
	}
	return nil
}
