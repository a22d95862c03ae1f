package vodapi

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	storeRequests *prometheus.CounterVec
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	clips         prometheus.Counter
}

// newMetrics registers on reg (nil: none), each collector as it is made.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		storeRequests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_vodapi_store_requests_total", Help: "Store requests made by the replay API, by operation.",
		}, []string{"op"}),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_vodapi_requests_total", Help: "HTTP requests, by route and status class.",
		}, []string{"route", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rewind_vodapi_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"route"}),
		clips: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_vodapi_clips_created_total", Help: "Clip jobs accepted and queued.",
		}),
	}
	return m
}
