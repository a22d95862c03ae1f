package editor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	jobs     *prometheus.CounterVec
	running  prometheus.Gauge
	duration prometheus.Histogram
	phases   *prometheus.HistogramVec
	fetched  prometheus.Counter
	stored   prometheus.Counter
	webhooks *prometheus.CounterVec
}

// newMetrics registers on reg (nil: none), each collector as it is made.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		jobs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_editor_jobs_total", Help: "Clip job attempts that ended, by result (succeeded, failed, retried).",
		}, []string{"result"}),
		running: f.NewGauge(prometheus.GaugeOpts{
			Name: "rewind_editor_jobs_running", Help: "Clip jobs running on this worker.",
		}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name: "rewind_editor_job_duration_seconds", Help: "Wall time of successful clip jobs.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 14),
		}),
		phases: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rewind_editor_phase_seconds",
			Help:    "Wall time of each completed phase of a clip attempt: start (job document read, marked running), fetch, cut, upload (MP4/TS), index, edges, manifest (HLS by reference: indexes read; edge segments fetched, cut and stored; manifest stored), finish (result document written).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}, []string{"phase"}),
		fetched: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_editor_fetched_bytes_total", Help: "Segment bytes read from the store.",
		}),
		stored: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_editor_stored_bytes_total", Help: "Output bytes written to the store.",
		}),
		webhooks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_editor_webhook_deliveries_total", Help: "Webhook delivery attempts, by result (delivered, failed), and webhooks given up after their last attempt (gave_up).",
		}, []string{"result"}),
	}
	return m
}

// phase records the wall time of one phase of a job since t0 and returns
// now, the next phase's start.
func (m *metrics) phase(name string, t0 time.Time) time.Time {
	now := time.Now()
	m.phases.WithLabelValues(name).Observe(now.Sub(t0).Seconds())
	return now
}
