package thumb

import (
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"
)

// maxSide bounds any output dimension: well inside JPEG's 65535 and
// libav's image size check, and keeps allocations sane.
const maxSide = 16384

// outSize picks an even width (the source's when w is 0) and the even
// height that keeps the source aspect ratio. 4:2:0 chroma needs even sizes.
func outSize(srcW, srcH, w int) (int, int, error) {
	if srcW <= 0 || srcH <= 0 {
		return 0, 0, fmt.Errorf("thumb: bad source size %dx%d", srcW, srcH)
	}
	if w == 0 {
		w = srcW
	}
	w = max(w&^1, 2)
	h := max(int((int64(srcH)*int64(w)+int64(srcW))/(2*int64(srcW)))*2, 2)
	if w > maxSide || h > maxSide {
		return 0, 0, fmt.Errorf("thumb: output %dx%d over %d", w, h, maxSide)
	}
	return w, h, nil
}

// scale converts src to full-range 4:2:0 (what mjpeg wants) at w×h; the
// caller frees the result.
func scale(src *astiav.Frame, w, h int) (*astiav.Frame, error) {
	sws, err := astiav.CreateSoftwareScaleContext(src.Width(), src.Height(), src.PixelFormat(),
		w, h, astiav.PixelFormatYuvj420P,
		astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBicubic))
	if err != nil {
		return nil, fmt.Errorf("thumb: scaler %s %dx%d to %dx%d: %w", src.PixelFormat(), src.Width(), src.Height(), w, h, err)
	}
	defer sws.Free()
	dst := astiav.AllocFrame()
	if dst == nil {
		return nil, errors.New("thumb: alloc frame failed")
	}
	// sws_scale_frame allocates dst's buffer from the context's output size.
	if err := sws.ScaleFrame(src, dst); err != nil {
		dst.Free()
		return nil, fmt.Errorf("thumb: scale: %w", err)
	}
	dst.SetColorRange(astiav.ColorRangeJpeg)
	return dst, nil
}
