package av

import (
	"errors"
	"fmt"
	"io"
)

// copyCutter stream-copies: video starts at the keyframe at or before From,
// audio at the same instant, both stop at To.
type copyCutter struct{}

func (c *copyCutter) setup(j *job, in *input) error {
	return addCopyStreams(j, in)
}

// addCopyStreams gives the output the first part's streams as they are.
func addCopyStreams(j *job, in *input) (err error) {
	if in.video != nil {
		if j.o.video, err = j.o.addStream(in.video.CodecParameters(), tb90k); err != nil {
			return err
		}
	}
	if in.audio != nil {
		if j.o.audio, err = j.o.addStream(in.audio.CodecParameters(), tb90k); err != nil {
			return err
		}
	}
	return nil
}

// copyStreams picks which of the part's streams feed the output; a codec
// that differs from the first part's cannot be copied into the same track.
func copyStreams(j *job, in *input) (video, audio bool, err error) {
	if j.o.video != nil && in.video != nil {
		if in.video.CodecParameters().CodecID() != j.o.video.st.CodecParameters().CodecID() {
			return false, false, fmt.Errorf("av: %s: video codec differs from the first part's", in.path)
		}
		video = true
	}
	if j.o.audio != nil && in.audio != nil {
		if in.audio.CodecParameters().CodecID() != j.o.audio.st.CodecParameters().CodecID() {
			return false, false, fmt.Errorf("av: %s: audio codec differs from the first part's", in.path)
		}
		audio = true
	}
	return video, audio, nil
}

func (c *copyCutter) cut(j *job, in *input, p Part) (int64, error) {
	video, audio, err := copyStreams(j, in)
	if err != nil {
		return 0, err
	}
	vn, an := j.streamCounts()
	from, to := ticks(p.From), ticks(p.To)
	var (
		sf        = startFinder{from: from, noVideo: !video}
		videoDone = !video
		audioDone = !audio
		start     int64
		sh        int64 // what sample times lose on the output (j.shift)
		placed    bool  // start and sh are known
	)
	defer sf.free()
	emit := func(s *sample) error {
		defer s.free()
		if s.video {
			if s.pts >= to {
				// Stop at the first packet (decode order) shown at or after
				// To: everything before it decodes without it.
				videoDone = true
			}
			if videoDone || s.pts < start {
				return nil
			}
			return j.write(j.o.video, s.pkt, j.offset+s.pts-sh, j.offset+s.dts-sh, s.dur)
		}
		if s.pts >= to {
			audioDone = true
		}
		if audioDone || s.pts < start {
			return nil
		}
		return j.write(j.o.audio, s.pkt, j.offset+s.pts-sh, j.offset+s.pts-sh, s.dur)
	}
	for !videoDone || !audioDone {
		s, err := in.next(j.ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		if (s.video && !video) || (!s.video && !audio) {
			s.free()
			continue
		}
		ready := sf.push(s)
		if ready == nil {
			continue
		}
		if !placed {
			start, sh, placed = sf.start, j.shift(in, sf.start), true
		}
		for _, r := range ready {
			if err := emit(r); err != nil {
				freeSamples(ready)
				return 0, err
			}
		}
	}
	if !sf.started {
		start = sf.finish()
		sh = j.shift(in, start)
		for _, r := range sf.take() {
			if err := emit(r); err != nil {
				return 0, err
			}
		}
	}
	return j.writtenEnd(vn, an), nil
}

func (c *copyCutter) flush(*job) error { return nil }
func (c *copyCutter) close()           {}
