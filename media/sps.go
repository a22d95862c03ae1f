package media

import (
	"errors"
	"fmt"
)

// SPSInfo is what rewind needs from an H.264 sequence parameter set.
type SPSInfo struct {
	Width, Height int
}

// bitReader reads an RBSP (emulation prevention bytes already removed).
type bitReader struct {
	b   []byte
	pos int // in bits
}

var errSPSShort = errors.New("sps: truncated")

func (r *bitReader) bit() (uint32, error) {
	if r.pos >= len(r.b)*8 {
		return 0, errSPSShort
	}
	v := uint32(r.b[r.pos/8]>>(7-uint(r.pos%8))) & 1
	r.pos++
	return v, nil
}

func (r *bitReader) bits(n int) (uint32, error) {
	var v uint32
	for range n {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		v = v<<1 | b
	}
	return v, nil
}

// ue reads an unsigned Exp-Golomb code.
func (r *bitReader) ue() (uint32, error) {
	zeros := 0
	for {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		if b == 1 {
			break
		}
		zeros++
		if zeros > 31 {
			return 0, errors.New("sps: exp-golomb code too long")
		}
	}
	v, err := r.bits(zeros)
	if err != nil {
		return 0, err
	}
	return (1<<zeros - 1) + v, nil
}

func (r *bitReader) se() (int32, error) {
	v, err := r.ue()
	if err != nil {
		return 0, err
	}
	if v&1 == 1 {
		return int32((v + 1) / 2), nil
	}
	return -int32(v / 2), nil
}

// cropWindow reads a conformance/frame cropping flag and, when set, its
// four offsets (left, right, top, bottom; zeros when not set): the same
// syntax in H.264 and H.265 SPSs, in units the caller scales.
func (r *bitReader) cropWindow() ([4]uint32, error) {
	var c [4]uint32
	crop, err := r.bit()
	if err != nil || crop == 0 {
		return c, err
	}
	for i := range c {
		if c[i], err = r.ue(); err != nil {
			return c, err
		}
	}
	return c, nil
}

func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// ParseSPS reads the picture size from an H.264 SPS NALU (with its header byte).
func ParseSPS(nalu []byte) (SPSInfo, error) {
	var info SPSInfo
	if len(nalu) < 4 || nalu[0]&0x1f != naluSPS {
		return info, errors.New("sps: not an SPS NALU")
	}
	r := &bitReader{b: unescapeRBSP(nalu[1:])}
	profile, _ := r.bits(8)
	if _, err := r.bits(16); err != nil { // constraint flags + level
		return info, err
	}
	if id, err := r.ue(); err != nil || id > 31 { // seq_parameter_set_id
		if err == nil {
			err = fmt.Errorf("sps: id %d out of range", id)
		}
		return info, err
	}
	chromaFormat := uint32(1)
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		var err error
		if chromaFormat, err = r.ue(); err != nil {
			return info, err
		}
		if chromaFormat == 3 {
			if _, err := r.bit(); err != nil { // separate_colour_plane_flag
				return info, err
			}
		}
		for range 2 { // bit depths
			if _, err := r.ue(); err != nil {
				return info, err
			}
		}
		if _, err := r.bit(); err != nil { // qpprime_y_zero_transform_bypass_flag
			return info, err
		}
		present, err := r.bit()
		if err != nil {
			return info, err
		}
		if present == 1 {
			n := 8
			if chromaFormat == 3 {
				n = 12
			}
			for i := range n {
				has, err := r.bit()
				if err != nil {
					return info, err
				}
				if has == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					if err := skipScalingList(r, size); err != nil {
						return info, err
					}
				}
			}
		}
	}
	if _, err := r.ue(); err != nil { // log2_max_frame_num_minus4
		return info, err
	}
	pocType, err := r.ue()
	if err != nil {
		return info, err
	}
	switch pocType {
	case 0:
		if _, err := r.ue(); err != nil {
			return info, err
		}
	case 1:
		if _, err := r.bit(); err != nil {
			return info, err
		}
		for range 2 {
			if _, err := r.se(); err != nil {
				return info, err
			}
		}
		n, err := r.ue()
		if err != nil {
			return info, err
		}
		if n > 255 {
			return info, fmt.Errorf("sps: %d ref frames in POC cycle", n)
		}
		for range n {
			if _, err := r.se(); err != nil {
				return info, err
			}
		}
	}
	if _, err := r.ue(); err != nil { // max_num_ref_frames
		return info, err
	}
	if _, err := r.bit(); err != nil { // gaps_in_frame_num_value_allowed_flag
		return info, err
	}
	wMbs, err := r.ue()
	if err != nil {
		return info, err
	}
	hMapUnits, err := r.ue()
	if err != nil {
		return info, err
	}
	frameMbsOnly, err := r.bit()
	if err != nil {
		return info, err
	}
	if frameMbsOnly == 0 {
		if _, err := r.bit(); err != nil { // mb_adaptive_frame_field_flag
			return info, err
		}
	}
	if _, err := r.bit(); err != nil { // direct_8x8_inference_flag
		return info, err
	}
	width := int(wMbs+1) * 16
	height := int(hMapUnits+1) * 16 * int(2-frameMbsOnly)
	c, err := r.cropWindow()
	if err != nil {
		return info, err
	}
	cropX, cropY := 2, 2*int(2-frameMbsOnly)
	switch chromaFormat {
	case 0:
		cropX, cropY = 1, int(2-frameMbsOnly)
	case 2:
		cropY = int(2 - frameMbsOnly)
	case 3:
		cropX, cropY = 1, int(2-frameMbsOnly)
	}
	width -= cropX * int(c[0]+c[1])
	height -= cropY * int(c[2]+c[3])
	if width <= 0 || height <= 0 || width > 16384 || height > 16384 {
		return info, fmt.Errorf("sps: implausible size %dx%d", width, height)
	}
	info.Width, info.Height = width, height
	return info, nil
}

func skipScalingList(r *bitReader, size int) error {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			d, err := r.se()
			if err != nil {
				return err
			}
			next = (last + d + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
	return nil
}

// SPSID reads the seq_parameter_set_id of an SPS NALU (with its header
// byte): the editor gives re-encoded pictures an id the source does not use.
func SPSID(nalu []byte) (int, error) {
	if len(nalu) < 4 || nalu[0]&0x1f != naluSPS {
		return 0, errors.New("sps: not an SPS NALU")
	}
	// The id follows profile, constraint flags and level: a few bytes in.
	r := &bitReader{b: unescapeRBSP(nalu[1:min(len(nalu), 32)])}
	if _, err := r.bits(24); err != nil {
		return 0, err
	}
	id, err := r.ue()
	if err != nil {
		return 0, err
	}
	if id > 31 {
		return 0, fmt.Errorf("sps: id %d out of range", id)
	}
	return int(id), nil
}
