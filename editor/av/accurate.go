package av

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// accurateCutter cuts on exact frames: GOPs wholly inside [From, To) are
// stream-copied, the (at most two) GOPs an edge falls in are decoded and
// re-encoded (libx264 for H.264, libx265 for HEVC). Open GOPs are kept
// together with the GOP their leading pictures reference (see pushVideo).
// Audio is copied and cut by packet PTS.
type accurateCutter struct{}

func (c *accurateCutter) setup(j *job, in *input) error {
	if err := checkEdgeCodec(in); err != nil {
		return err
	}
	if err := addCopyStreams(j, in); err != nil {
		return err
	}
	if j.o.format == FormatMP4 && j.o.video != nil && isHEVC(in) {
		// libx265 has no parameter-set ids of its own to pick, so the
		// edges' VPS/SPS/PPS cannot sit beside the source's in hvcC.
		// Both the source (the recorder puts them before every IRAP)
		// and the edges carry them in-band: hev1 says so to players.
		j.o.video.st.CodecParameters().SetCodecTag(tagHEV1)
	} else if j.o.format == FormatMP4 && j.o.video != nil {
		ps, err := edgeHeaders(in)
		if err != nil {
			return err
		}
		cp := j.o.video.st.CodecParameters()
		if err := cp.SetExtraData(append(cp.ExtraData(), ps...)); err != nil {
			return fmt.Errorf("av: %s: extradata: %w", j.out, err)
		}
	}
	return nil
}

func (c *accurateCutter) flush(*job) error { return nil }
func (c *accurateCutter) close()           {}

// accuratePart is the state of one part's cut.
type accuratePart struct {
	j        *job
	in       *input
	from, to int64
	// gop is the unit being read, decode order: from a keyframe on, up
	// to the next keyframe with no leading pictures (see pushVideo).
	gop       []*sample
	keyAt     int       // index in gop of its last keyframe
	undecided bool      // gop[keyAt] (not the first) waits for the packet after it
	aq        []*sample // audio held until the video before it is written
	wrote     bool      // some video of this part is written
	videoDone bool
	// origin is the source PTS that lands on the part's start on the output
	// timeline: the first frame shown at or after From, so the output
	// starts with a frame at 0 (From itself if the part has no video).
	origin    int64
	originSet bool
	shift     int64 // what sample times lose on the output (job.shift of origin)
}

// setOrigin fixes the origin once; later calls do nothing.
func (a *accuratePart) setOrigin(pts int64) {
	if !a.originSet {
		a.origin, a.originSet = pts, true
		a.shift = a.j.shift(a.in, pts)
	}
}

func (c *accurateCutter) cut(j *job, in *input, p Part) (int64, error) {
	video, audio, err := copyStreams(j, in)
	if err != nil {
		return 0, err
	}
	if video {
		if err := checkEdgeCodec(in); err != nil {
			return 0, err
		}
	}
	vn, an := j.streamCounts()
	a := &accuratePart{j: j, in: in, from: ticks(p.From), to: ticks(p.To), videoDone: !video}
	defer a.free()
	audioDone := !audio
	for !a.videoDone || !audioDone {
		s, err := in.next(j.ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		switch {
		case !s.video && audio && !audioDone:
			if s.pts >= a.to {
				audioDone = true
				s.free()
			} else if s.pts < a.from {
				s.free()
			} else if err := a.pushAudio(s); err != nil {
				return 0, err
			}
		case s.video && !a.videoDone:
			if err := a.pushVideo(s); err != nil {
				return 0, err
			}
		default:
			s.free()
		}
	}
	if a.undecided {
		if err := a.split(); err != nil {
			return 0, err
		}
	}
	if len(a.gop) > 0 && !a.videoDone {
		last := a.gop[len(a.gop)-1]
		end := last.pts + last.dur
		for _, s := range a.gop {
			end = max(end, s.pts+s.dur)
		}
		if err := a.finishGOP(end, -1); err != nil {
			return 0, err
		}
	}
	if err := a.flushAudio(-1); err != nil {
		return 0, err
	}
	return j.writtenEnd(vn, an), nil
}

func (a *accuratePart) free() {
	freeSamples(a.gop)
	freeSamples(a.aq)
	a.gop, a.aq = nil, nil
}

func (a *accuratePart) pushAudio(s *sample) error {
	if !a.videoDone {
		a.aq = append(a.aq, s)
		return nil
	}
	defer s.free()
	return a.writeAudio(s)
}

func (a *accuratePart) writeAudio(s *sample) error {
	a.setOrigin(a.from) // no video frame in range
	if s.pts < a.origin {
		return nil
	}
	t := a.j.offset + s.pts - a.shift
	return a.j.write(a.j.o.audio, s.pkt, t, t, s.dur)
}

// flushAudio writes held audio shown before until (all if until < 0).
func (a *accuratePart) flushAudio(until int64) error {
	n := 0
	for _, s := range a.aq {
		if until >= 0 && s.pts >= until {
			break
		}
		err := a.writeAudio(s)
		s.free()
		n++
		if err != nil {
			return err
		}
	}
	a.aq = append(a.aq[:0], a.aq[n:]...)
	return nil
}

func (a *accuratePart) pushVideo(s *sample) error {
	if len(a.gop) == 0 {
		switch {
		case !s.key:
			s.free() // before the first keyframe: undecodable
			return nil
		case s.pts >= a.to:
			s.free()
			a.videoDone = true
			return a.flushAudio(-1)
		}
		a.gop, a.keyAt = append(a.gop, s), 0
		return nil
	}
	k := a.gop[a.keyAt]
	if !s.key && s.pts < k.pts {
		// A leading picture of k, shown before it: in an open GOP (an
		// HEVC CRA's RASL pictures, H.264 B-frames after a recovery
		// point) it references the GOP before k, so that GOP and k's
		// are one unit, copied or re-encoded as a whole: copied GOPs
		// never lean on re-encoded ones, a re-encode decodes k's leading
		// pictures from what they reference.
		a.undecided = false
		if a.keyAt == 0 && len(a.gop) == 1 && !a.wrote && !a.originSet {
			s.free() // of the part's first keyframe: its references are not in the input
			return nil
		}
		a.gop = append(a.gop, s)
		return nil
	}
	if a.undecided {
		// k has no leading pictures: the unit before it ends there.
		if err := a.split(); err != nil {
			s.free()
			return err
		}
		if a.videoDone {
			s.free()
			return nil
		}
	} else if a.keyAt > 0 && k.pts >= a.to {
		// k's leading pictures, the last that could be in range, are in.
		s.free()
		return a.endUnit(k.pts, true)
	}
	a.gop = append(a.gop, s)
	if s.key {
		a.keyAt, a.undecided = len(a.gop)-1, true
	}
	return nil
}

// split ends the unit before gop[keyAt], a keyframe with no leading
// pictures, and starts the next one from it (or ends the video if it is
// shown at or after To).
func (a *accuratePart) split() error {
	a.undecided = false
	k := a.gop[a.keyAt]
	rest := append([]*sample(nil), a.gop[a.keyAt:]...)
	a.gop = a.gop[:a.keyAt]
	a.keyAt = 0
	if err := a.finishGOP(k.pts, k.pts-k.dts); err != nil {
		freeSamples(rest)
		return err
	}
	a.gop = rest
	if k.pts >= a.to {
		return a.endUnit(k.pts, false)
	}
	return nil
}

// endUnit ends the video: the unit read so far, if keep, is finished as
// ending at end; anything else is dropped.
func (a *accuratePart) endUnit(end int64, keep bool) error {
	a.videoDone = true
	if keep {
		if err := a.finishGOP(end, -1); err != nil {
			return err
		}
	}
	freeSamples(a.gop)
	a.gop = nil
	return a.flushAudio(-1)
}

// finishGOP handles the buffered GOP now that it is known to end at end
// (the next keyframe's PTS). nextDelay is that keyframe's PTS-DTS, -1 if
// there is none.
func (a *accuratePart) finishGOP(end, nextDelay int64) error {
	g := a.gop
	a.gop = nil
	defer freeSamples(g)
	if end <= a.from {
		return nil
	}
	inside := true
	first := int64(math.MaxInt64)
	for _, s := range g {
		if s.pts < a.from || s.pts >= a.to {
			inside = false
		} else {
			first = min(first, s.pts)
		}
	}
	if first == math.MaxInt64 {
		return a.flushAudio(end) // nothing of this GOP is shown in range
	}
	a.setOrigin(first)
	var err error
	if inside {
		err = a.copyGOP(g)
	} else {
		err = a.encodeGOP(g, end, nextDelay)
	}
	if err != nil {
		return err
	}
	return a.flushAudio(end)
}

func (a *accuratePart) copyGOP(g []*sample) error {
	for _, s := range g {
		if err := a.j.write(a.j.o.video, s.pkt, a.j.offset+s.pts-a.shift, a.j.offset+s.dts-a.shift, s.dur); err != nil {
			return err
		}
	}
	a.wrote = true
	return nil
}
