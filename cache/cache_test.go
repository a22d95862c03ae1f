package cache

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const testMax = 1 << 20

func newTest(t *testing.T, reg prometheus.Registerer) *Cache[string] {
	t.Helper()
	c, err := New[string](Config{Name: "test", MaxBytes: testMax}, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// countingLoad returns a loader yielding v with the given cost and ttl, and a
// counter of its calls.
func countingLoad(v string, cost int64, ttl time.Duration) (func(context.Context) (string, int64, time.Duration, error), *atomic.Int32) {
	var n atomic.Int32
	return func(context.Context) (string, int64, time.Duration, error) {
		n.Add(1)
		return v, cost, ttl, nil
	}, &n
}

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestHitAfterLoad(t *testing.T) {
	c := newTest(t, nil)
	load, n := countingLoad("v", 10, 0)
	for i := range 3 {
		v, err := c.Get(t.Context(), "k", load)
		if err != nil || v != "v" {
			t.Fatalf("get %d = %q, %v", i, v, err)
		}
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("load called %d times, want 1", got)
	}
	if v, ok := c.Peek("k"); !ok || v != "v" {
		t.Fatalf("peek = %q, %v", v, ok)
	}
}

func TestSingleflight(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := newTest(t, reg)
	const callers = 100
	var loads atomic.Int32
	load := func(context.Context) (string, int64, time.Duration, error) {
		loads.Add(1)
		// Hold the flight open until every caller has missed, i.e. is about
		// to join or has joined it. (No t.Fatal: this is not the test goroutine.)
		deadline := time.Now().Add(2 * time.Second)
		for testutil.ToFloat64(c.metrics.misses) < callers {
			if time.Now().After(deadline) {
				return "", 0, 0, errors.New("timed out waiting for all callers to miss")
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond) // let the last misses reach DoChan
		return "v", 1, 0, nil
	}
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if v, err := c.Get(t.Context(), "k", load); err != nil || v != "v" {
				t.Errorf("get = %q, %v", v, err)
			}
		})
	}
	wg.Wait()
	if got := loads.Load(); got != 1 {
		t.Fatalf("load called %d times, want 1", got)
	}
}

func TestErrorsNotCached(t *testing.T) {
	c := newTest(t, nil)
	errBoom := errors.New("boom")
	var n atomic.Int32
	load := func(context.Context) (string, int64, time.Duration, error) {
		n.Add(1)
		return "", 0, 0, errBoom
	}
	for range 2 {
		if _, err := c.Get(t.Context(), "k", load); !errors.Is(err, errBoom) {
			t.Fatalf("err = %v, want wrapping %v", err, errBoom)
		}
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("load called %d times, want 2 (errors must not be cached)", got)
	}
}

func TestPanicBecomesError(t *testing.T) {
	c := newTest(t, nil)
	_, err := c.Get(t.Context(), "k", func(context.Context) (string, int64, time.Duration, error) {
		panic("kaboom")
	})
	if err == nil || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("err = %v, want panic as error", err)
	}
}

func TestTTLExpiry(t *testing.T) {
	c := newTest(t, nil)
	load, n := countingLoad("v", 10, 50*time.Millisecond)
	if _, err := c.Get(t.Context(), "k", load); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Peek("k"); !ok {
		t.Fatal("not cached right after load")
	}
	waitFor(t, "expiry", func() bool { _, ok := c.Peek("k"); return !ok })
	if _, err := c.Get(t.Context(), "k", load); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 2 {
		t.Fatalf("load called %d times, want 2 after expiry", got)
	}
}

func TestNotCached(t *testing.T) {
	for _, tc := range []struct {
		name string
		cost int64
	}{
		{"zero cost", 0},
		{"negative cost", -1},
		{"oversized", testMax + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTest(t, nil)
			load, n := countingLoad("v", tc.cost, 0)
			for range 2 {
				if v, err := c.Get(t.Context(), "k", load); err != nil || v != "v" {
					t.Fatalf("get = %q, %v; the value must still be returned", v, err)
				}
			}
			if got := n.Load(); got != 2 {
				t.Fatalf("load called %d times, want 2 (not cached)", got)
			}
		})
	}
}

func TestSetUncacheableDropsOld(t *testing.T) {
	c := newTest(t, nil)
	c.Set("k", "old", 10, 0)
	if v, ok := c.Peek("k"); !ok || v != "old" {
		t.Fatalf("peek after set = %q, %v", v, ok)
	}
	c.Set("k", "new", testMax+1, 0)
	if v, ok := c.Peek("k"); ok {
		t.Fatalf("stale %q still cached after an uncacheable Set", v)
	}
}

func TestDelete(t *testing.T) {
	c := newTest(t, nil)
	c.Set("k", "v", 10, 0)
	c.Delete("k")
	if _, ok := c.Peek("k"); ok {
		t.Fatal("still cached after Delete")
	}
}

func TestClear(t *testing.T) {
	c := newTest(t, nil)
	c.Set("a", "v", 10, 0)
	c.Set("b", "w", 10, 0)
	c.Clear()
	for _, k := range []string{"a", "b"} {
		if _, ok := c.Peek(k); ok {
			t.Fatalf("%s still cached after Clear", k)
		}
	}
	c.Set("a", "x", 10, 0) // the cache works on after a Clear
	if v, ok := c.Peek("a"); !ok || v != "x" {
		t.Fatalf("after Clear: %q %v", v, ok)
	}
}

func TestCallerCancelDoesNotCancelLoad(t *testing.T) {
	c := newTest(t, nil)
	release := make(chan struct{})
	started := make(chan struct{})
	var loadErr atomic.Value
	load := func(ctx context.Context) (string, int64, time.Duration, error) {
		close(started)
		<-release
		if err := ctx.Err(); err != nil {
			loadErr.Store(err)
		}
		return "v", 10, 0, nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, "k", load)
		done <- err
	}()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v, want context.Canceled", err)
	}
	close(release)

	// The next caller joins the still-running flight or hits its result;
	// either way the load is not repeated.
	v, err := c.Get(t.Context(), "k", func(context.Context) (string, int64, time.Duration, error) {
		t.Error("load repeated after the first caller cancelled")
		return "", 0, 0, errors.New("unexpected load")
	})
	if err != nil || v != "v" {
		t.Fatalf("second get = %q, %v", v, err)
	}
	if err := loadErr.Load(); err != nil {
		t.Fatalf("load saw its context cancelled: %v", err)
	}
}

func TestCancelledBeforeGet(t *testing.T) {
	c := newTest(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	load, n := countingLoad("v", 10, 0)
	if _, err := c.Get(ctx, "k", load); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n.Load() != 0 {
		t.Fatal("load started for a caller that had already gone")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := newTest(t, reg)
	load, _ := countingLoad("v", 100, 0)
	ctx := t.Context()
	_, _ = c.Get(ctx, "a", load) // miss + load
	_, _ = c.Get(ctx, "a", load) // hit
	_, _ = c.Get(ctx, "b", func(context.Context) (string, int64, time.Duration, error) {
		return "", 0, 0, errors.New("boom")
	}) // miss + load + error

	const want = `
# HELP rewind_cache_bytes Bytes (cost) held by the cache.
# TYPE rewind_cache_bytes gauge
rewind_cache_bytes{cache="test"} 100
# HELP rewind_cache_hits_total Cache lookups answered from memory.
# TYPE rewind_cache_hits_total counter
rewind_cache_hits_total{cache="test"} 1
# HELP rewind_cache_load_errors_total Loader calls that returned an error.
# TYPE rewind_cache_load_errors_total counter
rewind_cache_load_errors_total{cache="test"} 1
# HELP rewind_cache_loads_total Loader calls (one per singleflight group).
# TYPE rewind_cache_loads_total counter
rewind_cache_loads_total{cache="test"} 2
# HELP rewind_cache_misses_total Cache lookups not found in memory.
# TYPE rewind_cache_misses_total counter
rewind_cache_misses_total{cache="test"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}

	c.Delete("a")
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP rewind_cache_bytes Bytes (cost) held by the cache.
# TYPE rewind_cache_bytes gauge
rewind_cache_bytes{cache="test"} 0
`), "rewind_cache_bytes"); err != nil {
		t.Fatal(err)
	}
}

func TestTwoCachesOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := New[string](Config{Name: "a", MaxBytes: testMax}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New[[]byte](Config{Name: "b", MaxBytes: testMax}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	_, _ = a.Get(t.Context(), "k", func(context.Context) (string, int64, time.Duration, error) {
		return "v", 3, 0, nil
	})
	_, _ = b.Get(t.Context(), "k", func(context.Context) ([]byte, int64, time.Duration, error) {
		return []byte("vv"), 2, 0, nil
	})
	_, _ = b.Get(t.Context(), "k", nil) // hit; load not needed

	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP rewind_cache_bytes Bytes (cost) held by the cache.
# TYPE rewind_cache_bytes gauge
rewind_cache_bytes{cache="a"} 3
rewind_cache_bytes{cache="b"} 2
# HELP rewind_cache_hits_total Cache lookups answered from memory.
# TYPE rewind_cache_hits_total counter
rewind_cache_hits_total{cache="a"} 0
rewind_cache_hits_total{cache="b"} 1
`), "rewind_cache_bytes", "rewind_cache_hits_total"); err != nil {
		t.Fatal(err)
	}

	// A duplicate name would make its gauge collide; it must fail, not panic.
	if _, err := New[string](Config{Name: "a", MaxBytes: testMax}, reg); err == nil {
		t.Fatal("duplicate cache name on one registry: want error")
	}
	// After Close the name is free again.
	a.Close()
	a2, err := New[string](Config{Name: "a", MaxBytes: testMax}, reg)
	if err != nil {
		t.Fatalf("recreate after Close: %v", err)
	}
	a2.Close()
}

func TestConfig(t *testing.T) {
	if _, err := New[string](Config{Name: "x"}, nil); err == nil {
		t.Fatal("MaxBytes 0: want error")
	}
	if _, err := New[string](Config{MaxBytes: 1}, nil); err == nil {
		t.Fatal("empty name: want error")
	}
	for _, tc := range []struct{ max, want int64 }{
		{1 << 10, 1e4},
		{100 << 20, 100 << 10 * 10},
		{1 << 40, 1e7},
	} {
		if got := (Config{MaxBytes: tc.max}).numCounters(); got != tc.want {
			t.Errorf("numCounters(%d) = %d, want %d", tc.max, got, tc.want)
		}
	}
}

func TestUseAfterClose(t *testing.T) {
	c := newTest(t, nil)
	c.Close()
	c.Set("k", "v", 10, 0)
	c.Delete("k")
	load, n := countingLoad("v", 10, 0)
	if v, err := c.Get(t.Context(), "k", load); err != nil || v != "v" || n.Load() != 1 {
		t.Fatalf("get after close = %q, %v (loads %d)", v, err, n.Load())
	}
}
