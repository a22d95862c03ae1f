package thumb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asticode/go-astiav"
)

// decodeAt returns the decoded keyframe at or before at in segment; the
// caller frees it.
func decodeAt(ctx context.Context, segment []byte, at time.Duration) (*astiav.Frame, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	in, err := openSegment(segment)
	if err != nil {
		return nil, err
	}
	defer in.close()
	kf, st, err := in.keyframe(ctx, at)
	if err != nil {
		return nil, err
	}
	defer kf.Free()
	return decodeKeyframe(st.CodecParameters(), kf)
}

// decodeKeyframe decodes one self-contained keyframe: send it, flush, and
// take the first picture (the flush releases it even when the stream has
// B-frames and the decoder would otherwise hold it back for reordering).
func decodeKeyframe(par *astiav.CodecParameters, kf *astiav.Packet) (*astiav.Frame, error) {
	codec := astiav.FindDecoder(par.CodecID())
	if codec == nil {
		return nil, fmt.Errorf("thumb: no decoder for %s", par.CodecID())
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, fmt.Errorf("thumb: alloc %s decoder failed", codec.Name())
	}
	defer cc.Free()
	if err := par.ToCodecContext(cc); err != nil {
		return nil, fmt.Errorf("thumb: decoder parameters: %w", err)
	}
	if err := cc.Open(codec, nil); err != nil {
		return nil, fmt.Errorf("thumb: open %s decoder: %w", codec.Name(), err)
	}
	if err := cc.SendPacket(kf); err != nil {
		return nil, fmt.Errorf("thumb: decode keyframe: %w", err)
	}
	if err := cc.SendPacket(nil); err != nil {
		return nil, fmt.Errorf("thumb: flush decoder: %w", err)
	}
	f := astiav.AllocFrame()
	if f == nil {
		return nil, errors.New("thumb: alloc frame failed")
	}
	if err := cc.ReceiveFrame(f); err != nil {
		f.Free()
		if errors.Is(err, astiav.ErrEof) {
			return nil, errors.New("thumb: decode keyframe: no picture")
		}
		return nil, fmt.Errorf("thumb: decode keyframe: %w", err)
	}
	if f.Width() <= 0 || f.Height() <= 0 {
		f.Free()
		return nil, errors.New("thumb: decode keyframe: empty picture")
	}
	return f, nil
}
