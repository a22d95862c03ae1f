package recorder

import (
	"github.com/asticode/go-astits"

	"github.com/rewind-vod/rewind/media"
)

// videoHeader takes a video sequence header (AVC, or the enhanced RTMP
// SequenceStart of HEVC) as the run's video configuration, and reports
// whether it did. The picture size comes from the SPS. A header of the
// other codec once the run has started is refused: the run's TS has one
// video stream type.
func (s *Stream) videoHeader(t media.VideoTag) bool {
	if s.started && s.vcfg != nil && !sameCodec(s.vcfg, t.Codec) {
		s.warn("video codec changed mid-run: sequence header ignored", "codec", t.Codec)
		return false
	}
	switch t.Codec {
	case media.CodecHEVC:
		c, err := media.ParseHEVCConfig(t.Data)
		if err != nil {
			s.warn("bad HEVC sequence header", "err", err)
			return false
		}
		if info, err := media.ParseHEVCSPS(c.SPS[0]); err == nil {
			s.width, s.height = info.Width, info.Height
		} else {
			s.warn("unreadable HEVC SPS", "err", err)
		}
		s.vcfg = &c
	default:
		c, err := media.ParseAVCConfig(t.Data)
		if err != nil {
			s.warn("bad AVC sequence header", "err", err)
			return false
		}
		if info, err := media.ParseSPS(c.SPS[0]); err == nil {
			s.width, s.height = info.Width, info.Height
		} else {
			s.warn("unreadable SPS", "err", err)
		}
		s.vcfg = &c
	}
	return true
}

// sameCodec reports whether frames of codec (a media.VideoTag Codec) can
// be muxed with configuration c.
func sameCodec(c media.VideoConfig, codec int) bool {
	_, hevc := c.(*media.HEVCConfig)
	return hevc == (codec == media.CodecHEVC)
}

// videoStreamType is the PMT stream type of the run's video.
func videoStreamType(c media.VideoConfig) astits.StreamType {
	if _, ok := c.(*media.HEVCConfig); ok {
		return astits.StreamTypeH265Video
	}
	return astits.StreamTypeH264Video
}
