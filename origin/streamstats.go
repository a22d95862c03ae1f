package origin

import (
	"time"

	"github.com/rewind-vod/rewind/media"
)

// streamFacts is what the publisher's sequence headers say about a stream.
type streamFacts struct {
	VideoCodec string // RFC 6381, e.g. avc1.64001f or hvc1.1.6.L93.B0
	Width      int
	Height     int
	AudioCodec string // e.g. mp4a.40.2
	SampleRate int
	Channels   int
}

// learn updates the facts from a sequence header; other frames are ignored.
func (sf *streamFacts) learn(f media.Frame) {
	switch {
	case f.Type == media.FrameVideo && media.IsVideoSeqHeader(f.Payload):
		t, err := media.ParseVideoTag(f.Payload)
		if err != nil {
			return
		}
		if t.Codec == media.CodecHEVC {
			sf.learnHEVC(t.Data)
			return
		}
		c, err := media.ParseAVCConfig(t.Data)
		if err != nil {
			return
		}
		sf.VideoCodec = c.CodecString()
		if info, err := media.ParseSPS(c.SPS[0]); err == nil {
			sf.Width, sf.Height = info.Width, info.Height
		}
	case f.Type == media.FrameAudio && media.IsAACSeqHeader(f.Payload):
		t, err := media.ParseAudioTag(f.Payload)
		if err != nil {
			return
		}
		if c, err := media.ParseAudioSpecificConfig(t.Data); err == nil {
			sf.AudioCodec, sf.SampleRate, sf.Channels = c.CodecString(), c.SampleRate, c.Channels
		}
	}
}

// learnHEVC takes the facts from an HEVCDecoderConfigurationRecord (the
// enhanced RTMP SequenceStart).
func (sf *streamFacts) learnHEVC(rec []byte) {
	c, err := media.ParseHEVCConfig(rec)
	if err != nil {
		return
	}
	sf.VideoCodec = c.CodecString()
	if info, err := media.ParseHEVCSPS(c.SPS[0]); err == nil {
		sf.Width, sf.Height = info.Width, info.Height
	}
}

// OutputStats is what one output of a live stream (its players, or one
// relay target) has sent.
type OutputStats struct {
	BytesOut   uint64
	BitrateOut float64 // bits per second, recent
}

// RelayStatus is the state of one relay target of a live stream.
type RelayStatus struct {
	Target        string    `json:"target"` // without its query (it may hold a stream key)
	State         string    `json:"state"`  // connecting, publishing or backoff
	Since         time.Time `json:"since"`
	BytesOut      uint64    `json:"bytes_out"`
	BitrateOut    float64   `json:"bitrate_out_bps"`
	FramesDropped uint64    `json:"frames_dropped"`
	Failures      uint64    `json:"failures"`
	LastError     string    `json:"last_error,omitempty"`
}

// OutputReporter is a Sink that sends streams on (players, relays). Live()
// and so /v1/live and the per-stream metrics ask it what it sent of each
// live stream; it is exported so that a sink of another package (the relay
// in origin/relay) can report its outputs too.
type OutputReporter interface {
	// Outputs is what the sink sent of the live stream app/name: how many
	// players watch it, the totals over its outputs and the state of each
	// relay target. All zero when the sink has nothing of that stream.
	Outputs(app, name string) (players int, out OutputStats, relays []RelayStatus)
}
