// Package av cuts, remuxes and transcodes recorded MPEG-TS with libav
// (go-astiav). Inputs are the recorder's parts: H.264 (Annex B, in-band
// SPS/PPS at every IDR) and ADTS AAC, either of which may be missing.
package av

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Format is the container Cut writes.
type Format string

// Output containers.
const (
	FormatMP4 Format = "mp4"
	FormatTS  Format = "ts"
	FormatHLS Format = "hls"
)

// Mode says how the cut edges are handled.
type Mode string

// Cut modes.
const (
	ModeCopy     Mode = "copy"
	ModeAccurate Mode = "accurate"
)

// Part is one input file and the cut inside it. From and To are offsets from
// the DTS of the file's first video packet (its first packet of any stream if
// it has no video).
type Part struct {
	Path     string
	From, To time.Duration
}

// Transcode asks for scaled, re-encoded output (libx264 + AAC).
type Transcode struct {
	Height       int   // output height, even; width keeps the aspect ratio (even). 0 = keep
	VideoBitrate int64 // bit/s; 0 = a default derived from height
	AudioBitrate int64 // bit/s; 0 = 128000
}

// Options tune Cut.
type Options struct {
	Format     Format
	Mode       Mode
	Transcode  *Transcode         // nil: no transcode
	Progress   func(done float64) // 0..1, optional; called at most a few times a second
	HLSSegment time.Duration      // HLS only; default 4s
	// KeepTimestamps writes the input's own timestamps instead of a
	// timeline from 0: one part, TS, copy or accurate. An HLS clip's edge
	// segment made so continues the source segments it sits between.
	KeepTimestamps bool
}

// Result describes what Cut (or Probe) found in the output.
type Result struct {
	Duration      time.Duration // of the output
	Width, Height int           // 0 if no video
	Size          int64         // bytes written (HLS: all files)
	Files         []string      // HLS: files written in out dir (playlist first); else [out]
}

// Cut writes the clip of parts, in order, to out (a file; for HLS a directory
// that Cut creates, holding index.m3u8 and the segments).
//
// Parts are joined back to back on a timeline starting at 0 with the
// output's first frame. Copy starts each part at the keyframe at or before
// From and stops video at the first packet (decode order) shown at or after
// To, so what it keeps always decodes. Accurate and transcode start at the
// first frame shown at or after From and end with the last before To. On
// failure nothing is left at out.
func Cut(ctx context.Context, parts []Part, out string, opt Options) (Result, error) {
	if err := validate(parts, out, opt); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	initLog()
	j := &job{ctx: ctx, parts: parts, out: out, opt: opt, reserveMoov: opt.Format == FormatMP4}
	res, err := j.run()
	if errors.Is(err, errMoovRoom) {
		j.discard()
		j = &job{ctx: ctx, parts: parts, out: out, opt: opt}
		res, err = j.run()
	}
	if err != nil {
		j.discard()
		return Result{}, err
	}
	return res, nil
}

// validate rejects bad requests before anything is written, so a failure
// never leaves (or clobbers) an output.
func validate(parts []Part, out string, opt Options) error {
	switch opt.Format {
	case FormatMP4, FormatTS, FormatHLS:
	default:
		return fmt.Errorf("av: unknown format %q", opt.Format)
	}
	switch opt.Mode {
	case ModeCopy, ModeAccurate:
	default:
		return fmt.Errorf("av: unknown mode %q", opt.Mode)
	}
	if out == "" {
		return errors.New("av: empty output path")
	}
	if len(parts) == 0 {
		return errors.New("av: no parts")
	}
	for i, p := range parts {
		if p.From < 0 || p.From >= p.To {
			return fmt.Errorf("av: part %d (%s): bad range [%s, %s)", i, p.Path, p.From, p.To)
		}
		f, err := os.Open(p.Path)
		if err != nil {
			return fmt.Errorf("av: part %d: %w", i, err)
		}
		f.Close()
	}
	if t := opt.Transcode; t != nil {
		if t.Height < 0 || t.Height%2 != 0 {
			return fmt.Errorf("av: transcode height %d is not even", t.Height)
		}
		if t.VideoBitrate < 0 || t.AudioBitrate < 0 {
			return errors.New("av: negative transcode bitrate")
		}
	}
	if opt.KeepTimestamps && (len(parts) != 1 || opt.Format != FormatTS || opt.Transcode != nil) {
		return errors.New("av: keeping timestamps needs one part, TS output and no transcode")
	}
	if opt.HLSSegment < 0 {
		return errors.New("av: negative HLS segment duration")
	}
	return nil
}
