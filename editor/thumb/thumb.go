// Package thumb makes JPEG stills and scrubbing sprite sheets from recorded
// MPEG-TS segments with libav (go-astiav). It decodes keyframes only: every
// segment starts with an IDR that carries its SPS/PPS, so one packet and a
// flush give a picture without decoding the GOP behind it.
package thumb

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoVideo reports a segment (or every tile of a sprite) without a
// decodable video keyframe.
var ErrNoVideo = errors.New("thumb: no video")

// Options for a still.
type Options struct {
	Width   int // output width, even; height keeps aspect ratio (even). 0 = source width
	Quality int // JPEG quality 1..31 in libav qscale terms (2 best); 0 = 4
}

// Frame returns a JPEG of the frame of the segment at offset `at` from the
// segment's first video DTS: the last keyframe at or before it (keyframe-only
// decode is the cheap path and is what callers want; if at is past the end,
// the last keyframe). Returns ErrNoVideo if the segment has no video.
func Frame(ctx context.Context, segment []byte, at time.Duration, opt Options) ([]byte, error) {
	q, err := quality(opt.Quality)
	if err != nil {
		return nil, err
	}
	if opt.Width < 0 || opt.Width > maxSide {
		return nil, fmt.Errorf("thumb: width %d out of range 0..%d", opt.Width, maxSide)
	}
	src, err := decodeAt(ctx, segment, at)
	if err != nil {
		return nil, err
	}
	defer src.Free()
	w, h, err := outSize(src.Width(), src.Height(), opt.Width)
	if err != nil {
		return nil, err
	}
	dst, err := scale(src, w, h)
	if err != nil {
		return nil, err
	}
	defer dst.Free()
	return encodeJPEG(dst, q)
}

// quality maps Options.Quality to a qscale, rejecting values libav would clip.
func quality(q int) (int, error) {
	switch {
	case q == 0:
		return 4, nil
	case q < 1 || q > 31:
		return 0, fmt.Errorf("thumb: quality %d out of range 1..31", q)
	}
	return q, nil
}

// ctxErr wraps a cancelled context so errors.Is still finds it.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("thumb: %w", err)
	}
	return nil
}
