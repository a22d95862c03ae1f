package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// HEVC NAL unit types (ITU-T H.265 table 7-1) that matter for muxing.
const (
	HEVCNaluIRAPFirst = 16 // BLA_W_LP
	HEVCNaluIRAPLast  = 23 // RSV_IRAP_VCL23
	HEVCNaluVPS       = 32
	HEVCNaluSPS       = 33
	HEVCNaluPPS       = 34
	HEVCNaluAUD       = 35
)

// hevcAUD is an access unit delimiter, pic_type 2 (I, P or B slices), as
// ffmpeg and x265 write it.
var hevcAUD = []byte{0, 0, 0, 1, HEVCNaluAUD << 1, 1, 0x50}

// HEVCNaluType is the type of an HEVC NAL unit (with its 2-byte header).
func HEVCNaluType(nalu []byte) int {
	if len(nalu) == 0 {
		return -1
	}
	return int(nalu[0]>>1) & 0x3f
}

// HEVCConfig is an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15
// 8.3.3.1), as carried in the enhanced RTMP SequenceStart.
type HEVCConfig struct {
	ProfileSpace byte   // general_profile_space
	Tier         byte   // general_tier_flag
	Profile      byte   // general_profile_idc
	Compat       uint32 // general_profile_compatibility_flags
	Constraints  [6]byte
	Level        byte // general_level_idc
	LengthSize   int  // bytes of each NALU length prefix: 1, 2 or 4
	VPS, SPS     [][]byte
	PPS          [][]byte
}

const hevcConfigHeader = 23

var errShortHEVCConfig = errors.New("hevc config: truncated")

// ParseHEVCConfig parses an HEVCDecoderConfigurationRecord. Arrays other
// than VPS, SPS and PPS (SEI) are skipped: they are not needed to decode.
func ParseHEVCConfig(b []byte) (HEVCConfig, error) {
	var c HEVCConfig
	if len(b) < hevcConfigHeader {
		return c, errShortHEVCConfig
	}
	if b[0] != 1 {
		return c, fmt.Errorf("hevc config: unsupported version %d", b[0])
	}
	c.ProfileSpace, c.Tier, c.Profile = b[1]>>6, b[1]>>5&1, b[1]&0x1f
	c.Compat = binary.BigEndian.Uint32(b[2:])
	copy(c.Constraints[:], b[6:12])
	c.Level = b[12]
	c.LengthSize = int(b[21]&0x03) + 1
	if c.LengthSize == 3 {
		return c, errors.New("hevc config: 3-byte NALU lengths are not allowed")
	}
	n := int(b[22])
	p := b[hevcConfigHeader:]
	for range n {
		if len(p) < 3 {
			return c, errShortHEVCConfig
		}
		typ := int(p[0] & 0x3f)
		count := int(binary.BigEndian.Uint16(p[1:]))
		sets, rest, err := readParamSets(p[3:], count)
		if err != nil {
			return c, fmt.Errorf("hevc config: nal type %d array: %w", typ, errShortHEVCConfig)
		}
		p = rest
		switch typ {
		case HEVCNaluVPS:
			c.VPS = append(c.VPS, sets...)
		case HEVCNaluSPS:
			c.SPS = append(c.SPS, sets...)
		case HEVCNaluPPS:
			c.PPS = append(c.PPS, sets...)
		}
	}
	if len(c.VPS) == 0 || len(c.SPS) == 0 || len(c.PPS) == 0 {
		return c, errors.New("hevc config: no VPS, SPS or PPS")
	}
	for _, s := range c.SPS {
		if HEVCNaluType(s) != HEVCNaluSPS || len(s) < 2 {
			return c, fmt.Errorf("hevc config: SPS array holds a nal of type %d", HEVCNaluType(s))
		}
	}
	return c, nil
}

// BuildHEVCConfig makes an HEVCDecoderConfigurationRecord with 4-byte NALU
// lengths from one access unit's parameter sets (NAL units with their
// headers, no start codes): what a publisher sends as SequenceStart. The
// profile, tier and level fields come from the SPS.
func BuildHEVCConfig(vps, sps, pps [][]byte) ([]byte, error) {
	if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
		return nil, errors.New("hevc config: need a VPS, an SPS and a PPS")
	}
	info, err := ParseHEVCSPS(sps[0])
	if err != nil {
		return nil, fmt.Errorf("hevc config: %w", err)
	}
	// profile_tier_level's general part is the 12 bytes after the SPS's
	// first byte of payload (vps id, max sub layers, nesting flag).
	ptl := info.ptl
	b := make([]byte, 0, 64)
	b = append(b, 1)
	b = append(b, ptl[:12]...)
	b = append(b,
		0xf0, 0x00, // min_spatial_segmentation_idc 0
		0xfc,                         // parallelismType 0 (unknown)
		0xfc|byte(info.ChromaFormat), // chroma_format_idc
		0xf8|byte(info.BitDepthLuma-8),
		0xf8|byte(info.BitDepthChroma-8),
		0, 0, // avgFrameRate unspecified
		// constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
		byte(info.maxSubLayers&7)<<3|byte(info.temporalIDNested)<<2|3,
		3)
	for _, a := range []struct {
		typ  byte
		sets [][]byte
	}{{HEVCNaluVPS, vps}, {HEVCNaluSPS, sps}, {HEVCNaluPPS, pps}} {
		b = append(b, 0x80|a.typ) // array_completeness: these are all of them
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.sets)))
		for _, s := range a.sets {
			if len(s) > 0xffff {
				return nil, fmt.Errorf("hevc config: nal of %d bytes", len(s))
			}
			b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
			b = append(b, s...)
		}
	}
	return b, nil
}

// CodecString is the RFC 6381 codec name (ISO/IEC 14496-15 annex E),
// e.g. "hvc1.1.6.L93.B0".
func (c HEVCConfig) CodecString() string {
	var sb strings.Builder
	sb.WriteString("hvc1.")
	if c.ProfileSpace > 0 {
		sb.WriteByte("ABC"[min(c.ProfileSpace, 3)-1])
	}
	// The compatibility flags in reverse bit order, hex, no leading zeros.
	var rev uint32
	for i := range 32 {
		rev |= (c.Compat >> i & 1) << (31 - i)
	}
	tier := 'L'
	if c.Tier == 1 {
		tier = 'H'
	}
	fmt.Fprintf(&sb, "%d.%X.%c%d", c.Profile, rev, tier, c.Level)
	last := len(c.Constraints)
	for last > 0 && c.Constraints[last-1] == 0 {
		last--
	}
	for _, b := range c.Constraints[:last] {
		fmt.Fprintf(&sb, ".%X", b)
	}
	return sb.String()
}

// AnnexB converts one access unit of length-prefixed NALUs to Annex B for
// MPEG-TS, as AVCCToAnnexB does for H.264: an AUD first, VPS/SPS/PPS
// before every IRAP picture (NAL types 16-23) so that each segment decodes
// on its own, existing AUDs (and, in an IRAP unit, parameter sets) dropped
// in favour of ours. It reports whether the unit is an IRAP.
func (c *HEVCConfig) AnnexB(dst, au []byte) ([]byte, bool, error) {
	dst = append(dst, hevcAUD...)
	irap := false
	for p := au; len(p) > 0; {
		nalu, rest, err := nextNALU(p, c.LengthSize)
		if err != nil {
			return nil, false, fmt.Errorf("hevc: %w", err)
		}
		p = rest
		if t := HEVCNaluType(nalu); t >= HEVCNaluIRAPFirst && t <= HEVCNaluIRAPLast {
			irap = true
		}
	}
	if irap {
		for _, sets := range [][][]byte{c.VPS, c.SPS, c.PPS} {
			for _, s := range sets {
				dst = append(append(dst, startCode...), s...)
			}
		}
	}
	for p := au; len(p) > 0; {
		nalu, rest, _ := nextNALU(p, c.LengthSize)
		p = rest
		if len(nalu) == 0 {
			continue
		}
		switch HEVCNaluType(nalu) {
		case HEVCNaluAUD:
			continue
		case HEVCNaluVPS, HEVCNaluSPS, HEVCNaluPPS:
			if irap {
				continue
			}
		}
		dst = append(append(dst, startCode...), nalu...)
	}
	return dst, irap, nil
}

// HEVCSPSInfo is what rewind needs from an HEVC sequence parameter set.
type HEVCSPSInfo struct {
	Width, Height  int
	ChromaFormat   int
	BitDepthLuma   int
	BitDepthChroma int

	ptl              [12]byte // general profile_tier_level bytes
	maxSubLayers     int
	temporalIDNested int
}

// ParseHEVCSPS reads the picture size from an HEVC SPS NAL unit (with its
// 2-byte header), conformance window applied (ITU-T H.265 7.3.2.2).
func ParseHEVCSPS(nalu []byte) (HEVCSPSInfo, error) {
	var info HEVCSPSInfo
	if len(nalu) < 4 || HEVCNaluType(nalu) != HEVCNaluSPS {
		return info, errors.New("hevc sps: not an SPS NAL unit")
	}
	rbsp := unescapeRBSP(nalu[2:])
	r := &bitReader{b: rbsp}
	if _, err := r.bits(4); err != nil { // sps_video_parameter_set_id
		return info, err
	}
	maxSub, err := r.bits(3)
	if err != nil {
		return info, err
	}
	nested, err := r.bit()
	if err != nil {
		return info, err
	}
	info.maxSubLayers, info.temporalIDNested = int(maxSub)+1, int(nested)
	if len(rbsp) < 13 {
		return info, errSPSShort
	}
	copy(info.ptl[:], rbsp[1:13])
	if err := skipProfileTierLevel(r, int(maxSub)); err != nil {
		return info, err
	}
	if id, err := r.ue(); err != nil || id > 15 { // sps_seq_parameter_set_id
		if err == nil {
			err = fmt.Errorf("hevc sps: id %d out of range", id)
		}
		return info, err
	}
	chroma, err := r.ue()
	if err != nil {
		return info, err
	}
	if chroma > 3 {
		return info, fmt.Errorf("hevc sps: chroma_format_idc %d", chroma)
	}
	subW, subH := 2, 2
	switch chroma {
	case 0:
		subW, subH = 1, 1
	case 2:
		subH = 1
	case 3:
		// separate_colour_plane_flag: ChromaArrayType 0 or 3, crop units
		// are luma samples either way.
		if _, err := r.bit(); err != nil {
			return info, err
		}
		subW, subH = 1, 1
	}
	w, err := r.ue()
	if err != nil {
		return info, err
	}
	h, err := r.ue()
	if err != nil {
		return info, err
	}
	width, height := int(w), int(h)
	c, err := r.cropWindow()
	if err != nil {
		return info, err
	}
	width -= subW * int(c[0]+c[1])
	height -= subH * int(c[2]+c[3])
	bdl, err := r.ue()
	if err != nil {
		return info, err
	}
	bdc, err := r.ue()
	if err != nil {
		return info, err
	}
	if bdl > 8 || bdc > 8 {
		return info, fmt.Errorf("hevc sps: bit depth %d/%d", bdl+8, bdc+8)
	}
	if width <= 0 || height <= 0 || width > 16384 || height > 16384 {
		return info, fmt.Errorf("hevc sps: implausible size %dx%d", width, height)
	}
	info.Width, info.Height = width, height
	info.ChromaFormat, info.BitDepthLuma, info.BitDepthChroma = int(chroma), int(bdl)+8, int(bdc)+8
	return info, nil
}

// skipProfileTierLevel reads past profile_tier_level(1, maxSubLayersMinus1).
func skipProfileTierLevel(r *bitReader, maxSubMinus1 int) error {
	if _, err := r.bits(32); err != nil { // space, tier, profile, 24 compat bits
		return err
	}
	for range 2 { // 8 compat bits, 4 flags, 43 + 1 reserved bits, level: 64 bits
		if _, err := r.bits(32); err != nil {
			return err
		}
	}
	var prof, lvl [8]uint32
	for i := range maxSubMinus1 {
		var err error
		if prof[i], err = r.bit(); err != nil {
			return err
		}
		if lvl[i], err = r.bit(); err != nil {
			return err
		}
	}
	if maxSubMinus1 > 0 {
		if _, err := r.bits(2 * (8 - maxSubMinus1)); err != nil { // reserved_zero_2bits
			return err
		}
	}
	for i := range maxSubMinus1 {
		if prof[i] == 1 {
			for _, n := range []int{32, 32, 24} { // 88 bits
				if _, err := r.bits(n); err != nil {
					return err
				}
			}
		}
		if lvl[i] == 1 {
			if _, err := r.bits(8); err != nil {
				return err
			}
		}
	}
	return nil
}

// SplitAnnexB splits an Annex B byte stream into its NAL units (start
// codes and trailing zero bytes removed).
func SplitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		if start >= 0 {
			out = append(out, trimZeros(b[start:i]))
		}
		i += 2
		start = i + 1
	}
	if start >= 0 && start <= len(b) {
		out = append(out, b[start:])
	}
	return out
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
