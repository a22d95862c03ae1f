package collect

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Histogram buckets, in seconds. First frame: a good start is under a
// second, a bad one several; latency: low-latency HLS is 2-6 s, classic
// HLS 10-30 s.
var (
	firstFrameBuckets = []float64{0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60}
	latencyBuckets    = []float64{0.5, 1, 2, 3, 4, 6, 8, 10, 15, 20, 30, 45, 60, 120}
)

// Drop reasons of rewind_qos_reports_dropped_total, a fixed set.
const (
	DropMalformed   = "malformed"
	DropTooLarge    = "too_large"
	DropAbsurd      = "absurd"
	DropUnsupported = "unsupported_media_type"
	DropOverload    = "overload"
)

// metrics are the Prometheus side of the aggregates; the labels are
// bounded by Labels, the drop reasons by the constants above.
type metrics struct {
	firstFrame      *prometheus.HistogramVec
	latency         *prometheus.HistogramVec
	stalls          *prometheus.CounterVec
	stalled         *prometheus.CounterVec
	watched         *prometheus.CounterVec
	errors          *prometheus.CounterVec
	dropped         *prometheus.CounterVec
	pushErrors      *prometheus.CounterVec
	pushDropped     *prometheus.CounterVec
	pushFrames      *prometheus.CounterVec
	bytes           *prometheus.CounterVec
	relayConnect    *prometheus.CounterVec
	relayReconnects *prometheus.CounterVec
	relayDropped    *prometheus.CounterVec
	reportsIn       *prometheus.CounterVec
	reportsDropped  *prometheus.CounterVec
	stream          *streamMetrics
	// The per-format children of reportsIn, resolved once: they are
	// counted on every request.
	inCMCD, inBeacon prometheus.Counter
}

func (m *metrics) in(format string) prometheus.Counter {
	if format == "beacon" {
		return m.inBeacon
	}
	return m.inCMCD
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	cr := []string{"cdn", "region"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &metrics{
		firstFrame: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rewind_qos_first_frame_seconds",
			Help: "Time from play to first frame, as players report it.", Buckets: firstFrameBuckets}, cr),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rewind_qos_latency_seconds",
			Help: "End-to-end live latency, as players report it.", Buckets: latencyBuckets}, cr),
		stalls:          counter("rewind_qos_stalls_total", "Playback stalls (buffer starvations).", cr...),
		stalled:         counter("rewind_qos_stalled_seconds_total", "Time spent stalled.", cr...),
		watched:         counter("rewind_qos_watched_seconds_total", "Time watched, the base of the stall rate.", cr...),
		errors:          counter("rewind_qos_errors_total", "Player errors.", cr...),
		dropped:         counter("rewind_qos_dropped_frames_total", "Frames dropped by players.", cr...),
		pushErrors:      counter("rewind_qos_push_publish_errors_total", "Failed publishes reported by streamer SDKs, per push CDN.", cr...),
		pushDropped:     counter("rewind_qos_push_dropped_frames_total", "Frames dropped by streamer SDKs, per push CDN.", cr...),
		pushFrames:      counter("rewind_qos_push_frames_total", "Frames sent by streamer SDKs, per push CDN.", cr...),
		bytes:           counter("rewind_qos_bytes_total", "Media bytes delivered by the CDN, as players report them (CMCD br x d, beacon bytes).", cr...),
		relayConnect:    counter("rewind_qos_relay_connect_failures_total", "Relay connects or publishes to a CDN that failed.", "cdn"),
		relayReconnects: counter("rewind_qos_relay_reconnects_total", "Relay sessions to a CDN lost and started again.", "cdn"),
		relayDropped:    counter("rewind_qos_relay_dropped_frames_total", "Frames the relay dropped for a CDN.", "cdn"),
		reportsIn:       counter("rewind_qos_reports_total", "Requests whose reports were accepted (a CMCD request or application/cmcd body, a beacon), by format.", "format"),
		reportsDropped:  counter("rewind_qos_reports_dropped_total", "Reports refused or shed, by reason.", "reason"),
		stream:          newStreamMetrics(),
	}
	for _, c := range []prometheus.Collector{m.firstFrame, m.latency, m.stalls, m.stalled, m.watched, m.errors,
		m.dropped, m.pushErrors, m.pushDropped, m.pushFrames, m.bytes, m.relayConnect, m.relayReconnects, m.relayDropped,
		m.reportsIn, m.reportsDropped, m.stream.sessions, m.stream.errors, m.stream.stalls, m.stream.watched} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("collect: register metrics: %w", err)
		}
	}
	m.inCMCD, m.inBeacon = m.reportsIn.WithLabelValues("cmcd"), m.reportsIn.WithLabelValues("beacon")
	for _, r := range []string{DropMalformed, DropTooLarge, DropAbsurd, DropUnsupported, DropOverload} {
		m.reportsDropped.WithLabelValues(r) // present at zero, so a rate() works from the start
	}
	return m, nil
}
