package av

import (
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"
)

// encodeGOP decodes g (one GOP, decode order, ending at end) and re-encodes
// the frames shown in [from, to). The encoder runs without B-frames, so its
// packets are given DTS = PTS - delay with a constant delay chosen to stay
// below the copied packets that follow (the next keyframe's own PTS-DTS) and
// above those before (this keyframe's).
func (a *accuratePart) encodeGOP(g []*sample, end, nextDelay int64) (err error) {
	in := a.in
	delay := g[0].pts - g[0].dts
	if !a.wrote {
		delay = max(nextDelay, 0)
	}
	var size int64
	for _, s := range g {
		size += int64(s.pkt.Size())
	}
	span := max(end-g[0].pts, in.vDur)
	bitrate := max(size*8*tickHz/span, 100_000)
	srcID := -1
	if !isHEVC(in) {
		srcID, _ = spsID(g[0].pkt.Data())
	}

	dec, err := openDecoder(in.fc, in.video)
	if err != nil {
		return fmt.Errorf("av: %s: %w", in.path, err)
	}
	defer dec.Free()
	frame := astiav.AllocFrame()
	defer frame.Free()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	var enc *astiav.CodecContext
	defer func() {
		if enc != nil {
			enc.Free()
		}
	}()

	write := func(p *astiav.Packet) error {
		t := a.j.offset + p.Pts() - a.shift
		return a.j.write(a.j.o.video, p, t, t-delay, in.vDur)
	}
	emit := write
	// An HEVC edge ends its coded video sequence with an end-of-sequence
	// NAL unit: a decoder then takes the next IRAP as a fresh start and
	// skips the RASL pictures after it, which lean on source pictures the
	// edge replaced (an HLS edge followed by the next recorded segment of
	// an open-GOP stream). The last packet is held back to carry it.
	var held *astiav.Packet
	defer func() {
		if held != nil {
			held.Free()
		}
	}()
	if isHEVC(in) {
		emit = func(p *astiav.Packet) error {
			if held != nil {
				err := write(held)
				held.Free()
				held = nil
				if err != nil {
					return err
				}
			}
			held = p.Clone()
			if held == nil {
				return errors.New("av: cannot copy packet")
			}
			return nil
		}
	}
	onFrame := func(f *astiav.Frame) error {
		if f.Pts() == astiav.NoPtsValue {
			return nil
		}
		pts := to90k(f.Pts(), in.video.TimeBase()) - in.base
		if pts < a.from || pts >= a.to {
			return nil
		}
		if enc == nil {
			o := edgeOptions(in, f.Width(), f.Height(), f.PixelFormat(), f.SampleAspectRatio(), srcID)
			o.bitrate, o.maxrate, o.bufsize = bitrate, bitrate*3/2, bitrate*2
			var err error
			if enc, err = openEdgeEncoder(in, o); err != nil {
				return err
			}
		}
		f.SetPts(pts)
		f.SetPictureType(astiav.PictureTypeNone)
		if err := enc.SendFrame(f); err != nil {
			return fmt.Errorf("av: encode: %w", err)
		}
		return receivePackets(enc, pkt, emit)
	}

	for _, s := range g {
		if err := a.j.ctx.Err(); err != nil {
			return err
		}
		if err := dec.SendPacket(s.pkt); err != nil {
			return fmt.Errorf("av: %s: decode: %w", in.path, err)
		}
		if err := receiveFrames(dec, frame, onFrame); err != nil {
			return err
		}
	}
	if err := dec.SendPacket(nil); err != nil {
		return fmt.Errorf("av: %s: decode: %w", in.path, err)
	}
	if err := receiveFrames(dec, frame, onFrame); err != nil {
		return err
	}
	if enc == nil {
		return nil
	}
	if err := enc.SendFrame(nil); err != nil {
		return fmt.Errorf("av: encode: %w", err)
	}
	if err := receivePackets(enc, pkt, emit); err != nil {
		return err
	}
	if held != nil {
		last := astiav.AllocPacket()
		defer last.Free()
		if err := last.FromData(append(held.Data(), hevcEOS...)); err != nil {
			return fmt.Errorf("av: end of sequence: %w", err)
		}
		last.SetPts(held.Pts())
		last.SetFlags(held.Flags())
		if err := write(last); err != nil {
			return err
		}
	}
	a.wrote = true
	return nil
}

// hevcEOS is an HEVC end-of-sequence NAL unit (type 36), Annex B.
var hevcEOS = []byte{0, 0, 0, 1, 36 << 1, 1}

// edgeOptions is how edges are encoded: like the source as far as the
// encoder allows, without B-frames, with one keyframe (the first). H.264
// edges get a parameter-set id of their own (srcID+1), so their in-band
// SPS/PPS never replace the source's in a decoder, whatever order it meets
// them in. libx265 always uses id 0; HEVC gets by without: every IRAP, the
// source's (the recorder's) and the edges' (an encoder per edge GOP),
// brings its own VPS/SPS/PPS, and a decoder takes them in before the
// pictures that need them.
func edgeOptions(in *input, w, h int, pf astiav.PixelFormat, sar astiav.Rational, srcID int) x264Options {
	cp := in.video.CodecParameters()
	o := x264Options{
		width: w, height: h, pixFmt: pf, sar: sar,
		fps:     in.fps,
		bitrate: 1_000_000,
		gop:     1 << 16, bframes: 0,
		profile: x264Profile(cp.Profile()), level: x264Level(cp.Level()),
		spsID: (srcID + 1) % 32,
	}
	if isHEVC(in) {
		o.profile, o.level, o.spsID = x265Profile(cp.Profile()), x265Level(cp.Level()), -1
	}
	return o
}

// openEdgeEncoder opens the encoder for in's edges.
func openEdgeEncoder(in *input, o x264Options) (*astiav.CodecContext, error) {
	if isHEVC(in) {
		return openX265(o)
	}
	return openX264(o)
}

// isHEVC reports whether in's video is HEVC (else it is H.264: see
// checkEdgeCodec).
func isHEVC(in *input) bool {
	return in.video != nil && in.video.CodecParameters().CodecID() == astiav.CodecIDHevc
}

// checkEdgeCodec refuses video the edges cannot be re-encoded as.
func checkEdgeCodec(in *input) error {
	if in.video == nil {
		return nil
	}
	switch in.video.CodecParameters().CodecID() {
	case astiav.CodecIDH264, astiav.CodecIDHevc:
		return nil
	}
	return fmt.Errorf("av: %s: accurate mode needs H.264 or HEVC video, not %s", in.path, in.video.CodecParameters().CodecID())
}

// edgeHeaders predicts the SPS/PPS the edge encoder will send in-band for
// in's first video, from a throwaway encoder asked for global headers. MP4
// lists them in avcC next to the source's, so players that only read avcC
// can decode the edges too.
func edgeHeaders(in *input) ([]byte, error) {
	cp := in.video.CodecParameters()
	srcID, _ := spsID(cp.ExtraData())
	o := edgeOptions(in, cp.Width(), cp.Height(), cp.PixelFormat(), cp.SampleAspectRatio(), srcID)
	o.globalHeader = true
	enc, err := openEdgeEncoder(in, o)
	if err != nil {
		return nil, err
	}
	defer enc.Free()
	return append([]byte(nil), enc.ExtraData()...), nil
}
