package av

import "math"

// startFinder holds packets back until the cut's first keyframe is known:
// the last keyframe shown at or before from, or the first keyframe at all if
// none is. Audio shown before the candidate keyframe is dropped early.
type startFinder struct {
	from    int64
	noVideo bool // audio only: the start is from itself
	started bool
	start   int64     // PTS of the first keyframe, once started
	gop     []*sample // video from the candidate keyframe on
	audio   []*sample // audio that may follow the candidate keyframe
}

// push takes s. Until the start is known it returns nil; then it returns the
// held samples and s, and from then on just s. The caller owns what it gets.
func (f *startFinder) push(s *sample) []*sample {
	if f.started {
		return []*sample{s}
	}
	if f.noVideo {
		f.started, f.start = true, f.from
		return append(f.take(), s)
	}
	if !s.video {
		if len(f.gop) > 0 && s.pts < f.gop[0].pts {
			s.free()
			return nil
		}
		f.audio = append(f.audio, s)
		return nil
	}
	switch {
	case s.key && s.pts <= f.from:
		freeSamples(f.gop)
		f.gop = append(f.gop[:0], s)
		kept := f.audio[:0]
		for _, a := range f.audio {
			if a.pts < s.pts {
				a.free()
				continue
			}
			kept = append(kept, a)
		}
		clear(f.audio[len(kept):])
		f.audio = kept
		return nil
	case len(f.gop) == 0 && !s.key:
		s.free() // before any keyframe: undecodable
		return nil
	case len(f.gop) == 0:
		f.started, f.start = true, s.pts
		return append(f.take(), s)
	case s.key || s.dts > f.from:
		// No later packet can be a keyframe shown at or before from.
		f.started, f.start = true, f.gop[0].pts
		return append(f.take(), s)
	}
	f.gop = append(f.gop, s)
	return nil
}

// finish decides the start at the end of the input and returns it; the held
// samples are then available from take. A last GOP that ends before from is
// not in range at all and is dropped.
func (f *startFinder) finish() int64 {
	if f.started {
		return f.start
	}
	f.started, f.start = true, f.from
	end := int64(math.MinInt64)
	for _, s := range f.gop {
		end = max(end, s.pts+s.dur)
	}
	if end > f.from {
		f.start = f.gop[0].pts
		return f.start
	}
	f.free()
	return f.start
}

// take hands over the held samples.
func (f *startFinder) take() []*sample {
	out := append(f.gop, f.audio...)
	f.gop, f.audio = nil, nil
	return out
}

func (f *startFinder) free() {
	freeSamples(f.gop)
	freeSamples(f.audio)
	f.gop, f.audio = nil, nil
}
