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
// publisher's return) or that has another message stream id shares an
// encoding of the frame with the players that send it the same way, or
// past maxAlts of them encodes it itself. What is queued for a player goes
// out in one writev, with one write deadline, and is counted once a
// second. And frames go to the players in groups (PlayersConfig.MergeWrite,
// livestream.go), so a player wakes and writes once per group.

// frameEnc is the shared encodings of one live frame. Players make them
// on first use (most streams have players of one protocol only).
type frameEnc struct {
	ts uint32 // the frame's own timestamp: an encoding fits a player that sends the frame with it

	flvOnce sync.Once
	flv     []byte

	rtmpOnce sync.Once
	rtmpSID  uint32 // the message stream id rtmp is for
	rtmp     []byte // nil for a frame RTMP players are not sent

	// alts are encodings at other timestamps: the splicer holds a frame
	// a little behind its predecessor at the last one's time, and moves
	// every frame on after a new run, the same way for all the players
	// that had the same last tag (all of them, mostly).
	mu   sync.Mutex
	alts []altEnc
}

// altEnc is an encoding of a frame at another timestamp.
type altEnc struct {
	rtmp    bool
	ts, sid uint32
	b       []byte
}

// maxAlts bounds a frame's encodings at other timestamps; players past
// them encode the frame themselves.
const maxAlts = 4

// alt is the encoding of f (at its timestamp) that make makes, shared.
func (e *frameEnc) alt(rtmp bool, f media.Frame, sid uint32, encode func() []byte) ([]byte, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.alts {
		if a.rtmp == rtmp && a.ts == f.Timestamp && a.sid == sid {
			return a.b, true
		}
	}
	if len(e.alts) >= maxAlts {
		return nil, false
	}
	b := encode()
	e.alts = append(e.alts, altEnc{rtmp: rtmp, ts: f.Timestamp, sid: sid, b: b})
	return b, true
}

func newFrameEnc(f media.Frame) *frameEnc { return &frameEnc{ts: f.Timestamp} }

// flvTag is f's FLV tag, shared when enc fits f.
func (e *frameEnc) flvTag(f media.Frame) ([]byte, bool) {
	if e == nil {
		return nil, false
	}
	enc := func() []byte { return appendTag(make([]byte, 0, flvTagSize(f)), f) }
	if e.ts != f.Timestamp {
		return e.alt(false, f, 0, enc)
	}
	e.flvOnce.Do(func() { e.flv = enc() })
	return e.flv, true
}

// rtmpChunks is f's RTMP message in chunks, shared when enc fits f and
// the player's message stream id; ok false: the player encodes it itself.
func (e *frameEnc) rtmpChunks(f media.Frame, sid uint32) (b []byte, ok bool) {
	if e == nil {
		return nil, false
	}
	if e.ts != f.Timestamp {
		return e.alt(true, f, sid, func() []byte { return appendRTMPFrame(nil, f, sid) })
	}
	e.rtmpOnce.Do(func() {
		e.rtmpSID = sid
		e.rtmp = appendRTMPFrame(nil, f, sid)
	})
	if e.rtmpSID != sid {
		return e.alt(true, f, sid, func() []byte { return appendRTMPFrame(nil, f, sid) })
	}
	return e.rtmp, true
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

// sentCount gathers what one player was sent for the stream's counters,
// which all its players share: a player adds to them once a second rather
// than at every write.
type sentCount struct {
	ls  *liveStream
	n   int
	sec int64 // unix second of the last flush
}

func (c *sentCount) add(n int, now time.Time) {
	c.n += n
	if s := now.Unix(); s != c.sec {
		c.sec = s
		c.flush(now)
	}
}

func (c *sentCount) flush(now time.Time) {
	if c.n > 0 {
		c.ls.sent(c.n, now)
		c.n = 0
	}
}

// flvOut writes FLV tags to an HTTP-FLV player's connection.
type flvOut struct {
	conn     flvConn
	count    *sentCount
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
	now := time.Now()
	if now.Sub(o.deadline) > deadlineEvery(playWriteTimeout) {
		o.deadline = now
		if err := o.conn.SetWriteDeadline(now.Add(playWriteTimeout)); err != nil {
			return err
		}
	}
	n, err := o.batch.buffers().WriteTo(o.conn)
	o.batch.reset()
	o.count.add(int(n), now)
	return err
}
