package catalog

import (
	"context"
	"errors"
	"io"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/infra/store"
)

// Store operations of the node registry, the values of the op label.
const (
	opList   = "list"
	opGet    = "get"
	opPut    = "put"
	opDelete = "delete"
)

// Why a heartbeat document is ignored, the values of the reason label.
const (
	ignoredBadKey       = "bad_key"       // a key under nodes/ that names no node
	ignoredTooLarge     = "too_large"     // listed bigger than MaxNodeDocSize; never read
	ignoredCorrupt      = "corrupt"       // does not parse or validate
	ignoredNameMismatch = "name_mismatch" // its node field is not the node of its key
	ignoredFuture       = "future"        // written further ahead than the dead-node timeout
)

var ignoredReasons = []string{ignoredBadKey, ignoredTooLarge, ignoredCorrupt, ignoredNameMismatch, ignoredFuture}

// registryMetrics are the node registry's collectors. A writer and a reader
// in one process (rewind dev) share one Registerer, so each collector is
// registered once and then reused: registering it twice must not panic.
type registryMetrics struct {
	requests      *prometheus.CounterVec
	ignored       *prometheus.CounterVec
	alive         prometheus.Gauge
	refreshErrors prometheus.Counter
}

func newRegistryMetrics(reg prometheus.Registerer) *registryMetrics {
	m := &registryMetrics{
		requests: shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_registry_store_requests_total",
			Help: "Store requests made by the node registry (heartbeat writes and directory refreshes), by operation.",
		}, []string{"op"})),
		ignored: shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_registry_ignored_documents_total",
			Help: "Heartbeat document versions the directory ignored, by reason.",
		}, []string{"reason"})),
		alive: shared(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rewind_registry_alive_nodes",
			Help: "Nodes with a valid heartbeat younger than the dead-node timeout, at the last refresh.",
		})),
		refreshErrors: shared(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rewind_registry_refresh_errors_total",
			Help: "Directory refreshes that failed in part or in whole (the last good view is kept).",
		})),
	}
	// Touch every label so the series exist at 0: rate() and alerts need it.
	for _, op := range []string{opList, opGet, opPut, opDelete} {
		m.requests.WithLabelValues(op)
	}
	for _, r := range ignoredReasons {
		m.ignored.WithLabelValues(r)
	}
	return m
}

// shared registers c on reg (nil: not registered), or returns the collector
// of the same description registered there before.
func shared[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err) // a different collector under our name: a programming error, like promauto
}

// countedStore is the store as the registry uses it: every request it makes
// goes through here and is counted, so the metric is the whole truth.
type countedStore struct {
	st store.Store
	m  *registryMetrics
}

func (c countedStore) list(ctx context.Context, prefix string, opts store.ListOptions) (store.ListResult, error) {
	c.m.requests.WithLabelValues(opList).Inc()
	return c.st.List(ctx, prefix, opts)
}

func (c countedStore) get(ctx context.Context, key string) (io.ReadCloser, store.Info, error) {
	c.m.requests.WithLabelValues(opGet).Inc()
	return c.st.Get(ctx, key, nil)
}

func (c countedStore) put(ctx context.Context, key string, data []byte, contentType string) error {
	c.m.requests.WithLabelValues(opPut).Inc()
	return c.st.Put(ctx, key, data, contentType)
}

func (c countedStore) delete(ctx context.Context, key string) error {
	c.m.requests.WithLabelValues(opDelete).Inc()
	return c.st.Delete(ctx, key)
}
