package av

import (
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// transcodePart is one part going through decoders and per-part filter
// graphs (a part may differ from the first in size or sample format) into
// the cutter's encoders.
type transcodePart struct {
	c        *transcodeCutter
	j        *job
	in       *input
	from, to int64
	vdec     *astiav.CodecContext
	adec     *astiav.CodecContext
	vgraph   *graph // scale to the output size
	agraph   *graph // resample to the encoder's format
	vframe   *astiav.Frame
	aframe   *astiav.Frame
	// origin is the source PTS put at the part's start on the output
	// timeline: the first frame shown at or after From (From without
	// video). Audio waits in aq until it is known.
	origin    int64
	originSet bool
	aq        []*sample
	videoDone bool
	audioDone bool
	vAny      bool
	aAny      bool
	vEnd      int64 // 90 kHz output timeline: end of the last frame sent on
	aEnd      int64
}

func (tp *transcodePart) open() (err error) {
	tp.vframe, tp.aframe = astiav.AllocFrame(), astiav.AllocFrame()
	if tp.c.venc != nil && tp.in.video != nil {
		if tp.vdec, err = openDecoder(tp.in.fc, tp.in.video); err != nil {
			return fmt.Errorf("av: %s: %w", tp.in.path, err)
		}
	}
	if tp.c.aenc != nil && tp.in.audio != nil {
		if tp.adec, err = openDecoder(tp.in.fc, tp.in.audio); err != nil {
			return fmt.Errorf("av: %s: %w", tp.in.path, err)
		}
	}
	tp.videoDone, tp.audioDone = tp.vdec == nil, tp.adec == nil
	if tp.vdec == nil {
		tp.origin, tp.originSet = tp.from, true
	}
	return nil
}

func (tp *transcodePart) free() {
	for _, g := range []*graph{tp.vgraph, tp.agraph} {
		if g != nil {
			g.free()
		}
	}
	for _, cc := range []*astiav.CodecContext{tp.vdec, tp.adec} {
		if cc != nil {
			cc.Free()
		}
	}
	for _, f := range []*astiav.Frame{tp.vframe, tp.aframe} {
		if f != nil {
			f.Free()
		}
	}
	freeSamples(tp.aq)
	tp.aq = nil
}

// setOrigin fixes the origin and decodes the audio held for it.
func (tp *transcodePart) setOrigin(pts int64) error {
	if tp.originSet {
		return nil
	}
	tp.origin, tp.originSet = pts, true
	for i, s := range tp.aq {
		err := tp.decodeAudio(s)
		s.free()
		if err != nil {
			freeSamples(tp.aq[i+1:])
			tp.aq = nil
			return err
		}
	}
	tp.aq = nil
	return nil
}

// feedAll decodes ss (nil is fine), taking them over.
func (tp *transcodePart) feedAll(ss []*sample) error {
	for i, s := range ss {
		if err := tp.feed(s); err != nil {
			freeSamples(ss[i+1:])
			return err
		}
	}
	return nil
}

// feed decodes s, or holds it (audio before the origin is known); it frees
// s once done with it.
func (tp *transcodePart) feed(s *sample) error {
	if s.video {
		defer s.free()
		// Nothing decoded after a packet at or past To is shown before it.
		if tp.videoDone || s.dts >= tp.to {
			tp.videoDone = true
			return nil
		}
		if err := tp.vdec.SendPacket(s.pkt); err != nil {
			return fmt.Errorf("av: %s: decode video: %w", tp.in.path, err)
		}
		return receiveFrames(tp.vdec, tp.vframe, tp.videoFrame)
	}
	if tp.audioDone || s.pts >= tp.to {
		tp.audioDone = true
		s.free()
		return nil
	}
	// Two frames ahead of From prime the AAC decoder's overlap.
	if s.pts < tp.from-2*tp.in.aDur {
		s.free()
		return nil
	}
	if !tp.originSet {
		tp.aq = append(tp.aq, s)
		return nil
	}
	defer s.free()
	return tp.decodeAudio(s)
}

func (tp *transcodePart) decodeAudio(s *sample) error {
	if err := tp.adec.SendPacket(s.pkt); err != nil {
		return fmt.Errorf("av: %s: decode audio: %w", tp.in.path, err)
	}
	return receiveFrames(tp.adec, tp.aframe, tp.audioFrame)
}

// drain flushes the decoders and the part's graphs into the encoders.
func (tp *transcodePart) drain() error {
	if tp.vdec != nil {
		if err := tp.vdec.SendPacket(nil); err != nil {
			return fmt.Errorf("av: %s: decode video: %w", tp.in.path, err)
		}
		if err := receiveFrames(tp.vdec, tp.vframe, tp.videoFrame); err != nil {
			return err
		}
		if tp.vgraph != nil {
			if err := tp.vgraph.push(nil, tp.scaled); err != nil {
				return err
			}
		}
	}
	if err := tp.setOrigin(tp.from); err != nil { // no video frame in range
		return err
	}
	if tp.adec != nil {
		if err := tp.adec.SendPacket(nil); err != nil {
			return fmt.Errorf("av: %s: decode audio: %w", tp.in.path, err)
		}
		if err := receiveFrames(tp.adec, tp.aframe, tp.audioFrame); err != nil {
			return err
		}
		if tp.agraph != nil {
			if err := tp.agraph.push(nil, tp.resampled); err != nil {
				return err
			}
		}
	}
	return nil
}

// videoFrame takes a decoded frame inside [from, to) onto the output
// timeline and through the scaler.
func (tp *transcodePart) videoFrame(f *astiav.Frame) error {
	if f.Pts() == astiav.NoPtsValue {
		return nil
	}
	pts := to90k(f.Pts(), tp.in.video.TimeBase()) - tp.in.base
	if pts < tp.from || pts >= tp.to {
		return nil
	}
	if err := tp.setOrigin(pts); err != nil {
		return err
	}
	out := tp.j.offset + pts - tp.origin
	f.SetPts(out)
	if tp.vgraph == nil {
		sar := f.SampleAspectRatio()
		if sar.Num() <= 0 || sar.Den() <= 0 {
			sar = astiav.NewRational(1, 1)
		}
		var err error
		tp.vgraph, err = newGraph(false, astiav.FilterArgs{
			"pix_fmt":      strconv.Itoa(int(f.PixelFormat())),
			"video_size":   strconv.Itoa(f.Width()) + "x" + strconv.Itoa(f.Height()),
			"time_base":    tb90k.String(),
			"pixel_aspect": sar.String(),
		}, fmt.Sprintf("scale=%d:%d,setsar=1,format=yuv420p", tp.c.width, tp.c.height))
		if err != nil {
			return err
		}
	}
	tp.vAny = true
	tp.vEnd = max(tp.vEnd, out+tp.in.vDur)
	return tp.vgraph.push(f, tp.scaled)
}

func (tp *transcodePart) scaled(f *astiav.Frame) error {
	return tp.c.encodeVideo(tp.j, f)
}

// audioFrame takes a decoded frame inside [from, to) onto the output
// timeline and through the resampler.
func (tp *transcodePart) audioFrame(f *astiav.Frame) error {
	if f.Pts() == astiav.NoPtsValue {
		return nil
	}
	pts := to90k(f.Pts(), tp.in.audio.TimeBase()) - tp.in.base
	if pts < tp.origin || pts >= tp.to {
		return nil
	}
	rate := f.SampleRate()
	tb := astiav.NewRational(1, rate)
	out := tp.j.offset + pts - tp.origin
	f.SetPts(from90k(out, tb))
	layout := encoderLayout(f.ChannelLayout())
	f.SetChannelLayout(layout)
	if tp.agraph == nil {
		var err error
		tp.agraph, err = newGraph(true, astiav.FilterArgs{
			"sample_fmt":     f.SampleFormat().Name(),
			"sample_rate":    strconv.Itoa(rate),
			"channel_layout": layout.String(),
			"time_base":      tb.String(),
		}, fmt.Sprintf("aresample=%d,aformat=sample_fmts=fltp:channel_layouts=%s", tp.c.aRate, tp.c.aLayout))
		if err != nil {
			return err
		}
	}
	tp.aAny = true
	tp.aEnd = max(tp.aEnd, out+int64(f.NbSamples())*tickHz/int64(rate))
	return tp.agraph.push(f, tp.resampled)
}

// resampled restamps a converted frame so the encoder sees no overlap
// between parts, and queues it for fixed-size framing.
func (tp *transcodePart) resampled(f *astiav.Frame) error {
	c := tp.c
	pts := astiav.RescaleQ(f.Pts(), tp.agraph.sink.Inputs()[0].TimeBase(), c.aenc.TimeBase())
	pts = max(pts, c.aNext)
	f.SetPts(pts)
	c.aNext = pts + int64(f.NbSamples())
	return c.repack.push(f, func(f *astiav.Frame) error { return c.encodeAudio(tp.j, f) })
}
