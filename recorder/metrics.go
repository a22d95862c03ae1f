package recorder

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	frames *prometheus.CounterVec
	// The two series of frames, looked up once: every frame counts.
	videoFrames, audioFrames prometheus.Counter
	framesDropped            *prometheus.CounterVec
	segments                 prometheus.Counter
	segmentsDropped          prometheus.Counter
	discontinuities          prometheus.Counter
	uploaded                 prometheus.Counter
	bytesIngested            prometheus.Counter
	bytesStored              prometheus.Counter
	storeRequests            *prometheus.CounterVec
	retries                  *prometheus.CounterVec
	spoolBytes               prometheus.Gauge
	spoolLimitHits           prometheus.Counter
	uploadLag                prometheus.Histogram
	runsEnded                prometheus.Counter
}

// newMetrics registers on reg (nil: none), each collector as it is made.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		frames: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_recorder_frames_total", Help: "Media frames muxed into segments, by type.",
		}, []string{"type"}),
		framesDropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_recorder_frames_dropped_total", Help: "Frames not recorded, by reason.",
		}, []string{"reason"}),
		segments: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_recorder_segments_total", Help: "Segments finished in the spool.",
		}),
		segmentsDropped: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_recorder_segments_dropped_total", Help: "Segments not spooled (spool full or disk error).",
		}),
		discontinuities: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_recorder_discontinuities_total", Help: "Timestamp jumps turned into index discontinuities.",
		}),
		uploaded: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_recorder_segments_uploaded_total", Help: "Segments stored and indexed.",
		}),
		bytesIngested: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_recorder_bytes_ingested_total", Help: "FLV payload bytes received by the recorder.",
		}),
		bytesStored: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_recorder_bytes_stored_total", Help: "Bytes put to the store (segments, index, manifests).",
		}),
		storeRequests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_recorder_store_requests_total", Help: "Store requests, by kind of object.",
		}, []string{"kind"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_recorder_upload_retries_total", Help: "Failed store requests that will be retried, by kind.",
		}, []string{"kind"}),
		spoolBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "rewind_recorder_spool_bytes", Help: "Bytes of finished segments waiting in the spool.",
		}),
		spoolLimitHits: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_recorder_spool_limit_hits_total", Help: "Times a segment was dropped because the spool was full.",
		}),
		uploadLag: f.NewHistogram(prometheus.HistogramOpts{
			Name: "rewind_recorder_upload_lag_seconds", Help: "From a segment finished in the spool to it being indexed in the store.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}),
		runsEnded: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_recorder_runs_ended_total", Help: "Runs whose ended run.json is in the store.",
		}),
	}
	m.videoFrames, m.audioFrames = m.frames.WithLabelValues("video"), m.frames.WithLabelValues("audio")
	return m
}

var segmentAgeDesc = prometheus.NewDesc("rewind_recorder_stream_segment_age_seconds",
	"Seconds since a live run last finished a segment (or began): past a few target durations the stream is not being recorded.",
	[]string{"stream"}, nil)

var segmentAgeOmittedDesc = prometheus.NewDesc("rewind_recorder_stream_series_omitted",
	"Live runs left out of the per-stream recorder metrics by the MaxStreamSeries bound.", nil, nil)

// segmentAgeCollector reports, at scrape time, how long each live run has
// gone without a new segment; at most MaxStreamSeries runs (the oldest).
type segmentAgeCollector struct{ r *Recorder }

func (c *segmentAgeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- segmentAgeDesc
	ch <- segmentAgeOmittedDesc
}

func (c *segmentAgeCollector) Collect(ch chan<- prometheus.Metric) {
	type age struct {
		stream string
		began  string // run id: sorts by start time
		secs   float64
	}
	now := time.Now()
	var ages []age
	c.r.mu.Lock()
	for s := range c.r.live {
		ages = append(ages, age{s.stream.String(), s.run, now.Sub(time.Unix(0, s.lastCut.Load())).Seconds()})
	}
	c.r.mu.Unlock()
	slices.SortFunc(ages, func(a, b age) int { return strings.Compare(a.began, b.began) })
	seen := map[string]bool{}
	omitted := 0
	for _, a := range ages {
		if seen[a.stream] { // a takeover's old run still closing
			continue
		}
		if len(seen) >= c.r.cfg.MaxStreamSeries {
			omitted++
			continue
		}
		seen[a.stream] = true
		ch <- prometheus.MustNewConstMetric(segmentAgeDesc, prometheus.GaugeValue, a.secs, a.stream)
	}
	ch <- prometheus.MustNewConstMetric(segmentAgeOmittedDesc, prometheus.GaugeValue, float64(omitted))
}
