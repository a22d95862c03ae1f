package vodapi

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	storeRequests *prometheus.CounterVec
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	clips         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		storeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_vodapi_store_requests_total", Help: "Store requests made by the replay API, by operation.",
		}, []string{"op"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_vodapi_requests_total", Help: "HTTP requests, by route and status class.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rewind_vodapi_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"route"}),
		clips: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rewind_vodapi_clips_created_total", Help: "Clip jobs accepted and queued.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.storeRequests, m.requests, m.duration, m.clips)
	}
	return m
}
