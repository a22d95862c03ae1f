package cache

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// loader produces a value on a miss, with its cost in bytes (<= 0: do not
// cache) and TTL (0: no expiry).
type loader[V any] func(ctx context.Context) (v V, cost int64, ttl time.Duration, err error)

// Get returns the cached value for key, or runs load once for all concurrent
// callers of key, caches the result and returns it. Errors are not cached and
// go to every waiting caller. load runs with a context detached from
// cancellation (values kept), so one caller giving up does not fail the others
// or waste the work; each caller still stops waiting when its own ctx ends.
func (c *Cache[V]) Get(ctx context.Context, key string, load func(ctx context.Context) (v V, cost int64, ttl time.Duration, err error)) (V, error) {
	if v, ok := c.Peek(key); ok {
		c.metrics.hit()
		return v, nil
	}
	c.metrics.miss()

	var zero V
	if err := ctx.Err(); err != nil {
		return zero, err // do not start work nobody is waiting for
	}
	loadCtx := context.WithoutCancel(ctx)
	ch := c.group.DoChan(key, func() (any, error) {
		// A flight that finished between our miss and joining the group has
		// already stored the value; do not read the store again.
		if v, ok := c.Peek(key); ok {
			return v, nil
		}
		return c.load(loadCtx, key, load)
	})
	select {
	case <-ctx.Done():
		return zero, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return zero, r.Err
		}
		v, _ := r.Val.(V) // comma-ok: a nil interface V arrives as nil any
		return v, nil
	}
}

// load runs the loader and stores its result before the flight ends, so
// callers arriving afterwards hit the cache.
func (c *Cache[V]) load(ctx context.Context, key string, load loader[V]) (v V, err error) {
	c.metrics.load()
	// DoChan re-panics in a fresh goroutine, which would crash the process
	// beyond any handler's recover; turn the panic into an error instead.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cache %s: load %q panicked: %v\n%s", c.name, key, p, debug.Stack())
			c.metrics.loadError()
		}
	}()
	v, cost, ttl, err := load(ctx)
	if err != nil {
		c.metrics.loadError()
		return v, fmt.Errorf("cache %s: load %q: %w", c.name, key, err)
	}
	if c.cacheable(cost, ttl) {
		c.Set(key, v, cost, ttl)
	}
	return v, nil
}
