// Package cache provides byte-budgeted in-memory caches (ristretto) with
// singleflight loading, shared by the replay API and the editor.
package cache

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// Config sizes one cache.
type Config struct {
	Name     string // metric label, e.g. "index_chunks"
	MaxBytes int64  // cost budget in bytes (ristretto MaxCost)
}

// numCounters follows ristretto's advice of 10x the expected item count,
// assuming items of about 1 KiB, clamped so tiny caches still admit well and
// huge ones do not spend much memory on counters.
func (c Config) numCounters() int64 {
	const lo, hi = 1e4, 1e7
	return min(max(c.MaxBytes/1024*10, lo), hi)
}

// Cache maps string keys to values of type V, with cost measured in bytes.
// It is safe for concurrent use.
type Cache[V any] struct {
	name     string
	maxBytes int64
	rc       *ristretto.Cache[string, V]
	group    singleflight.Group
	metrics  *metrics

	// mu guards against ristretto's Close racing Set/Wait/Get, which it does
	// not handle (Wait could block forever on a stopped worker).
	mu     sync.RWMutex
	closed bool
}

// New creates a cache. reg may be nil to skip metrics.
func New[V any](cfg Config, reg prometheus.Registerer) (*Cache[V], error) {
	if cfg.Name == "" {
		return nil, errors.New("cache: config has no name")
	}
	if cfg.MaxBytes <= 0 {
		return nil, fmt.Errorf("cache %s: MaxBytes must be positive, got %d", cfg.Name, cfg.MaxBytes)
	}
	rc, err := ristretto.NewCache(&ristretto.Config[string, V]{
		NumCounters:        cfg.numCounters(),
		MaxCost:            cfg.MaxBytes,
		BufferItems:        64,
		Metrics:            true, // feeds the bytes gauge
		IgnoreInternalCost: true, // cost is exactly the bytes callers pass
	})
	if err != nil {
		return nil, fmt.Errorf("cache %s: create ristretto cache: %w", cfg.Name, err)
	}
	c := &Cache[V]{name: cfg.Name, maxBytes: cfg.MaxBytes, rc: rc}
	c.metrics, err = newMetrics(reg, cfg.Name, c.costBytes)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return c, nil
}

// costBytes is the cost currently held; ristretto counts deletes and expiries
// as evictions, so added minus evicted is what is resident.
func (c *Cache[V]) costBytes() float64 {
	m := c.rc.Metrics
	return float64(int64(m.CostAdded() - m.CostEvicted()))
}

// Peek returns a cached value without loading. It does not count towards the
// hit/miss metrics, which describe Get.
func (c *Cache[V]) Peek(key string) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rc.Get(key)
}

// Set stores v with the given cost in bytes and TTL (0 = no expiry). A value
// that cannot be cached (cost <= 0, cost > MaxBytes, ttl < 0) removes any
// older value for key instead, so readers never see a value older than v.
// The policy may still decline to admit v when the cache is under pressure.
func (c *Cache[V]) Set(key string, v V, cost int64, ttl time.Duration) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return
	}
	if !c.cacheable(cost, ttl) {
		c.rc.Del(key)
	} else {
		c.rc.SetWithTTL(key, v, cost, ttl)
	}
	// ristretto applies writes asynchronously; wait so an immediate Get hits
	// and a warm hit never falls through to the store.
	c.rc.Wait()
}

func (c *Cache[V]) cacheable(cost int64, ttl time.Duration) bool {
	return cost > 0 && cost <= c.maxBytes && ttl >= 0
}

// Delete removes key. A load in flight for key may still store its result.
func (c *Cache[V]) Delete(key string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return
	}
	c.rc.Del(key)
	c.rc.Wait()
}

// Clear removes every value (for a purge whose keys are not known, such as
// everything rendered from a deleted recording). Loads in flight may still
// store their results.
func (c *Cache[V]) Clear() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return
	}
	c.rc.Clear()
}

// Close releases the cache's goroutines and its bytes gauge. Afterwards Get
// still works but loads every time, and Set is a no-op.
func (c *Cache[V]) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.rc.Close()
	c.metrics.unregister()
}
