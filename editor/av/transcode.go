package av

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/asticode/go-astiav"
)

// transcodeCutter decodes [From, To) of every part and encodes one scaled
// libx264 stream and one AAC stream across all of them.
type transcodeCutter struct {
	venc    *astiav.CodecContext
	vpkt    *astiav.Packet
	vDur    int64 // 90 kHz frame duration, for packets libx264 leaves without
	width   int
	height  int
	aenc    *astiav.CodecContext
	apkt    *astiav.Packet
	aRate   int
	aLayout string
	// repack cuts audio into the encoder's frame size. It outlives the
	// parts so only the very last frame may be short, as AAC requires.
	repack *graph
	aNext  int64 // next audio sample on the output timeline, 1/aRate
}

const defaultAudioBitrate = 128_000

// defaultVideoBitrate is a plain ladder for libx264 at veryfast.
func defaultVideoBitrate(height int) int64 {
	switch {
	case height <= 240:
		return 400_000
	case height <= 360:
		return 800_000
	case height <= 480:
		return 1_200_000
	case height <= 720:
		return 2_500_000
	case height <= 1080:
		return 4_500_000
	}
	return 8_000_000
}

func (c *transcodeCutter) setup(j *job, in *input) error {
	if in.video != nil {
		if err := c.setupVideo(j, in); err != nil {
			return err
		}
	}
	if in.audio != nil {
		if err := c.setupAudio(j, in); err != nil {
			return err
		}
	}
	return nil
}

func (c *transcodeCutter) setupVideo(j *job, in *input) error {
	t := j.opt.Transcode
	cp := in.video.CodecParameters()
	srcW, srcH := cp.Width(), cp.Height()
	dispW := float64(srcW)
	if sar := cp.SampleAspectRatio(); sar.Num() > 0 && sar.Den() > 0 {
		dispW = dispW * float64(sar.Num()) / float64(sar.Den())
	}
	c.height = t.Height
	if c.height == 0 {
		c.height = srcH &^ 1
	}
	c.width = int(math.Round(dispW*float64(c.height)/float64(srcH)/2)) * 2
	if c.width < 2 || c.height < 2 {
		return fmt.Errorf("av: %s: cannot scale %dx%d to height %d", in.path, srcW, srcH, t.Height)
	}
	fps := in.fps
	gop := max(int(math.Round(2*fps.Float64())), 1)
	br := t.VideoBitrate
	if br == 0 {
		br = defaultVideoBitrate(c.height)
	}
	var err error
	c.venc, err = openX264(x264Options{
		width: c.width, height: c.height, pixFmt: astiav.PixelFormatYuv420P,
		sar: astiav.NewRational(1, 1), fps: fps,
		// ABR held near its target by a VBV a little above it.
		bitrate: br, maxrate: br * 5 / 4, bufsize: br * 2,
		gop: gop, bframes: -1, spsID: -1,
		globalHeader: j.o.globalHeader(),
	})
	if err != nil {
		return err
	}
	c.vpkt = astiav.AllocPacket()
	c.vDur = in.vDur
	j.o.video, err = j.o.addEncoded(c.venc)
	return err
}

func (c *transcodeCutter) setupAudio(j *job, in *input) error {
	cp := in.audio.CodecParameters()
	codec := astiav.FindEncoder(astiav.CodecIDAac)
	if codec == nil {
		return errors.New("av: aac encoder not available")
	}
	if c.aenc = astiav.AllocCodecContext(codec); c.aenc == nil {
		return errors.New("av: cannot allocate aac encoder")
	}
	c.aRate = cp.SampleRate()
	layout := encoderLayout(cp.ChannelLayout())
	c.aLayout = layout.String()
	br := j.opt.Transcode.AudioBitrate
	if br == 0 {
		br = defaultAudioBitrate
	}
	c.aenc.SetSampleFormat(astiav.SampleFormatFltp)
	c.aenc.SetSampleRate(c.aRate)
	c.aenc.SetChannelLayout(layout)
	c.aenc.SetBitRate(br)
	c.aenc.SetTimeBase(astiav.NewRational(1, c.aRate))
	if j.o.globalHeader() {
		c.aenc.SetFlags(c.aenc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	}
	if err := c.aenc.Open(codec, nil); err != nil {
		return fmt.Errorf("av: open aac encoder: %w", err)
	}
	c.apkt = astiav.AllocPacket()
	var err error
	if j.o.audio, err = j.o.addEncoded(c.aenc); err != nil {
		return err
	}
	c.repack, err = newGraph(true, astiav.FilterArgs{
		"sample_fmt":     astiav.SampleFormatFltp.Name(),
		"sample_rate":    strconv.Itoa(c.aRate),
		"channel_layout": c.aLayout,
		"time_base":      c.aenc.TimeBase().String(),
	}, "asetnsamples=n="+strconv.Itoa(c.aenc.FrameSize())+":p=0")
	return err
}

// encoderLayout picks the layout to encode: sources that only give a
// channel count get the usual layout for it.
func encoderLayout(l astiav.ChannelLayout) astiav.ChannelLayout {
	switch l.NbChannels() {
	case 1:
		return astiav.ChannelLayoutMono
	case 2:
		return astiav.ChannelLayoutStereo
	}
	return l
}

func (c *transcodeCutter) close() {
	if c.repack != nil {
		c.repack.free()
	}
	for _, cc := range []*astiav.CodecContext{c.venc, c.aenc} {
		if cc != nil {
			cc.Free()
		}
	}
	for _, p := range []*astiav.Packet{c.vpkt, c.apkt} {
		if p != nil {
			p.Free()
		}
	}
}

// flush drains the audio repacker and both encoders after the last part.
func (c *transcodeCutter) flush(j *job) error {
	if c.aenc != nil {
		if err := c.repack.push(nil, func(f *astiav.Frame) error { return c.encodeAudio(j, f) }); err != nil {
			return err
		}
		if err := c.encodeAudio(j, nil); err != nil {
			return err
		}
	}
	if c.venc != nil {
		return c.encodeVideo(j, nil)
	}
	return nil
}

// encodeVideo sends f (nil: flush) to libx264 and writes what comes out.
func (c *transcodeCutter) encodeVideo(j *job, f *astiav.Frame) error {
	if f != nil {
		f.SetPictureType(astiav.PictureTypeNone)
	}
	if err := c.venc.SendFrame(f); err != nil {
		return fmt.Errorf("av: encode video: %w", err)
	}
	return receivePackets(c.venc, c.vpkt, func(p *astiav.Packet) error {
		dur := p.Duration()
		if dur <= 0 {
			dur = c.vDur
		}
		return j.write(j.o.video, p, p.Pts(), p.Dts(), dur)
	})
}

// encodeAudio sends f (nil: flush) to the AAC encoder and writes what comes
// out.
func (c *transcodeCutter) encodeAudio(j *job, f *astiav.Frame) error {
	if err := c.aenc.SendFrame(f); err != nil {
		return fmt.Errorf("av: encode audio: %w", err)
	}
	tb := c.aenc.TimeBase()
	return receivePackets(c.aenc, c.apkt, func(p *astiav.Packet) error {
		t := to90k(p.Pts(), tb)
		return j.write(j.o.audio, p, t, t, to90k(p.Duration(), tb))
	})
}

func (c *transcodeCutter) cut(j *job, in *input, p Part) (int64, error) {
	tp := &transcodePart{c: c, j: j, in: in, from: ticks(p.From), to: ticks(p.To), vEnd: j.offset, aEnd: j.offset}
	defer tp.free()
	if err := tp.open(); err != nil {
		return 0, err
	}
	sf := startFinder{from: tp.from, noVideo: tp.vdec == nil}
	defer sf.free()
	for !tp.videoDone || !tp.audioDone {
		s, err := in.next(j.ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		if (s.video && tp.vdec == nil) || (!s.video && tp.adec == nil) {
			s.free()
			continue
		}
		if err := tp.feedAll(sf.push(s)); err != nil {
			return 0, err
		}
	}
	if !sf.started {
		sf.finish()
		if err := tp.feedAll(sf.take()); err != nil {
			return 0, err
		}
	}
	if err := tp.drain(); err != nil {
		return 0, err
	}
	switch {
	case tp.vAny:
		return tp.vEnd, nil
	case tp.aAny:
		return tp.aEnd, nil
	}
	return j.offset, nil
}
