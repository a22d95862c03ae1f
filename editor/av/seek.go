package av

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/asticode/go-astiav"
)

// A part holds a whole run, hours perhaps; a cut deep into it seeks instead
// of demuxing everything before From. Variables so tests can exercise
// seeking on short fixtures.
var (
	seekAfter  = ticks(30 * time.Second) // From below this reads from the start
	seekMargin = ticks(10 * time.Second) // first try lands this far before From
)

// seekNear positions the input so that its next samples include the
// keyframe shown at or before from (the last one is still found by reading
// on). It backs off further until the first keyframe it meets qualifies,
// and falls back to the start of the file.
func (in *input) seekNear(ctx context.Context, from int64) error {
	if from < seekAfter {
		return nil
	}
	for margin := seekMargin; from-margin > 0; margin *= 2 {
		ok, err := in.seekTo(ctx, from-margin, from)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			break // not seekable: read from the start
		}
		if ok {
			return nil
		}
	}
	freeSamples(in.queue)
	in.queue = nil
	if err := in.fc.SeekFrame(-1, 0, astiav.NewSeekFlags(astiav.SeekFlagByte)); err != nil {
		return fmt.Errorf("av: rewind %s: %w", in.path, err)
	}
	return nil
}

// seekTo seeks to target and reads ahead to the first video keyframe (first
// packet without video), queueing what it reads; ok if that is shown at or
// before from.
func (in *input) seekTo(ctx context.Context, target, from int64) (ok bool, err error) {
	st := in.video
	if st == nil {
		st = in.audio
	}
	ts := from90k(in.base+target, st.TimeBase())
	if err := in.fc.SeekFrame(st.Index(), ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		return false, err
	}
	freeSamples(in.queue)
	in.queue = nil
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		s, err := in.read()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		s.pts -= in.base
		s.dts -= in.base
		in.queue = append(in.queue, s)
		if in.video == nil || (s.video && s.key) {
			return s.pts <= from, nil
		}
	}
}
