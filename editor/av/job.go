package av

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asticode/go-astiav"
)

// cutter is one way of turning parts into output packets.
type cutter interface {
	// setup adds the output streams, modelled on the first part.
	setup(j *job, first *input) error
	// cut writes one part starting at j.offset on the output timeline and
	// returns where the part ends there (90 kHz), j.offset if it has
	// nothing in range.
	cut(j *job, in *input, p Part) (int64, error)
	// flush drains whatever is still buffered after the last part.
	flush(j *job) error
	// close frees the cutter's libav objects.
	close()
}

type job struct {
	ctx   context.Context
	parts []Part
	out   string
	opt   Options
	o     *output

	offset int64 // 90 kHz: where the current part starts on the output timeline
	total  int64 // 90 kHz: the sum of the asked durations
	begin  int64 // 90 kHz: where the output starts (0, or the input's clock with KeepTimestamps)
	lastPr time.Time
	// reserveMoov: keep room for the MP4 index at the start (moovRoom)
	// instead of moving it there after the fact.
	reserveMoov bool
}

// moovRoom is the room an MP4 index (moov) of the job's output needs at
// most, guessed from its samples: per sample its size, time and
// composition offset entries and a share of the chunk tables, 24 bytes
// is plenty; a copy's parts may start a GOP early, hence the slack.
func (j *job) moovRoom(first *input) int64 {
	span := j.total + int64(len(j.parts))*ticks(10*time.Second)
	var samples int64
	if first.video != nil {
		samples += span / max(first.vDur, 1)
	}
	if first.audio != nil {
		samples += span / max(first.aDur, 1)
	}
	return samples*moovPerSample*5/4 + moovBase
}

// The moov room's terms; variables so a test can make it too small.
var (
	moovPerSample int64 = 24
	moovBase      int64 = 64 << 10
)

func (j *job) run() (Result, error) {
	for _, p := range j.parts {
		j.total += ticks(p.To - p.From)
	}
	first, err := openInput(j.parts[0].Path)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if first != nil {
			first.close()
		}
	}()
	var c cutter
	switch {
	case j.opt.Transcode != nil:
		c = &transcodeCutter{}
	case j.opt.Mode == ModeAccurate:
		c = &accurateCutter{}
	default:
		c = &copyCutter{}
	}
	defer c.close()
	if j.o, err = newOutput(j.opt.Format, j.out); err != nil {
		return Result{}, err
	}
	if j.reserveMoov {
		j.o.moovSize = j.moovRoom(first)
	}
	if err := c.setup(j, first); err != nil {
		return Result{}, err
	}
	if err := j.o.start(j.opt); err != nil {
		return Result{}, err
	}
	for i, p := range j.parts {
		in := first
		if i > 0 {
			if in, err = openInput(p.Path); err != nil {
				return Result{}, err
			}
		}
		err := j.cutPart(c, in, p)
		in.close()
		if i == 0 {
			first = nil
		}
		if err != nil {
			return Result{}, err
		}
	}
	if err := c.flush(j); err != nil {
		return Result{}, err
	}
	if err := j.o.finish(); err != nil {
		return Result{}, err
	}
	files, size, err := j.o.files()
	if err != nil {
		return Result{}, err
	}
	res := Result{Duration: duration(j.offset - j.begin), Size: size, Files: files}
	if v := j.o.video; v != nil {
		res.Width = v.st.CodecParameters().Width()
		res.Height = v.st.CodecParameters().Height()
	}
	j.o.close()
	if j.opt.Progress != nil {
		j.opt.Progress(1)
	}
	return res, nil
}

// ErrNoPackets is returned (wrapped) by Cut for a part that has nothing
// to keep in its range.
var ErrNoPackets = errors.New("av: no packets in range")

// cutPart runs one part and moves the timeline to where its output ends.
func (j *job) cutPart(c cutter, in *input, p Part) error {
	if err := in.seekNear(j.ctx, ticks(p.From)); err != nil {
		return err
	}
	end, err := c.cut(j, in, p)
	if err != nil {
		return err
	}
	if end <= j.offset {
		return fmt.Errorf("%w: %s: [%s, %s)", ErrNoPackets, p.Path, p.From, p.To)
	}
	j.offset = end
	return nil
}

// shift is what a part's sample times (relative to in.base) lose on the
// output timeline once its first shown instant start is known: start, so
// the part begins at j.offset, or -in.base with KeepTimestamps (one part,
// j.offset 0), which puts back the input's own clock.
func (j *job) shift(in *input, start int64) int64 {
	if j.opt.KeepTimestamps {
		j.begin = in.base + start
		return -in.base
	}
	return start
}

// writtenEnd is where a part that copies packets ends: the video end defines
// the join, audio follows it (within one audio frame). vn and an are the
// stream counts from before the part.
func (j *job) writtenEnd(vn, an int) int64 {
	switch {
	case j.o.video != nil && j.o.video.n > vn:
		return j.o.video.end
	case j.o.audio != nil && j.o.audio.n > an:
		return j.o.audio.end
	}
	return j.offset
}

func (j *job) streamCounts() (v, a int) {
	if j.o.video != nil {
		v = j.o.video.n
	}
	if j.o.audio != nil {
		a = j.o.audio.n
	}
	return v, a
}

// write muxes one packet and reports progress now and then.
func (j *job) write(s *outStream, pkt *astiav.Packet, pts, dts, dur int64) error {
	if err := j.o.write(s, pkt, pts, dts, dur); err != nil {
		return err
	}
	if j.opt.Progress != nil && j.total > 0 && time.Since(j.lastPr) >= 250*time.Millisecond {
		j.lastPr = time.Now()
		done := float64(j.o.pos-j.begin) / float64(j.total)
		j.opt.Progress(min(max(done, 0), 0.99))
	}
	return nil
}

// discard removes a failed job's output.
func (j *job) discard() {
	if j.o != nil {
		j.o.discard()
	}
}
