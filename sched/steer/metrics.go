package steer

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Route labels of rewind_steer_requests_total.
const (
	routePlaylist  = "playlist"
	routeManifest  = "manifest"
	routeAddresses = "addresses"
	routeOther     = "other"
)

type metrics struct {
	requests *prometheus.CounterVec // route, code
	answers  *prometheus.CounterVec // source
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rewind_steer_requests_total",
			Help: "Steering requests answered, by route and status code."}, []string{"route", "code"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rewind_steer_answers_total",
			Help: "CDN orders given, by where they came from: the Ranker, the last order it gave for the region, or the static order."},
			[]string{"source"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.answers} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("steer: register metrics: %w", err)
		}
	}
	for _, src := range []string{SourceRanker, SourceLast, SourceStatic} {
		m.answers.WithLabelValues(src) // present at zero, so a rate() works from the start
	}
	return m, nil
}

// codeLabel bounds the code label to the codes this server writes.
func codeLabel(code int) string {
	switch code {
	case 0:
		return "200"
	case http.StatusOK, http.StatusNoContent, http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusGone,
		http.StatusTooManyRequests, http.StatusInternalServerError:
		return strconv.Itoa(code)
	}
	return "other"
}
