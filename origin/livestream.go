package origin

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/rewind-vod/rewind/internal/ratemeter"
	"github.com/rewind-vod/rewind/media"
)

// liveStream is one stream as its players see it. It outlives the run
// (the feed) that writes it when a publisher of the stream comes back in
// time (playerswait.go): the players stay and the new run continues on
// their connections.
type liveStream struct {
	p   *Players
	key string
	up  *pull // the pull feeding the stream; nil for a local publication

	mu      sync.Mutex
	meta    *taggedFrame
	avcHdr  *taggedFrame
	aacHdr  *taggedFrame
	gop     []taggedFrame // from the last keyframe on; nil when not cacheable
	players map[*player]struct{}
	closed  bool
	// hasVideo: a run of the stream had video (the FLV header's flag);
	// genVideo: the current run has, so its start points are keyframes.
	hasVideo, genVideo bool
	cur                *feed  // the run writing the stream; nil while its players wait
	gen                uint64 // counts runs: frames carry it, so a player sees where a run starts
	wait               waitState
	// held is what the run wrote that waits to go to the players (write).
	held     []taggedFrame
	bytesOut atomic.Uint64
	bitsOut  ratemeter.Meter
}

// feed is one run writing a liveStream: the SinkStream the origin (or a
// pull) writes to. Once another run took the stream over, a feed writes
// and closes nothing.
type feed struct{ ls *liveStream }

func (fd *feed) WriteFrame(f media.Frame) { fd.ls.write(fd, f) }
func (fd *feed) Close()                   { fd.ls.detach(fd) }

// Inline: write never waits for a player (a full player queue drops that
// player), so the publisher's goroutine calls it itself (inlineSink).
func (fd *feed) Inline() bool { return true }

// newLiveStream makes a stream and the feed that writes it first.
func newLiveStream(p *Players, key string, up *pull) (*liveStream, *feed) {
	ls := &liveStream{p: p, key: key, up: up, players: map[*player]struct{}{}, gen: 1}
	fd := &feed{ls: ls}
	ls.cur = fd
	return ls, fd
}

// taggedFrame is a frame on its way to a player, with the run it is from
// and its encodings, shared by the players (play_out.go).
type taggedFrame struct {
	media.Frame
	gen uint64
	enc *frameEnc
}

type player struct {
	ch   chan taggedFrame
	gone chan struct{} // closed when the stream ends or the player is dropped
	once sync.Once
}

func (pl *player) stop() { pl.once.Do(func() { close(pl.gone) }) }

// Open starts fanning out a publish. A takeover closes the old run before
// the new one opens, so a key has one run writing at a time; the players
// of a previous run that wait (playerswait.go) go on with this one.
func (p *Players) Open(info media.StreamInfo) (SinkStream, error) {
	key := info.App + "/" + info.Name
	p.mu.Lock()
	old := p.streams[key]
	if old != nil && old.up == nil {
		fd := old.attach()
		p.mu.Unlock()
		return fd, nil
	}
	ls, fd := newLiveStream(p, key, nil)
	p.streams[key] = ls
	p.mu.Unlock()
	if old != nil {
		// The local publication wins over a pull of the same stream.
		old.up.stop(errPublishedHere)
	}
	return fd, nil
}

func isKeyframe(f media.Frame) bool {
	return f.Type == media.FrameVideo && media.IsVideoKeyframe(f.Payload)
}

func isSeqHeader(f media.Frame) bool {
	switch f.Type {
	case media.FrameVideo:
		return media.IsVideoSeqHeader(f.Payload)
	case media.FrameAudio:
		return media.IsAACSeqHeader(f.Payload)
	}
	return false
}

// maxHeld bounds the frames a stream holds back (PlayersConfig.MergeWrite).
const maxHeld = 64

// write caches f for new players and queues it for every player. Frames
// are held back until MergeWrite of media time has come, then go out
// together: a player wakes, and writes, once per group rather than once
// per frame, which is most of what a player costs. Metadata and sequence
// headers go at once, with what is held: a player joining just then gets
// them from the cache, and the right FLV header flags.
func (ls *liveStream) write(fd *feed, f media.Frame) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.cur != fd {
		return // a run that was taken over
	}
	tf := taggedFrame{Frame: f, gen: ls.gen, enc: newFrameEnc(f)}
	ls.held = append(ls.held, tf)
	if span := int64(int32(f.Timestamp - ls.held[0].Timestamp)); span < ls.p.mergeMS && span >= 0 &&
		len(ls.held) < maxHeld && startKind(f) < 0 {
		return
	}
	ls.release()
}

// release sends the held frames on; under ls.mu.
func (ls *liveStream) release() {
	for _, tf := range ls.held {
		ls.deliver(tf)
	}
	clear(ls.held)
	ls.held = ls.held[:0]
}

// deliver caches tf and queues it for every player; under ls.mu.
func (ls *liveStream) deliver(tf taggedFrame) {
	ls.cache(tf)
	dropped := false
	for pl := range ls.players {
		select {
		case pl.ch <- tf:
		default:
			delete(ls.players, pl)
			pl.stop()
			dropped = true
			ls.p.dropped.Inc()
			ls.p.log.Warn("player too slow, dropped", "stream", ls.key, "queue", cap(pl.ch))
		}
	}
	if dropped {
		ls.playersChanged()
	}
}

// cache keeps what a new player starts with; under ls.mu.
func (ls *liveStream) cache(tf taggedFrame) {
	f := tf.Frame
	switch {
	case f.Type == media.FrameData:
		ls.meta = &tf
	case isSeqHeader(f):
		hdr := &ls.aacHdr
		if f.Type == media.FrameVideo {
			hdr = &ls.avcHdr
			ls.hasVideo, ls.genVideo = true, true
		}
		if *hdr != nil && !bytes.Equal((*hdr).Payload, f.Payload) {
			// A new configuration mid-run (a pulled stream whose node
			// went on with a new publisher): cached pictures need the
			// old one, so new players wait for the next start point.
			ls.gop = nil
		}
		*hdr = &tf
	case !ls.genVideo && f.Type == media.FrameAudio:
		// Audio only: every frame is a start point; keep the last one.
		ls.gop = append(ls.gop[:0:0], tf)
	case isKeyframe(f):
		ls.gop = append(ls.gop[:0:0], tf)
	case ls.gop != nil:
		if len(ls.gop) >= ls.p.cfg.MaxGOPFrames {
			ls.gop = nil
		} else {
			ls.gop = append(ls.gop, tf)
		}
	}
}

// resetCache forgets the run's start frames; under ls.mu.
func (ls *liveStream) resetCache() {
	ls.meta, ls.avcHdr, ls.aacHdr, ls.gop, ls.genVideo = nil, nil, nil, nil, false
}

// join adds a player and returns what it must get first: metadata,
// sequence headers and the GOP cache, of the current run. A stream whose
// players wait for a publisher takes no new one: it is not live.
func (ls *liveStream) join(pl *player) (start []taggedFrame, hasVideo, ok bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed || ls.cur == nil {
		return nil, false, false
	}
	for _, f := range []*taggedFrame{ls.meta, ls.avcHdr, ls.aacHdr} {
		if f != nil {
			start = append(start, *f)
		}
	}
	start = append(start, ls.gop...)
	ls.players[pl] = struct{}{}
	ls.playersChanged()
	return start, ls.hasVideo, true
}

func (ls *liveStream) leave(pl *player) {
	ls.mu.Lock()
	delete(ls.players, pl)
	ls.playersChanged()
	ls.mu.Unlock()
}
