package vodapi

import (
	"fmt"
	"net/http"
	"time"
)

// cacheLife is how long an answer may be kept by caches. Every route sets
// its Cache-Control through setCache, so that the rules below hold on all of
// them: an answer that needed a playback token is cacheable at most until
// the token expires and is never immutable (a CDN keys on the URL, token
// included, and must not keep serving it once the token is dead).
type cacheLife struct {
	maxAge    time.Duration // kept this long
	swr       time.Duration // stale-while-revalidate after maxAge
	immutable bool          // never changes: a year, immutable
	private   bool          // the client's own cache only (per-user answers)
}

var (
	// noStore: never cached (credential errors, our own failures, job
	// submissions).
	noStore = cacheLife{}
	// forever: content that can never change (segments, closed playlists,
	// recorded frames).
	forever = cacheLife{immutable: true}
)

// shortLife is a plain public lifetime (lists, static pages, client errors).
func shortLife(d time.Duration) cacheLife { return cacheLife{maxAge: d} }

// liveLife is the live edge: about half a target duration, then served
// stale for a little longer while the cache refetches.
func (s *Server) liveLife() cacheLife {
	half := max(s.cfg.TargetDuration/2, time.Second).Truncate(time.Second)
	return cacheLife{maxAge: half, swr: 2 * half}
}

// cacheControl renders life as a Cache-Control value, bounded by the token
// expiry exp (zero: no token was needed).
func cacheControl(life cacheLife, exp, now time.Time) string {
	if !exp.IsZero() {
		left := exp.Sub(now).Truncate(time.Second)
		if left <= 0 {
			return "no-store"
		}
		if life.immutable {
			life = cacheLife{maxAge: left, private: life.private}
		}
		life.maxAge = min(life.maxAge, left)
		life.swr = min(life.swr, left-life.maxAge)
	}
	scope := "public"
	if life.private {
		scope = "private"
	}
	switch {
	case life.immutable:
		return scope + ", max-age=31536000, immutable"
	case life.maxAge <= 0:
		return "no-store"
	case life.swr > 0:
		return fmt.Sprintf("%s, max-age=%d, stale-while-revalidate=%d", scope, int(life.maxAge.Seconds()), int(life.swr.Seconds()))
	default:
		return fmt.Sprintf("%s, max-age=%d", scope, int(life.maxAge.Seconds()))
	}
}

// setCache sets the answer's Cache-Control: life, bounded by the token tok
// that opened it (the zero playToken when none was needed).
func (s *Server) setCache(h http.Header, life cacheLife, tok playToken) {
	h.Set("Cache-Control", cacheControl(life, tok.exp, s.now()))
}
