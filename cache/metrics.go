package cache

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds one cache's children of the shared vectors. A nil *metrics
// (no registerer) makes every method a no-op so the hot path needs no checks.
type metrics struct {
	hits, misses, loads, loadErrors prometheus.Counter

	reg   prometheus.Registerer
	bytes prometheus.Collector // per-cache GaugeFunc, unregistered on Close
}

// newMetrics binds the vectors on reg to name and registers a bytes gauge that
// reads costFn at scrape time.
func newMetrics(reg prometheus.Registerer, name string, costFn func() float64) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	counter := func(metric, help string) (prometheus.Counter, error) {
		v, err := registerVec(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metric, Help: help,
		}, []string{"cache"}))
		if err != nil {
			return nil, err
		}
		return v.WithLabelValues(name), nil
	}
	m := &metrics{reg: reg}
	var err error
	if m.hits, err = counter("rewind_cache_hits_total", "Cache lookups answered from memory."); err != nil {
		return nil, err
	}
	if m.misses, err = counter("rewind_cache_misses_total", "Cache lookups not found in memory."); err != nil {
		return nil, err
	}
	if m.loads, err = counter("rewind_cache_loads_total", "Loader calls (one per singleflight group)."); err != nil {
		return nil, err
	}
	if m.loadErrors, err = counter("rewind_cache_load_errors_total", "Loader calls that returned an error."); err != nil {
		return nil, err
	}
	// A GaugeFunc per cache (const label) rather than a vector: ristretto
	// already tracks cost, so reading it at scrape time avoids bookkeeping.
	m.bytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "rewind_cache_bytes",
		Help:        "Bytes (cost) held by the cache.",
		ConstLabels: prometheus.Labels{"cache": name},
	}, costFn)
	if err := reg.Register(m.bytes); err != nil {
		return nil, fmt.Errorf("cache %s: register bytes gauge (duplicate cache name?): %w", name, err)
	}
	return m, nil
}

// registerVec registers v, or returns the vector already registered under the
// same name so several caches can share one registry.
func registerVec(reg prometheus.Registerer, v *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(v)
	if err == nil {
		return v, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("cache: register counter vector: %w", err)
}

func (m *metrics) hit() {
	if m != nil {
		m.hits.Inc()
	}
}

func (m *metrics) miss() {
	if m != nil {
		m.misses.Inc()
	}
}

func (m *metrics) load() {
	if m != nil {
		m.loads.Inc()
	}
}

func (m *metrics) loadError() {
	if m != nil {
		m.loadErrors.Inc()
	}
}

// unregister frees the gauge so a cache of the same name can be created again.
// The counters stay: they are cumulative and shared per registry.
func (m *metrics) unregister() {
	if m != nil {
		m.reg.Unregister(m.bytes)
	}
}
