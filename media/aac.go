package media

import (
	"errors"
	"fmt"
)

// AudioSpecificConfig is the part of an MPEG-4 AudioSpecificConfig
// (ISO/IEC 14496-3 1.6.2.1) that ADTS headers need.
type AudioSpecificConfig struct {
	ObjectType      int // 2 = AAC-LC
	SampleRateIndex int
	SampleRate      int
	Channels        int
}

var aacSampleRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// ParseAudioSpecificConfig parses the FLV AAC sequence header payload.
func ParseAudioSpecificConfig(b []byte) (AudioSpecificConfig, error) {
	var c AudioSpecificConfig
	if len(b) < 2 {
		return c, errors.New("aac config: truncated")
	}
	r := &bitReader{b: b}
	ot, _ := r.bits(5)
	if ot == 31 {
		ext, err := r.bits(6)
		if err != nil {
			return c, fmt.Errorf("aac config: %w", err)
		}
		ot = 32 + ext
	}
	c.ObjectType = int(ot)
	idx, err := r.bits(4)
	if err != nil {
		return c, fmt.Errorf("aac config: %w", err)
	}
	if idx == 15 {
		// An explicit 24-bit rate cannot be written into ADTS.
		return c, errors.New("aac config: explicit sample rates are not supported")
	}
	if int(idx) >= len(aacSampleRates) {
		return c, fmt.Errorf("aac config: reserved sample rate index %d", idx)
	}
	c.SampleRateIndex = int(idx)
	c.SampleRate = aacSampleRates[idx]
	ch, err := r.bits(4)
	if err != nil {
		return c, fmt.Errorf("aac config: %w", err)
	}
	if ch == 0 || ch > 7 {
		return c, fmt.Errorf("aac config: unsupported channel configuration %d", ch)
	}
	c.Channels = int(ch)
	if ch == 7 {
		c.Channels = 8
	}
	if c.ObjectType < 1 || c.ObjectType > 4 {
		// ADTS has two bits for the profile: only object types 1-4 fit.
		return c, fmt.Errorf("aac config: object type %d cannot be carried in ADTS", c.ObjectType)
	}
	return c, nil
}

// CodecString is the RFC 6381 codec name, e.g. "mp4a.40.2".
func (c AudioSpecificConfig) CodecString() string {
	return fmt.Sprintf("mp4a.40.%d", c.ObjectType)
}

// AppendADTS appends a 7-byte ADTS header (no CRC) for one raw AAC frame.
func (c AudioSpecificConfig) AppendADTS(dst []byte, frameLen int) []byte {
	l := frameLen + 7
	chCfg := c.Channels
	if chCfg == 8 {
		chCfg = 7
	}
	return append(dst,
		0xff, 0xf1, // sync, MPEG-4, layer 0, no CRC
		byte((c.ObjectType-1)<<6|c.SampleRateIndex<<2|chCfg>>2),
		byte((chCfg&3)<<6|(l>>11)&0x03),
		byte(l>>3),
		byte((l&7)<<5|0x1f),
		0xfc,
	)
}
