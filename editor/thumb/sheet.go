package thumb

import (
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"
)

const (
	// maxSheetPixels keeps a sheet well inside libav's image size limit.
	maxSheetPixels = 1 << 26
	// padding is AV_INPUT_BUFFER_PADDING_SIZE: packets handed to a decoder
	// must be readable that far past their end.
	padding = 64
)

// sheet is a full-range 4:2:0 picture composed in Go memory: astiav v0.16.0
// copies frame planes out but cannot write into them, so the sheet is built
// here and turned into a frame by the rawvideo decoder.
type sheet struct {
	w, h int
	pix  []byte // Y, then Cb, then Cr, packed; padding bytes past the end
}

func yuv420Size(w, h int) int { return w*h + 2*(w/2)*(h/2) }

func newSheet(w, h int) (*sheet, error) {
	if h > maxSide || w*h > maxSheetPixels {
		return nil, fmt.Errorf("thumb: sprite sheet %dx%d too large", w, h)
	}
	n := yuv420Size(w, h)
	s := &sheet{w: w, h: h, pix: make([]byte, n+padding)}
	// Full-range black: Y 0 (already), chroma at its midpoint.
	for i := w * h; i < n; i++ {
		s.pix[i] = 128
	}
	return s, nil
}

// place copies packed tw×th planes with their top-left corner at (x, y);
// x, y, tw and th are even and the tile lies inside the sheet.
func (s *sheet) place(x, y int, tile []byte, tw, th int) {
	copyPlane(s.pix, s.w, x, y, tile, tw, th)
	cw, ch, tcw, tch := s.w/2, s.h/2, tw/2, th/2
	cb, tcb := s.w*s.h, tw*th
	copyPlane(s.pix[cb:], cw, x/2, y/2, tile[tcb:], tcw, tch)
	copyPlane(s.pix[cb+cw*ch:], cw, x/2, y/2, tile[tcb+tcw*tch:], tcw, tch)
}

func copyPlane(dst []byte, stride, x, y int, src []byte, w, h int) {
	for row := 0; row < h; row++ {
		copy(dst[(y+row)*stride+x:][:w], src[row*w:][:w])
	}
}

// frame hands the sheet to libav as a yuvj420p frame the caller frees. The
// rawvideo decoder wraps the packet's buffer rather than copying it.
func (s *sheet) frame() (*astiav.Frame, error) {
	codec := astiav.FindDecoder(astiav.CodecIDRawvideo)
	if codec == nil {
		return nil, errors.New("thumb: libav has no rawvideo decoder")
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("thumb: alloc rawvideo decoder failed")
	}
	defer cc.Free()
	cc.SetWidth(s.w)
	cc.SetHeight(s.h)
	cc.SetPixelFormat(astiav.PixelFormatYuvj420P)
	if err := cc.Open(codec, nil); err != nil {
		return nil, fmt.Errorf("thumb: open rawvideo decoder: %w", err)
	}
	pkt := astiav.AllocPacket()
	if pkt == nil {
		return nil, errors.New("thumb: alloc packet failed")
	}
	defer pkt.Free()
	if err := pkt.FromData(s.pix); err != nil {
		return nil, fmt.Errorf("thumb: sheet packet: %w", err)
	}
	pkt.SetSize(len(s.pix) - padding)
	if err := cc.SendPacket(pkt); err != nil {
		return nil, fmt.Errorf("thumb: sheet frame: %w", err)
	}
	f := astiav.AllocFrame()
	if f == nil {
		return nil, errors.New("thumb: alloc frame failed")
	}
	if err := cc.ReceiveFrame(f); err != nil {
		f.Free()
		return nil, fmt.Errorf("thumb: sheet frame: %w", err)
	}
	f.SetColorRange(astiav.ColorRangeJpeg)
	return f, nil
}
