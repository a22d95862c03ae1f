package av

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/asticode/go-astiav"
)

// input is one opened part. Its samples carry 90 kHz timestamps relative to
// base, the clock Part.From and Part.To are given in.
type input struct {
	path  string
	fc    *astiav.FormatContext
	video *astiav.Stream  // nil if the file has no (usable) video
	audio *astiav.Stream  // nil if the file has no audio
	base  int64           // 90 kHz: DTS of the first video packet, else of the first packet
	queue []*sample       // read ahead while looking for base
	fps   astiav.Rational // video frame rate, guessed (30 if unknown)
	vDur  int64           // 90 kHz fallback video packet duration
	aDur  int64           // 90 kHz fallback audio packet duration
}

// sample is one demuxed packet; the caller owns pkt and must free it.
type sample struct {
	pkt   *astiav.Packet
	video bool
	key   bool
	pts   int64 // 90 kHz, relative to the part's base
	dts   int64
	dur   int64
}

func (s *sample) free() {
	if s != nil && s.pkt != nil {
		s.pkt.Free()
		s.pkt = nil
	}
}

func freeSamples(ss []*sample) {
	for _, s := range ss {
		s.free()
	}
}

func openInput(path string) (in *input, err error) {
	fc := astiav.AllocFormatContext()
	if fc == nil {
		return nil, fmt.Errorf("av: open %s: cannot allocate format context", path)
	}
	if err := fc.OpenInput(path, nil, nil); err != nil {
		fc.Free()
		return nil, fmt.Errorf("av: open %s: %w", path, err)
	}
	in = &input{path: path, fc: fc}
	defer func() {
		if err != nil {
			in.close()
			in = nil
		}
	}()
	if err := fc.FindStreamInfo(nil); err != nil {
		return nil, fmt.Errorf("av: open %s: find stream info: %w", path, err)
	}
	for _, st := range fc.Streams() {
		switch st.CodecParameters().MediaType() {
		case astiav.MediaTypeVideo:
			if in.video == nil && st.CodecParameters().Width() > 0 {
				in.video = st
			}
		case astiav.MediaTypeAudio:
			if in.audio == nil && st.CodecParameters().SampleRate() > 0 {
				in.audio = st
			}
		}
	}
	if in.video == nil && in.audio == nil {
		return nil, fmt.Errorf("av: open %s: no audio or video stream", path)
	}
	in.fps, in.vDur = astiav.NewRational(30, 1), 3000
	if in.video != nil {
		if r := fc.GuessFrameRate(in.video, nil); r.Num() > 0 && r.Den() > 0 {
			in.fps = r
			in.vDur = max(astiav.RescaleQ(1, astiav.NewRational(r.Den(), r.Num()), tb90k), 1)
		}
	}
	in.aDur = 1920 // 1024 samples at 48 kHz
	if in.audio != nil {
		cp := in.audio.CodecParameters()
		n := cp.FrameSize()
		if n <= 0 {
			n = 1024
		}
		in.aDur = int64(n) * tickHz / int64(cp.SampleRate())
	}
	if err := in.findBase(); err != nil {
		return nil, err
	}
	return in, nil
}

// findBase reads up to the first video packet, queueing what it read.
func (in *input) findBase() error {
	for {
		s, err := in.read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		in.queue = append(in.queue, s)
		if s.video || in.video == nil {
			in.base = s.dts
			break
		}
	}
	if len(in.queue) == 0 {
		return fmt.Errorf("av: open %s: no packets", in.path)
	}
	if last := in.queue[len(in.queue)-1]; !last.video && in.video != nil {
		// A video stream without packets: treat the file as audio only.
		in.video = nil
		in.base = in.queue[0].dts
	}
	for _, s := range in.queue {
		s.pts -= in.base
		s.dts -= in.base
	}
	return nil
}

func (in *input) close() {
	freeSamples(in.queue)
	in.queue = nil
	in.fc.CloseInput()
	in.fc.Free()
}

// next returns the next audio or video sample, io.EOF at the end.
func (in *input) next(ctx context.Context) (*sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(in.queue) > 0 {
		s := in.queue[0]
		in.queue[0] = nil
		in.queue = in.queue[1:]
		return s, nil
	}
	s, err := in.read()
	if err != nil {
		return nil, err
	}
	s.pts -= in.base
	s.dts -= in.base
	return s, nil
}

// read demuxes the next packet of the selected streams with absolute 90 kHz
// timestamps.
func (in *input) read() (*sample, error) {
	for {
		pkt := astiav.AllocPacket()
		if err := in.fc.ReadFrame(pkt); err != nil {
			pkt.Free()
			if errors.Is(err, astiav.ErrEof) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("av: read %s: %w", in.path, err)
		}
		var st *astiav.Stream
		switch {
		case in.video != nil && pkt.StreamIndex() == in.video.Index():
			st = in.video
		case in.audio != nil && pkt.StreamIndex() == in.audio.Index():
			st = in.audio
		}
		pts, dts := pkt.Pts(), pkt.Dts()
		if pts == astiav.NoPtsValue {
			pts = dts
		}
		if dts == astiav.NoPtsValue {
			dts = pts
		}
		// Packets flagged corrupt are kept: concatenated segments restart
		// the TS continuity counters, and the demuxer flags the (intact)
		// packet that spans each join.
		if st == nil || pts == astiav.NoPtsValue {
			pkt.Free()
			continue
		}
		s := &sample{
			pkt:   pkt,
			video: st == in.video,
			key:   pkt.Flags().Has(astiav.PacketFlagKey),
			pts:   to90k(pts, st.TimeBase()),
			dts:   to90k(dts, st.TimeBase()),
			dur:   to90k(pkt.Duration(), st.TimeBase()),
		}
		if s.dur <= 0 {
			s.dur = in.aDur
			if s.video {
				s.dur = in.vDur
			}
		}
		return s, nil
	}
}
