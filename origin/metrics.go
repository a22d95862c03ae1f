package origin

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons for rewind_origin_auth_denied_total.
const (
	reasonBadName          = "bad_name"
	reasonMissingSignature = "missing_signature"
	reasonExpired          = "expired"
	reasonBadSignature     = "bad_signature"
	reasonHookDenied       = "hook_denied"
	reasonHookError        = "hook_error"
)

// Reasons for rewind_origin_rejected_total.
const (
	reasonMaxConns      = "max_conns"
	reasonMaxPublishers = "max_publishers"
	reasonTakeover      = "takeover"
	reasonBadMessage    = "bad_message"
	reasonOversize      = "oversize"
	reasonTimeout       = "timeout"
	reasonSinkError     = "sink_error"
	reasonDraining      = "draining"
	reasonKicked        = "kicked"
)

var (
	authReasons   = []string{reasonBadName, reasonMissingSignature, reasonExpired, reasonBadSignature, reasonHookDenied, reasonHookError}
	rejectReasons = []string{reasonMaxConns, reasonMaxPublishers, reasonTakeover, reasonBadMessage, reasonOversize, reasonTimeout, reasonSinkError, reasonDraining, reasonKicked}
)

// metrics are the origin's Prometheus collectors. They always exist (so the
// code never checks for nil); they are registered only when a Registerer is
// given.
type metrics struct {
	conns          prometheus.Gauge
	connsTotal     prometheus.Counter
	publishesTotal prometheus.Counter
	publishers     prometheus.Gauge
	authDenied     *prometheus.CounterVec
	bytesIn        prometheus.Counter
	framesIn       prometheus.Counter
	sinkDropped    *prometheus.CounterVec
	rejected       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, sinkNames []string) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		conns: f.NewGauge(prometheus.GaugeOpts{
			Name: "rewind_origin_connections",
			Help: "RTMP connections currently open.",
		}),
		connsTotal: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_connections_total",
			Help: "RTMP connections accepted and served (connections refused by max_conns are in rewind_origin_rejected_total).",
		}),
		publishesTotal: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_publishes_total",
			Help: "Publishes started (runs).",
		}),
		publishers: f.NewGauge(prometheus.GaugeOpts{
			Name: "rewind_origin_publishers",
			Help: "Publishers currently live.",
		}),
		authDenied: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_origin_auth_denied_total",
			Help: "Publishes refused by name validation or authentication, by reason.",
		}, []string{"reason"}),
		bytesIn: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_bytes_in_total",
			Help: "Media payload bytes (audio, video, metadata) received from publishers.",
		}),
		framesIn: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_frames_in_total",
			Help: "Media frames (audio, video, metadata) received from publishers.",
		}),
		sinkDropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_origin_sink_dropped_frames_total",
			Help: "Frames dropped because a sink's queue was full, by sink.",
		}, []string{"sink"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_origin_rejected_total",
			Help: "Connections or publishes refused or dropped by a limit or a protocol error, by reason.",
		}, []string{"reason"}),
	}
	// Touch every known label so the series exist (at 0) from the start:
	// rate() and alerts need the zero.
	for _, r := range authReasons {
		m.authDenied.WithLabelValues(r)
	}
	for _, r := range rejectReasons {
		m.rejected.WithLabelValues(r)
	}
	for _, n := range sinkNames {
		m.sinkDropped.WithLabelValues(n)
	}
	return m
}

var (
	streamBitrateDesc = prometheus.NewDesc("rewind_origin_stream_bitrate_bps",
		"Bit rate of a live stream over the last seconds: in from the publisher, out to its players and relays.",
		[]string{"stream", "direction"}, nil)
	streamFPSDesc = prometheus.NewDesc("rewind_origin_stream_fps",
		"Video frames per second of a live stream over the last seconds.",
		[]string{"stream"}, nil)
	streamOmittedDesc = prometheus.NewDesc("rewind_origin_stream_series_omitted",
		"Live streams left out of the per-stream metrics by the MaxStreamSeries bound.",
		nil, nil)
)

// streamCollector reports per-stream gauges at scrape time from the live
// publishes, so a stream's series go away when it ends, and at most
// MaxStreamSeries streams (the oldest) get series.
type streamCollector struct{ s *Server }

func (c *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- streamBitrateDesc
	ch <- streamFPSDesc
	ch <- streamOmittedDesc
}

func (c *streamCollector) Collect(ch chan<- prometheus.Metric) {
	live := c.s.Live()
	n := min(len(live), c.s.cfg.MaxStreamSeries)
	for _, ls := range live[:n] {
		key := ls.App + "/" + ls.Name
		ch <- prometheus.MustNewConstMetric(streamBitrateDesc, prometheus.GaugeValue, ls.BitrateIn, key, "in")
		ch <- prometheus.MustNewConstMetric(streamBitrateDesc, prometheus.GaugeValue, ls.BitrateOut, key, "out")
		ch <- prometheus.MustNewConstMetric(streamFPSDesc, prometheus.GaugeValue, ls.FPS, key)
	}
	ch <- prometheus.MustNewConstMetric(streamOmittedDesc, prometheus.GaugeValue, float64(len(live)-n))
}
