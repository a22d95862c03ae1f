package origin

import (
	"sync"
	"time"

	"github.com/rewind-vod/rewind/media"
)

// meterWindow is how many whole seconds a rate is averaged over.
const meterWindow = 5

// rateMeter counts events into one-second buckets, so a rate reflects the
// last few seconds rather than the average since the publish began.
type rateMeter struct {
	mu      sync.Mutex
	first   int64 // unix second of the first event
	sec     int64 // unix second of the current bucket
	buckets [meterWindow + 1]uint64
}

// advance moves the current bucket to second s, zeroing the skipped ones.
func (m *rateMeter) advance(s int64) {
	if m.sec == 0 || s-m.sec > int64(len(m.buckets)) {
		m.buckets = [meterWindow + 1]uint64{}
	} else {
		for t := m.sec + 1; t <= s; t++ {
			m.buckets[t%int64(len(m.buckets))] = 0
		}
	}
	if s > m.sec {
		m.sec = s
	}
}

func (m *rateMeter) add(now time.Time, n uint64) {
	m.mu.Lock()
	if m.first == 0 {
		m.first = now.Unix()
	}
	m.advance(now.Unix())
	m.buckets[m.sec%int64(len(m.buckets))] += n
	m.mu.Unlock()
}

// rate is events per second over the last meterWindow whole seconds. The
// current second is left out, and so is the first (both are partial).
func (m *rateMeter) rate(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.first == 0 {
		return 0
	}
	cur := now.Unix()
	m.advance(cur)
	lo := max(cur-meterWindow, m.first+1)
	if lo >= cur {
		return 0
	}
	var sum uint64
	for t := lo; t < cur; t++ {
		sum += m.buckets[t%int64(len(m.buckets))]
	}
	return float64(sum) / float64(cur-lo)
}

// streamFacts is what the publisher's sequence headers say about a stream.
type streamFacts struct {
	VideoCodec string // RFC 6381, e.g. avc1.64001f
	Width      int
	Height     int
	AudioCodec string // e.g. mp4a.40.2
	SampleRate int
	Channels   int
}

// learn updates the facts from a sequence header; other frames are ignored.
func (sf *streamFacts) learn(f media.Frame) {
	switch {
	case f.Type == media.FrameVideo && media.IsAVCSeqHeader(f.Payload):
		t, err := media.ParseVideoTag(f.Payload)
		if err != nil {
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

// outputSink is a sink that sends a stream on (players, relays): the
// origin asks it what it sent, for /v1/live and the per-stream metrics.
type outputSink interface {
	outputStats(key string) (players int, out OutputStats, relays []RelayStatus)
}
