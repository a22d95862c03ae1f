package av

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/asticode/go-astiav"
)

// openDecoder opens a decoder for st. Timestamps pass through in st's time
// base.
func openDecoder(fc *astiav.FormatContext, st *astiav.Stream) (*astiav.CodecContext, error) {
	cp := st.CodecParameters()
	codec := astiav.FindDecoder(cp.CodecID())
	if codec == nil {
		return nil, fmt.Errorf("av: no decoder for %s", cp.CodecID())
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("av: cannot allocate decoder")
	}
	if err := cp.ToCodecContext(cc); err != nil {
		cc.Free()
		return nil, fmt.Errorf("av: decoder parameters: %w", err)
	}
	cc.SetTimeBase(st.TimeBase())
	if cp.MediaType() == astiav.MediaTypeVideo {
		cc.SetFramerate(fc.GuessFrameRate(st, nil))
		cc.SetThreadCount(0) // auto
	}
	if err := cc.Open(codec, nil); err != nil {
		cc.Free()
		return nil, fmt.Errorf("av: open %s decoder: %w", codec.Name(), err)
	}
	return cc, nil
}

// receiveFrames drains decoded frames into fn; f is reused and unreferenced
// after each call.
func receiveFrames(cc *astiav.CodecContext, f *astiav.Frame, fn func(*astiav.Frame) error) error {
	for {
		if err := cc.ReceiveFrame(f); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return fmt.Errorf("av: decode: %w", err)
		}
		err := fn(f)
		f.Unref()
		if err != nil {
			return err
		}
	}
}

// receivePackets drains encoded packets into fn, which may keep the data
// (the packet is unreferenced afterwards).
func receivePackets(cc *astiav.CodecContext, pkt *astiav.Packet, fn func(*astiav.Packet) error) error {
	for {
		if err := cc.ReceivePacket(pkt); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return fmt.Errorf("av: encode: %w", err)
		}
		err := fn(pkt)
		pkt.Unref()
		if err != nil {
			return err
		}
	}
}

// x264Options is what we ask of libx264.
type x264Options struct {
	width, height int
	pixFmt        astiav.PixelFormat
	sar           astiav.Rational
	fps           astiav.Rational
	bitrate       int64 // bit/s, ABR
	maxrate       int64 // VBV; 0 = none
	bufsize       int64
	gop           int    // keyframe interval in frames
	bframes       int    // -1 = preset default
	profile       string // "" = let x264 choose
	level         string
	spsID         int // -1 = default
	globalHeader  bool
}

// allocEncoder finds the encoder by name and allocates its context with
// what libx264 and libx265 take alike: size, pixel format, aspect, 90 kHz
// time base, frame rate, bit rate, GOP, global header.
func allocEncoder(name string, o x264Options) (*astiav.Codec, *astiav.CodecContext, error) {
	codec := astiav.FindEncoderByName(name)
	if codec == nil {
		return nil, nil, fmt.Errorf("av: %s encoder not available", name)
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, nil, fmt.Errorf("av: cannot allocate %s encoder", name)
	}
	cc.SetWidth(o.width)
	cc.SetHeight(o.height)
	cc.SetPixelFormat(o.pixFmt)
	if o.sar.Num() > 0 {
		cc.SetSampleAspectRatio(o.sar)
	}
	cc.SetTimeBase(tb90k)
	if o.fps.Num() > 0 && o.fps.Den() > 0 {
		cc.SetFramerate(o.fps)
	}
	cc.SetBitRate(o.bitrate)
	if o.gop > 0 {
		cc.SetGopSize(o.gop)
	}
	if o.globalHeader {
		cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	}
	return codec, cc, nil
}

// openX264 opens a libx264 encoder working in 90 kHz ticks.
func openX264(o x264Options) (*astiav.CodecContext, error) {
	codec, cc, err := allocEncoder("libx264", o)
	if err != nil {
		return nil, err
	}
	opts := astiav.NewDictionary()
	defer opts.Free()
	set := func(k, v string) { _ = opts.Set(k, v, astiav.NewDictionaryFlags()) }
	set("preset", "veryfast")
	if o.maxrate > 0 {
		set("maxrate", strconv.FormatInt(o.maxrate, 10))
		set("bufsize", strconv.FormatInt(o.bufsize, 10))
	}
	if o.bframes >= 0 {
		set("bf", strconv.Itoa(o.bframes))
	}
	if o.profile != "" {
		set("profile", o.profile)
	}
	if o.level != "" {
		set("level", o.level)
	}
	if o.spsID >= 0 {
		set("x264-params", "sps-id="+strconv.Itoa(o.spsID))
	}
	if err := cc.Open(codec, opts); err != nil {
		cc.Free()
		return nil, fmt.Errorf("av: open libx264 %dx%d %s: %w", o.width, o.height, o.pixFmt, err)
	}
	return cc, nil
}

// x264Profile maps a source H.264 profile to the libx264 profile name that
// can reproduce it ("" if none fits).
func x264Profile(p astiav.Profile) string {
	switch p {
	case astiav.ProfileH264Baseline, astiav.ProfileH264ConstrainedBaseline:
		return "baseline"
	case astiav.ProfileH264Main:
		return "main"
	case astiav.ProfileH264High:
		return "high"
	case astiav.ProfileH264High10:
		return "high10"
	case astiav.ProfileH264High422:
		return "high422"
	case astiav.ProfileH264High444, astiav.ProfileH264High444Predictive:
		return "high444"
	}
	return ""
}

// x264Level formats level_idc (e.g. 31) as libx264 wants it ("3.1").
func x264Level(l astiav.Level) string {
	if l <= 0 {
		return ""
	}
	return strconv.Itoa(int(l)/10) + "." + strconv.Itoa(int(l)%10)
}

// tagHEV1 is the MP4 sample entry for HEVC with parameter sets in-band.
var tagHEV1 = astiav.CodecTag('h' | 'e'<<8 | 'v'<<16 | '1'<<24)

// openX265 opens a libx265 encoder working in 90 kHz ticks, from the same
// options as libx264 (spsID is not used: x265 has no such setting).
func openX265(o x264Options) (*astiav.CodecContext, error) {
	codec, cc, err := allocEncoder("libx265", o)
	if err != nil {
		return nil, err
	}
	// Without global headers FFmpeg's wrapper has x265 repeat VPS/SPS/PPS
	// before every keyframe, annexb; scenecut off keeps the one keyframe.
	params := []string{"log-level=error", "scenecut=0", "info=0"}
	if o.gop > 0 {
		params = append(params, "keyint="+strconv.Itoa(o.gop))
	}
	if o.bframes >= 0 {
		params = append(params, "bframes="+strconv.Itoa(o.bframes))
	}
	if o.maxrate > 0 {
		params = append(params, "vbv-maxrate="+strconv.FormatInt(o.maxrate/1000, 10), "vbv-bufsize="+strconv.FormatInt(o.bufsize/1000, 10))
	}
	if o.level != "" {
		params = append(params, "level-idc="+o.level)
	}
	opts := astiav.NewDictionary()
	defer opts.Free()
	set := func(k, v string) { _ = opts.Set(k, v, astiav.NewDictionaryFlags()) }
	// ultrafast: HEVC encodes several times slower than H.264 at the same
	// preset, and edges are short.
	set("preset", "ultrafast")
	if o.profile != "" {
		set("profile", o.profile)
	}
	set("x265-params", strings.Join(params, ":"))
	if err := cc.Open(codec, opts); err != nil {
		cc.Free()
		return nil, fmt.Errorf("av: open libx265 %dx%d %s: %w", o.width, o.height, o.pixFmt, err)
	}
	return cc, nil
}

// x265Profile maps a source HEVC profile to the libx265 profile name that
// can reproduce it ("" if none fits: x265 then picks from the pixel format).
func x265Profile(p astiav.Profile) string {
	switch p {
	case astiav.ProfileHevcMain:
		return "main"
	case astiav.ProfileHevcMain10:
		return "main10"
	case astiav.ProfileHevcMainStillPicture:
		return "mainstillpicture"
	}
	return ""
}

// x265Level formats general_level_idc (30 × the level, e.g. 93) as x265
// wants it ("3.1").
func x265Level(l astiav.Level) string {
	if l <= 0 || l%3 != 0 {
		return ""
	}
	l /= 3
	return strconv.Itoa(int(l)/10) + "." + strconv.Itoa(int(l)%10)
}
