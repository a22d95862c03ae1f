package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Session kinds: the kind label of the route, session and connect metrics.
const (
	kindPublish = "publish"
	kindPlay    = "play"
	kindFLV     = "flv"
)

// Route results: the result label of rewind_proxy_routes_total.
const (
	resultOK            = "ok"
	resultNotFound      = "not_found"
	resultNoNode        = "no_node"
	resultBadName       = "bad_name"
	resultUpstreamError = "upstream_error"
)

// Reasons a connection was dropped before it could be routed.
const (
	rejectMaxConns  = "max_conns"
	rejectHandshake = "handshake"
	rejectMalformed = "malformed"
	rejectTooLarge  = "too_large"
	rejectTimeout   = "timeout"
	rejectProtocol  = "protocol"
	rejectClosed    = "closed" // the client hung up before publish or play
)

// Directions of rewind_proxy_bytes_total.
const (
	dirToNode   = "to_node"
	dirToClient = "to_client"
)

// metrics are the proxy's collectors; they always exist and are registered
// only when a Registerer is given.
type metrics struct {
	routes      *prometheus.CounterVec
	connectTime *prometheus.HistogramVec
	bytes       *prometheus.CounterVec
	sessions    *prometheus.GaugeVec
	failovers   *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	conns       prometheus.Gauge
	panics      prometheus.Counter

	// The hot counters, resolved once.
	rtmpToNode, rtmpToClient, flvToClient prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		routes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_proxy_routes_total",
			Help: "Sessions routed, by kind (publish, play, flv) and result (ok, not_found, no_node, bad_name, upstream_error).",
		}, []string{"kind", "result"}),
		connectTime: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rewind_proxy_upstream_connect_seconds",
			Help:    "Time to reach an origin node: TCP connect and RTMP handshake (rtmp), or until the response headers (flv).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"kind"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_proxy_bytes_total",
			Help: "Bytes relayed, by protocol (rtmp, flv) and direction (to_node, to_client).",
		}, []string{"proto", "direction"}),
		sessions: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rewind_proxy_sessions",
			Help: "Sessions being relayed to an origin node now, by kind.",
		}, []string{"kind"}),
		failovers: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_proxy_failovers_total",
			Help: "Publishes sent to a node other than the one they were placed on, by reason: the node the stream recently ended on is dead, draining or full, or the first choice was unreachable.",
		}, []string{"reason"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_proxy_rejected_total",
			Help: "Connections dropped before they could be routed, by reason (max_conns, handshake, malformed, too_large, timeout, protocol, closed).",
		}, []string{"reason"}),
		conns: f.NewGauge(prometheus.GaugeOpts{
			Name: "rewind_proxy_connections",
			Help: "RTMP client connections open.",
		}),
		panics: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_proxy_panics_total",
			Help: "Sessions ended by a panic (a bug): the connection was dropped, the process kept serving.",
		}),
	}
	m.rtmpToNode = m.bytes.WithLabelValues("rtmp", dirToNode)
	m.rtmpToClient = m.bytes.WithLabelValues("rtmp", dirToClient)
	m.flvToClient = m.bytes.WithLabelValues("flv", dirToClient)
	// Every series from the start, so that rates and alerts see zeros.
	for _, k := range []string{kindPublish, kindPlay, kindFLV} {
		for _, r := range []string{resultOK, resultNotFound, resultNoNode, resultBadName, resultUpstreamError} {
			if k != kindPublish && r == resultNoNode || k == kindPublish && r == resultNotFound {
				continue
			}
			m.routes.WithLabelValues(k, r)
		}
		m.sessions.WithLabelValues(k)
	}
	for _, r := range []string{FailoverDead, FailoverDraining, FailoverFull, FailoverUnreachable} {
		m.failovers.WithLabelValues(r)
	}
	for _, r := range []string{rejectMaxConns, rejectHandshake, rejectMalformed, rejectTooLarge, rejectTimeout, rejectProtocol, rejectClosed} {
		m.rejected.WithLabelValues(r)
	}
	return m
}
