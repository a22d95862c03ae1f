package thumb

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// lambdaPerQP is FF_QP2LAMBDA: libav's lambda for one qscale step.
const lambdaPerQP = 118

// encodeJPEG encodes one yuvj420p frame with mjpeg at a fixed qscale.
func encodeJPEG(f *astiav.Frame, q int) ([]byte, error) {
	codec := astiav.FindEncoder(astiav.CodecIDMjpeg)
	if codec == nil {
		return nil, errors.New("thumb: libav has no mjpeg encoder")
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("thumb: alloc mjpeg encoder failed")
	}
	defer cc.Free()
	cc.SetWidth(f.Width())
	cc.SetHeight(f.Height())
	cc.SetPixelFormat(astiav.PixelFormatYuvj420P)
	cc.SetTimeBase(astiav.NewRational(1, 25)) // required, meaningless for a still
	cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagQscale))
	// The encoder takes lambda from each frame's quality, which astiav cannot
	// set, and clamps the resulting qscale to qmin..qmax: pinning both to q
	// is what gives q. global_quality is set too for the record.
	cc.SetQmin(q)
	opts := astiav.NewDictionary()
	defer opts.Free()
	for k, v := range map[string]int{"qmax": q, "global_quality": q * lambdaPerQP} {
		if err := opts.Set(k, strconv.Itoa(v), 0); err != nil {
			return nil, fmt.Errorf("thumb: mjpeg option %s: %w", k, err)
		}
	}
	if err := cc.Open(codec, opts); err != nil {
		return nil, fmt.Errorf("thumb: open mjpeg encoder: %w", err)
	}
	f.SetPts(0)
	if err := cc.SendFrame(f); err != nil {
		return nil, fmt.Errorf("thumb: encode jpeg: %w", err)
	}
	if err := cc.SendFrame(nil); err != nil {
		return nil, fmt.Errorf("thumb: flush mjpeg encoder: %w", err)
	}
	pkt := astiav.AllocPacket()
	if pkt == nil {
		return nil, errors.New("thumb: alloc packet failed")
	}
	defer pkt.Free()
	if err := cc.ReceivePacket(pkt); err != nil {
		return nil, fmt.Errorf("thumb: encode jpeg: %w", err)
	}
	return pkt.Data(), nil
}
