package collect

import (
	"cmp"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
)

// StreamSnapshot is what players reported of one stream on one CDN, for
// the in-process reader and the console.
type StreamSnapshot struct {
	Stream, CDN    string
	Sessions       int64 // sessions that reached a first frame
	Errors         int64
	Stalls         int64
	WatchedSeconds float64
}

type streamKey struct{ stream, cdn string }

// streamLabels bounds the stream label: the first max valid stream names
// seen get their own series, every later one (and anything that is not an
// app/name) is Other. Streams come and go, so a long-running collector's
// first streams keep their series; restart it (or raise MaxStreams) to
// follow others. The totals per (cdn, region) count every stream.
type streamLabels struct {
	max  int
	seen map[string]bool
}

func (l *streamLabels) label(s string) string {
	if l.seen[s] {
		return s
	}
	// Full first: once full, a new name costs no parse.
	if len(l.seen) >= l.max {
		return Other
	}
	if _, err := catalog.ParseStream(s); err != nil {
		return Other
	}
	l.seen[s] = true
	return s
}

// streamMetrics are the per-stream series: a few counters by (stream,
// cdn) only, so the series count is MaxStreams x CDNs, not x regions.
type streamMetrics struct {
	sessions, errors, stalls, watched *prometheus.CounterVec
}

func newStreamMetrics() *streamMetrics {
	sc := []string{"stream", "cdn"}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, sc)
	}
	return &streamMetrics{
		sessions: counter("rewind_qos_stream_sessions_total", "Sessions that reached a first frame, per stream (the first --qos-max-streams streams; the rest are \"other\")."),
		errors:   counter("rewind_qos_stream_errors_total", "Player errors, per stream."),
		stalls:   counter("rewind_qos_stream_stalls_total", "Playback stalls, per stream."),
		watched:  counter("rewind_qos_stream_watched_seconds_total", "Time watched, per stream."),
	}
}

func (m *streamMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.sessions, m.errors, m.stalls, m.watched}
}

// addStreamLocked counts o's player side against its stream.
func (a *Aggregator) addStreamLocked(o *Observation) {
	if o.Stream == "" {
		return
	}
	k := streamKey{a.streamLabels.label(o.Stream), o.CDN}
	s := a.streams[k]
	if s == nil {
		s = &StreamSnapshot{Stream: k.stream, CDN: k.cdn}
		a.streams[k] = s
	}
	sm, lv := a.m.stream, []string{k.stream, k.cdn}
	count(&s.Sessions, int64(len(o.FirstFrame)), sm.sessions.WithLabelValues(lv...))
	count(&s.Errors, o.Errors, sm.errors.WithLabelValues(lv...))
	count(&s.Stalls, o.Stalls, sm.stalls.WithLabelValues(lv...))
	if o.WatchedMS > 0 {
		s.WatchedSeconds += float64(o.WatchedMS) / 1000
		sm.watched.WithLabelValues(lv...).Add(float64(o.WatchedMS) / 1000)
	}
}

// Streams returns the per-stream totals, sorted by stream then CDN.
func (a *Aggregator) Streams() []StreamSnapshot {
	a.mu.Lock()
	out := make([]StreamSnapshot, 0, len(a.streams))
	for _, s := range a.streams {
		out = append(out, *s)
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y StreamSnapshot) int {
		return cmp.Or(cmp.Compare(x.Stream, y.Stream), cmp.Compare(x.CDN, y.CDN))
	})
	return out
}

// streamOfPath is the stream of a replay API path (/hls/{app}/{name}/...
// playlists and segments, /seg/{app}/{name}/... segments), or "".
func streamOfPath(p string) string {
	rest, ok := strings.CutPrefix(p, "/hls/")
	if !ok {
		if rest, ok = strings.CutPrefix(p, "/seg/"); !ok {
			return ""
		}
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 {
		return ""
	}
	return parts[0] + "/" + parts[1]
}
