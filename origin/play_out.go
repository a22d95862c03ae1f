package origin

import (
	"net"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// What a player is sent is encoded once per frame for all of them: the
// FLV tag, and the RTMP chunks (the same chunk size, chunk stream, message
// stream id and timestamp for everyone in the common case). A player whose
// splicer moved a frame's timestamp (it stayed across a takeover or a
// publisher's return) or that has another message stream id encodes that
// frame itself. What is queued for a player goes out in one writev, with
// one write deadline, and is counted once.

// frameEnc is the shared encodings of one live frame. Players make them
// on first use (most streams have players of one protocol only).
type frameEnc struct {
	ts uint32 // the frame's own timestamp: an encoding fits a player that sends the frame with it

	flvOnce sync.Once
	flv     []byte

	rtmpOnce sync.Once
	rtmpSID  uint32 // the message stream id rtmp is for
	rtmp     []byte // nil for a frame RTMP players are not sent
}

func newFrameEnc(f media.Frame) *frameEnc { return &frameEnc{ts: f.Timestamp} }

// flvTag is f's FLV tag, shared when enc fits f.
func (e *frameEnc) flvTag(f media.Frame) ([]byte, bool) {
	if e == nil || e.ts != f.Timestamp {
		return nil, false
	}
	e.flvOnce.Do(func() { e.flv = appendTag(make([]byte, 0, flvTagSize(f)), f) })
	return e.flv, true
}

// rtmpChunks is f's RTMP message in chunks, shared when enc fits f and
// the player's message stream id; ok false: the player encodes it itself.
func (e *frameEnc) rtmpChunks(f media.Frame, sid uint32) (b []byte, ok bool) {
	if e == nil || e.ts != f.Timestamp {
		return nil, false
	}
	e.rtmpOnce.Do(func() {
		e.rtmpSID = sid
		e.rtmp = appendRTMPFrame(nil, f, sid)
	})
	return e.rtmp, e.rtmpSID == sid
}

func flvTagSize(f media.Frame) int { return 11 + len(f.Payload) + 4 }

// rtmpMessage is the RTMP message f goes out as to a player; ok false for
// what players are not sent (metadata that is not an AMF0 name and value).
func rtmpMessage(f media.Frame, sid uint32) (m rtmpwire.Message, ok bool) {
	m = rtmpwire.Message{Timestamp: f.Timestamp, StreamID: sid, Payload: f.Payload}
	switch f.Type {
	case media.FrameAudio:
		m.ChunkStreamID, m.TypeID = rtmpwire.ChunkStreamAudio, rtmpwire.TypeAudio
	case media.FrameVideo:
		m.ChunkStreamID, m.TypeID = rtmpwire.ChunkStreamVideo, rtmpwire.TypeVideo
	case media.FrameData:
		// The payload is what @setDataFrame carried: the "onMetaData" name
		// and its object, which is what an AMF0 data message holds.
		if _, _, ok := media.SplitAMF0String(f.Payload); !ok {
			return m, false
		}
		m.ChunkStreamID, m.TypeID = rtmpwire.ChunkStreamData, rtmpwire.TypeDataAMF0
	default:
		return m, false
	}
	return m, true
}

// appendRTMPFrame appends f as an RTMP message in chunks of
// rtmpwire.OutChunkSize; nothing for what players are not sent.
func appendRTMPFrame(b []byte, f media.Frame, sid uint32) []byte {
	m, ok := rtmpMessage(f, sid)
	if !ok {
		return b
	}
	if b == nil {
		b = make([]byte, 0, rtmpwire.MessageSize(m, rtmpwire.OutChunkSize))
	}
	return rtmpwire.AppendMessage(b, m, rtmpwire.OutChunkSize)
}

// maxBatch bounds the frames one write takes, so that a player far
// behind still gets its bytes in pieces of reasonable size.
const maxBatch = 64

// playBatch is what goes out to a player in the next write: shared
// encodings and the player's own, in order.
type playBatch struct {
	segs []batchSeg
	own  []byte // the player's own encodings; reused
	vec  net.Buffers
	n    int // frames in the batch
}

// batchSeg is a shared encoding, or (b nil) own[lo:hi]: own may move
// while the batch fills.
type batchSeg struct {
	b      []byte
	lo, hi int
}

func (b *playBatch) shared(p []byte) {
	if len(p) > 0 {
		b.segs = append(b.segs, batchSeg{b: p})
	}
	b.n++
}

// private appends the player's own encoding made by enc.
func (b *playBatch) private(enc func([]byte) []byte) {
	lo := len(b.own)
	b.own = enc(b.own)
	if hi := len(b.own); hi > lo {
		b.segs = append(b.segs, batchSeg{lo: lo, hi: hi})
	}
	b.n++
}

func (b *playBatch) empty() bool { return len(b.segs) == 0 }

// buffers is the batch to write; valid until reset.
func (b *playBatch) buffers() *net.Buffers {
	b.vec = b.vec[:0]
	for _, s := range b.segs {
		if s.b != nil {
			b.vec = append(b.vec, s.b)
		} else {
			b.vec = append(b.vec, b.own[s.lo:s.hi])
		}
	}
	return &b.vec
}

func (b *playBatch) reset() {
	clear(b.segs) // let the frames go
	b.segs, b.own, b.n = b.segs[:0], b.own[:0], 0
	if cap(b.own) > 1<<20 {
		b.own = nil // a big GOP or keyframe of a shifted player: not kept
	}
}

// playOut is how a player's frames reach its connection: add encodes
// (or picks the shared encoding of) one frame, flush writes what was
// added.
type playOut interface {
	add(f media.Frame, enc *frameEnc)
	flush() error
	full() bool
}

// deadlineEvery is how often a player's write deadline is moved on: a
// fraction of the timeout, so it is set once in many writes and each
// write still has most of the timeout.
func deadlineEvery(timeout time.Duration) time.Duration { return timeout / 16 }

// flvOut writes FLV tags to an HTTP-FLV player's connection.
type flvOut struct {
	conn     flvConn
	ls       *liveStream
	batch    playBatch
	deadline time.Time // when the write deadline was last moved
}

func (o *flvOut) add(f media.Frame, enc *frameEnc) {
	if tag, ok := enc.flvTag(f); ok {
		o.batch.shared(tag)
		return
	}
	o.batch.private(func(b []byte) []byte { return appendTag(b, f) })
}

func (o *flvOut) full() bool { return o.batch.n >= maxBatch }

func (o *flvOut) flush() error {
	if o.batch.empty() {
		o.batch.reset()
		return nil
	}
	// A player that cannot take a tag for long is as good as gone.
	if now := time.Now(); now.Sub(o.deadline) > deadlineEvery(playWriteTimeout) {
		o.deadline = now
		if err := o.conn.SetWriteDeadline(now.Add(playWriteTimeout)); err != nil {
			return err
		}
	}
	n, err := o.batch.buffers().WriteTo(o.conn)
	o.batch.reset()
	o.ls.sent(int(n))
	return err
}
