package origin

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// pullMetrics count the node-to-node pulls. They exist (at zero) on every
// node, pulling or not, so dashboards and alerts see the same series.
type pullMetrics struct {
	active  prometheus.Gauge
	started prometheus.Counter
	failed  *prometheus.CounterVec // by reason
	ended   *prometheus.CounterVec // by reason
	bytes   prometheus.Counter
}

// Outcomes of a pull, the reason labels: the ended ones are normal ends,
// the failed ones are pulls that could not start or broke.
var (
	pullEndedReasons  = []string{"upstream_ended", "idle", "local_publish", "shutdown"}
	pullFailedReasons = []string{"self", "no_address", "connect", "upstream_not_live", "upstream_forbidden",
		"upstream_status", "timeout", "stalled", "bad_flv", "read"}
)

func newPullMetrics(f promauto.Factory) *pullMetrics {
	m := &pullMetrics{
		active: f.NewGauge(prometheus.GaugeOpts{
			Name: "rewind_origin_pulls_active", Help: "Node-to-node pulls running (upstream requested, not yet ended).",
		}),
		started: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_pulls_started_total", Help: "Node-to-node pulls started (upstream requests made).",
		}),
		failed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_origin_pulls_failed_total", Help: "Node-to-node pulls that could not start or broke, by reason.",
		}, []string{"reason"}),
		ended: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_origin_pulls_ended_total", Help: "Node-to-node pulls that ended normally, by reason.",
		}, []string{"reason"}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_pull_bytes_total", Help: "Bytes read from upstream nodes by pulls.",
		}),
	}
	for _, r := range pullEndedReasons {
		m.ended.WithLabelValues(r)
	}
	for _, r := range pullFailedReasons {
		m.failed.WithLabelValues(r)
	}
	return m
}

// pullOutcome is the reason label of why a pull ended, and whether it
// counts as a failure; "" for a stream no node has live (a plain miss, not
// a pull).
func pullOutcome(err error) (reason string, failed bool) {
	var se *upstreamStatusError
	switch {
	case errors.Is(err, errNotLocated):
		return "", false
	case errors.Is(err, errUpstreamEnded):
		return "upstream_ended", false
	case errors.Is(err, errPullIdle):
		return "idle", false
	case errors.Is(err, errPublishedHere):
		return "local_publish", false
	case errors.Is(err, errPullShutdown):
		return "shutdown", false
	case errors.Is(err, errLocatedSelf):
		return "self", true
	case errors.Is(err, errNoAddress):
		return "no_address", true
	case errors.Is(err, errConnect):
		return "connect", true
	case errors.As(err, &se) && se.code == http.StatusNotFound:
		return "upstream_not_live", true
	case errors.As(err, &se) && (se.code == http.StatusForbidden || se.code == http.StatusUnauthorized):
		return "upstream_forbidden", true
	case errors.As(err, &se):
		return "upstream_status", true
	case errors.Is(err, errPullTimeout):
		return "timeout", true
	case errors.Is(err, errUpstreamStalled):
		return "stalled", true
	case errors.Is(err, errBadFLV):
		return "bad_flv", true
	}
	return "read", true
}
