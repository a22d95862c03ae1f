// Package backoff is rewind's one retry wait: exponential from a minimum,
// capped, with equal jitter.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is a retry schedule: the n-th failure waits about Min·2^(n-1),
// at most Max.
type Policy struct {
	Min, Max time.Duration
}

// Step is the wait after the n-th consecutive failure (n >= 1), before
// jitter: Min doubling, capped at Max.
func (p Policy) Step(n int) time.Duration {
	d := max(p.Min, time.Nanosecond)
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, max(p.Max, p.Min))
}

// Wait is Step(n) with equal jitter: half of it plus a random part of the
// other half. Many clients retrying one server (uploads after a store
// outage, relays to one CDN) spread out, and none retries in less than
// half the step.
func (p Policy) Wait(n int) time.Duration {
	d := p.Step(n)
	return d/2 + rand.N(d-d/2+1)
}

// Sleep waits d, or less if ctx ends first; it reports whether the whole
// wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
