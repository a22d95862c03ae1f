package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// AVCConfig is an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.2.4.1),
// as carried in the FLV AVC sequence header.
type AVCConfig struct {
	Profile, Compat, Level byte
	LengthSize             int // bytes of each NALU length prefix: 1, 2 or 4
	SPS, PPS               [][]byte
}

var errShortAVCConfig = errors.New("avc config: truncated")

// ParseAVCConfig parses an AVCDecoderConfigurationRecord.
func ParseAVCConfig(b []byte) (AVCConfig, error) {
	var c AVCConfig
	if len(b) < 6 {
		return c, errShortAVCConfig
	}
	if b[0] != 1 {
		return c, fmt.Errorf("avc config: unsupported version %d", b[0])
	}
	c.Profile, c.Compat, c.Level = b[1], b[2], b[3]
	c.LengthSize = int(b[4]&0x03) + 1
	if c.LengthSize == 3 {
		return c, errors.New("avc config: 3-byte NALU lengths are not allowed")
	}
	p := b[5:]
	nsps := int(p[0] & 0x1f)
	p = p[1:]
	var err error
	if c.SPS, p, err = readParamSets(p, nsps); err != nil {
		return c, fmt.Errorf("avc config: sps: %w", err)
	}
	if len(p) < 1 {
		return c, errShortAVCConfig
	}
	npps := int(p[0])
	if c.PPS, _, err = readParamSets(p[1:], npps); err != nil {
		return c, fmt.Errorf("avc config: pps: %w", err)
	}
	if len(c.SPS) == 0 || len(c.PPS) == 0 {
		return c, errors.New("avc config: no SPS or no PPS")
	}
	// Trailing high-profile extension bytes (chroma format etc.) are ignored:
	// the SPS carries the same facts.
	return c, nil
}

func readParamSets(p []byte, n int) ([][]byte, []byte, error) {
	sets := make([][]byte, 0, min(n, 8))
	for range n {
		if len(p) < 2 {
			return nil, nil, errShortAVCConfig
		}
		l := int(binary.BigEndian.Uint16(p))
		p = p[2:]
		if l == 0 || len(p) < l {
			return nil, nil, errShortAVCConfig
		}
		sets = append(sets, append([]byte(nil), p[:l]...))
		p = p[l:]
	}
	return sets, p, nil
}

// CodecString is the RFC 6381 codec name, e.g. "avc1.64001f".
func (c AVCConfig) CodecString() string {
	return fmt.Sprintf("avc1.%02x%02x%02x", c.Profile, c.Compat, c.Level)
}

// AnnexB is AVCCToAnnexB with c: the VideoConfig method.
func (c *AVCConfig) AnnexB(dst, au []byte) ([]byte, bool, error) {
	return AVCCToAnnexB(dst, au, c)
}

// VideoConfig is a video track's decoder configuration, H.264 or H.265:
// what a muxer needs of either.
type VideoConfig interface {
	// CodecString is the RFC 6381 codec name.
	CodecString() string
	// AnnexB converts one access unit for MPEG-TS (parameter sets before
	// every random access point) and reports whether it is one.
	AnnexB(dst, au []byte) ([]byte, bool, error)
}

var (
	_ VideoConfig = (*AVCConfig)(nil)
	_ VideoConfig = (*HEVCConfig)(nil)
)

// NALU types that matter for muxing.
const (
	naluIDR = 5
	naluSEI = 6
	naluSPS = 7
	naluPPS = 8
	naluAUD = 9
)

var (
	startCode = []byte{0, 0, 0, 1}
	audNALU   = []byte{0, 0, 0, 1, naluAUD, 0xf0}
)

// AVCCToAnnexB converts one AVCC access unit (length-prefixed NALUs) to
// Annex B for MPEG-TS: an AUD first, SPS/PPS before every IDR (so that each
// segment decodes on its own), existing AUDs and parameter sets dropped in
// favour of ours. It reports whether the unit holds an IDR slice.
func AVCCToAnnexB(dst []byte, au []byte, cfg *AVCConfig) ([]byte, bool, error) {
	dst = append(dst, audNALU...)
	// First pass: find whether there is an IDR, to put parameter sets first.
	idr := false
	for p := au; len(p) > 0; {
		nalu, rest, err := nextNALU(p, cfg.LengthSize)
		if err != nil {
			return nil, false, err
		}
		p = rest
		if len(nalu) > 0 && nalu[0]&0x1f == naluIDR {
			idr = true
		}
	}
	if idr {
		for _, s := range cfg.SPS {
			dst = append(append(dst, startCode...), s...)
		}
		for _, s := range cfg.PPS {
			dst = append(append(dst, startCode...), s...)
		}
	}
	for p := au; len(p) > 0; {
		nalu, rest, _ := nextNALU(p, cfg.LengthSize)
		p = rest
		if len(nalu) == 0 {
			continue
		}
		switch nalu[0] & 0x1f {
		case naluAUD:
			continue
		case naluSPS, naluPPS:
			if idr {
				continue
			}
		}
		dst = append(append(dst, startCode...), nalu...)
	}
	return dst, idr, nil
}

func nextNALU(p []byte, lengthSize int) (nalu, rest []byte, err error) {
	if len(p) < lengthSize {
		return nil, nil, errors.New("avc: truncated NALU length")
	}
	var l int
	for i := range lengthSize {
		l = l<<8 | int(p[i])
	}
	p = p[lengthSize:]
	if l > len(p) {
		return nil, nil, fmt.Errorf("avc: NALU length %d beyond the %d bytes left", l, len(p))
	}
	return p[:l], p[l:], nil
}
