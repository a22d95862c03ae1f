package origin

import (
	"bytes"

	"github.com/rewind-vod/rewind/media"
)

// A player's connection outlives a run when a new publisher takes the
// stream over or comes back within the grace (playerswait.go). The new
// run starts at its own timestamps, with its own codec configuration, in
// the middle of what the player has: the splicer turns that into one
// stream a player can decode without a restart. At a run change it drops
// what the player cannot decode yet (everything before the run's first
// start point), sends the sequence headers and metadata that differ from
// what the player last got, and offsets the run's timestamps so the
// player's timeline goes on one frame after its last tag, and its first
// picture shows one frame after the last picture shown (B-frames): never
// back, and without a gap that would make it stall or buffer.

// Bounds of the step from the last tag of a run to the first of the next.
const (
	spliceStepDefault = 20 // ms, when the frame interval is not known
	spliceStepMax     = 40 // ms: one frame at 25 fps
	// maxBackstep is how far a source's timestamps may go back within a
	// run (interleaving) and be held at the last one; a bigger jump back
	// is a clock reset, and the run continues from the last tag instead.
	maxBackstep = 1000 // ms
)

// Kinds of start frames, the index into splicer.pending and .last.
const (
	startMeta = iota
	startAVC
	startAAC
	startKinds
)

// startKind tells which start frame f is, or -1 for a media frame.
func startKind(f media.Frame) int {
	switch {
	case f.Type == media.FrameData:
		return startMeta
	case f.Type == media.FrameVideo && media.IsVideoSeqHeader(f.Payload):
		return startAVC
	case f.Type == media.FrameAudio && media.IsAACSeqHeader(f.Payload):
		return startAAC
	}
	return -1
}

// splicer is one player's view of the runs it is sent. The zero value
// is ready: the first frame's run is the player's first, sent with its own
// timestamps. It runs on the player's goroutine only.
type splicer struct {
	gen     uint64
	started bool // a start point of gen went out
	video   bool // gen has video: it starts on a keyframe
	pending [startKinds]*taggedFrame

	sent   bool // anything went out yet
	last   [startKinds][]byte
	offset uint32 // added to gen's timestamps
	lastTS uint32 // of the last tag that went out
	// The last two video timestamps that went out: the frame interval.
	lastVideo, prevVideo uint32
	videos               int
	// maxPTS is the latest presentation time (timestamp + composition
	// offset) of the pictures that went out: with B-frames a run may end
	// on a picture shown after later-decoded ones that never came.
	maxPTS uint32
}

// spliceSend is where a splicer's tags go: the frame with its timestamp
// on the player's timeline, and the shared encodings of the frame as it
// came (which fit only if the timestamp is unchanged).
type spliceSend func(f media.Frame, enc *frameEnc) error

// next sends what tf means for this player through send: nothing (it
// waits for a start point), or tags with timestamps on its timeline.
func (s *splicer) next(tf taggedFrame, send spliceSend) error {
	f := tf.Frame
	if tf.gen != s.gen {
		s.gen, s.started, s.video = tf.gen, false, false
		s.pending = [startKinds]*taggedFrame{}
	}
	kind := startKind(f)
	if s.started {
		if kind >= 0 {
			s.last[kind] = f.Payload
		}
		return s.emit(f, tf.enc, send)
	}
	switch {
	case kind >= 0:
		if kind == startAVC {
			s.video = true
		}
		s.pending[kind] = &tf
		return nil
	case isKeyframe(f), isExKeyframe(f), f.Type == media.FrameAudio && !s.video:
		return s.start(f, tf.enc, send)
	case f.Type == media.FrameVideo:
		s.video = true // a picture that needs what came before it
	}
	return nil
}

// start sends the run's first start point, after the start frames that
// differ from what the player last got, at the next step of its timeline.
func (s *splicer) start(f media.Frame, enc *frameEnc, send spliceSend) error {
	s.offset = 0
	if s.sent {
		step := s.step()
		base := s.lastTS + step
		if s.videos > 0 && f.Type == media.FrameVideo {
			// Its first picture shows one step after the last picture
			// the player has: after every picture it has, and without a
			// gap when the player's last tag was audio after that
			// picture. It still decodes after the last tag.
			if pic := s.maxPTS + step - uint32(videoCTS(f)); int32(pic-s.lastTS) > 0 {
				base = pic
			} else {
				base = s.lastTS + 1
			}
		}
		s.offset = base - f.Timestamp
	}
	s.started = true
	for kind, h := range s.pending {
		if h == nil || bytes.Equal(h.Payload, s.last[kind]) {
			continue
		}
		s.last[kind] = h.Payload
		hf := h.Frame
		hf.Timestamp = f.Timestamp // it goes out at the start point's time
		if err := s.emit(hf, h.enc, send); err != nil {
			return err
		}
	}
	s.pending = [startKinds]*taggedFrame{}
	return s.emit(f, enc, send)
}

// emit sends f on the player's timeline: gen's offset, never going back.
// Metadata is not on the timeline: it goes out at time 0, as publishers
// send it and as nginx-rtmp re-sends it. Demuxers take an onMetaData at 0
// for stream metadata, and one at a later time for a data packet:
// ffmpeg's FLV demuxer then adds a data stream mid-stream, which players
// may offer as a text track (and on which ffprobe 5.1 crashes).
func (s *splicer) emit(f media.Frame, enc *frameEnc, send spliceSend) error {
	if f.Type == media.FrameData {
		f.Timestamp = 0
		return send(f, enc)
	}
	ts := f.Timestamp + s.offset
	if back := int32(s.lastTS - ts); s.sent && back > 0 {
		ts = s.lastTS // held: the run's own order, one tag a little behind
		if back > maxBackstep {
			s.offset = s.lastTS + s.step() - f.Timestamp
			ts = f.Timestamp + s.offset
		}
	}
	f.Timestamp = ts
	if err := send(f, enc); err != nil {
		return err
	}
	s.sent, s.lastTS = true, ts
	if f.Type == media.FrameVideo && startKind(f) < 0 {
		if pts := ts + uint32(videoCTS(f)); s.videos == 0 || int32(pts-s.maxPTS) > 0 {
			s.maxPTS = pts
		}
		s.prevVideo, s.lastVideo = s.lastVideo, ts
		s.videos++
	}
	return nil
}

// videoCTS is a picture's composition time offset (ms), 0 if it has none.
func videoCTS(f media.Frame) int32 {
	t, err := media.ParseVideoTag(f.Payload)
	if err != nil {
		return 0
	}
	return t.CTS
}

// step is how far after the player's last tag the next run starts: one
// frame interval as the player saw it, within bounds.
func (s *splicer) step() uint32 {
	if s.videos < 2 {
		return spliceStepDefault
	}
	return min(max(s.lastVideo-s.prevVideo, 1), spliceStepMax)
}

// isExKeyframe reports an enhanced RTMP (HEVC, AV1...) video tag marked
// key, its sequence start included: media knows legacy tags only, and a
// run of such video must still find a start point.
func isExKeyframe(f media.Frame) bool {
	p := f.Payload
	return f.Type == media.FrameVideo && len(p) > 0 && p[0]&0x80 != 0 && (p[0]>>4)&0x07 == 1
}
