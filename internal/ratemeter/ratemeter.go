// Package ratemeter measures recent rates (bits or frames per second) in
// one-second buckets.
//
// It lives in internal/ rather than in origin because origin and its
// subpackages (the relay) both measure what they send, and origin should
// not export a helper that is no part of its API; it is not in rtmpwire
// because it has nothing to do with RTMP (HTTP-FLV players use it too).
package ratemeter

import (
	"sync"
	"time"
)

// Window is how many whole seconds a rate is averaged over.
const Window = 5

// Meter counts events into one-second buckets, so a rate reflects the
// last few seconds rather than the average since counting began. The zero
// value is ready to use; it is safe for concurrent use.
type Meter struct {
	mu      sync.Mutex
	first   int64 // unix second of the first event
	sec     int64 // unix second of the current bucket
	buckets [Window + 1]uint64
}

// advance moves the current bucket to second s, zeroing the skipped ones.
func (m *Meter) advance(s int64) {
	if m.sec == 0 || s-m.sec > int64(len(m.buckets)) {
		m.buckets = [Window + 1]uint64{}
	} else {
		for t := m.sec + 1; t <= s; t++ {
			m.buckets[t%int64(len(m.buckets))] = 0
		}
	}
	if s > m.sec {
		m.sec = s
	}
}

// Add counts n events at now.
func (m *Meter) Add(now time.Time, n uint64) {
	m.mu.Lock()
	if m.first == 0 {
		m.first = now.Unix()
	}
	m.advance(now.Unix())
	m.buckets[m.sec%int64(len(m.buckets))] += n
	m.mu.Unlock()
}

// Rate is events per second over the last Window whole seconds. The
// current second is left out, and so is the first (both are partial).
func (m *Meter) Rate(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.first == 0 {
		return 0
	}
	cur := now.Unix()
	m.advance(cur)
	lo := max(cur-Window, m.first+1)
	if lo >= cur {
		return 0
	}
	var sum uint64
	for t := lo; t < cur; t++ {
		sum += m.buckets[t%int64(len(m.buckets))]
	}
	return float64(sum) / float64(cur-lo)
}
