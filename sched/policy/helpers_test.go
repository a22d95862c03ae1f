package policy

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/sched/qos"
)

var t0 = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestEngine makes an engine for CDNs a, b, c in regions eu, us, with
// cfg changed by mod.
func newTestEngine(t testing.TB, mod func(*Config)) (*Engine, *prometheus.Registry) {
	t.Helper()
	cfg := Config{CDNs: []string{"a", "b", "c"}, Regions: []string{"eu", "us"}}
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	e, err := New(cfg, quietLog(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return e, reg
}

// healthy is a minute of good viewing: 50 sessions with firstFrame s to
// first frame, 3 s latency, no stall or error, probes passing.
func healthy(firstFrame float64) qos.Window {
	return qos.Window{Sessions: 50, FirstFrameSum: 50 * firstFrame, LatencyCount: 50, LatencySum: 150,
		WatchedSeconds: 3000, ProbeSuccesses: 6, PushFrames: 1800, Bytes: 1e9}
}

// failing is a minute where most attempts fail.
func failing() qos.Window {
	return qos.Window{Sessions: 10, FirstFrameSum: 10, Errors: 40, WatchedSeconds: 600, ProbeSuccesses: 6, PushFrames: 1800}
}

func fresh(at time.Time, ws map[qos.Key]qos.Window) qos.Snapshot {
	return qos.Snapshot{Source: "test", At: at, Span: time.Minute, State: qos.Fresh, Windows: ws}
}

// everywhere puts w for cdn into every test region.
func everywhere(ws map[qos.Key]qos.Window, cdn string, w qos.Window) map[qos.Key]qos.Window {
	if ws == nil {
		ws = map[qos.Key]qos.Window{}
	}
	for _, r := range []string{"eu", "us", Other} {
		ws[qos.Key{CDN: cdn, Region: r}] = w
	}
	return ws
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
