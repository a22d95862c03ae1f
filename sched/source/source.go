// Package source produces the scheduler's inputs, qos.Snapshot, from the
// collector's aggregates: in process (`rewind dev`, InProcess) or from
// Prometheus over its HTTP API (at scale, Prometheus). Both answer the same
// numbers for the same reports: a Window's counts are the growth of the
// collector's cumulative counters between two instants Span apart. It also
// probes the CDNs itself (Prober) and runs a reader on an interval with a
// deadline and a freshness state (Runner).
package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rewind-vod/rewind/sched/collect"
	"github.com/rewind-vod/rewind/sched/qos"
)

// Reader answers the scheduler's input for the last Span. Read returns
// when ctx is done at the latest.
type Reader interface {
	// Name is the snapshot's Source and the metrics' source label.
	Name() string
	// Span is the length of the windows it answers.
	Span() time.Duration
	Read(ctx context.Context) (qos.Snapshot, error)
}

// field is one Window value and the collector metric it comes from. The
// table is what keeps the two readers on the same numbers: InProcess
// subtracts through get, Prometheus queries metric.
type field struct {
	name   string // the query's "field" label
	metric string
	relay  bool // labelled by cdn only
	get    func(*qos.Window) *float64
}

var fields = []field{
	{"sessions", "rewind_qos_first_frame_seconds_count", false, func(w *qos.Window) *float64 { return &w.Sessions }},
	{"first_frame_sum", "rewind_qos_first_frame_seconds_sum", false, func(w *qos.Window) *float64 { return &w.FirstFrameSum }},
	{"latency_count", "rewind_qos_latency_seconds_count", false, func(w *qos.Window) *float64 { return &w.LatencyCount }},
	{"latency_sum", "rewind_qos_latency_seconds_sum", false, func(w *qos.Window) *float64 { return &w.LatencySum }},
	{"watched_seconds", "rewind_qos_watched_seconds_total", false, func(w *qos.Window) *float64 { return &w.WatchedSeconds }},
	{"stalls", "rewind_qos_stalls_total", false, func(w *qos.Window) *float64 { return &w.Stalls }},
	{"stalled_seconds", "rewind_qos_stalled_seconds_total", false, func(w *qos.Window) *float64 { return &w.StalledSeconds }},
	{"errors", "rewind_qos_errors_total", false, func(w *qos.Window) *float64 { return &w.Errors }},
	{"dropped_frames", "rewind_qos_dropped_frames_total", false, func(w *qos.Window) *float64 { return &w.DroppedFrames }},
	{"push_publish_errors", "rewind_qos_push_publish_errors_total", false, func(w *qos.Window) *float64 { return &w.PushPublishErrors }},
	{"push_dropped_frames", "rewind_qos_push_dropped_frames_total", false, func(w *qos.Window) *float64 { return &w.PushDroppedFrames }},
	{"push_frames", "rewind_qos_push_frames_total", false, func(w *qos.Window) *float64 { return &w.PushFrames }},
	{"bytes", "rewind_qos_bytes_total", false, func(w *qos.Window) *float64 { return &w.Bytes }},
	{"relay_connect_failures", "rewind_qos_relay_connect_failures_total", true, func(w *qos.Window) *float64 { return &w.RelayConnectFailures }},
	{"relay_reconnects", "rewind_qos_relay_reconnects_total", true, func(w *qos.Window) *float64 { return &w.RelayReconnects }},
	{"relay_dropped_frames", "rewind_qos_relay_dropped_frames_total", true, func(w *qos.Window) *float64 { return &w.RelayDroppedFrames }},
}

var fieldByName = func() map[string]*field {
	m := make(map[string]*field, len(fields))
	for i := range fields {
		m[fields[i].name] = &fields[i]
	}
	return m
}()

// increase is what a counter grew by from old to cur; a counter that went
// down was reset (a restarted collector), and then cur is what it grew by
// since the reset, as far as two samples can tell.
func increase(cur, old float64) float64 {
	if d := cur - old; d >= 0 {
		return d
	}
	return cur
}

// spreader copies per-CDN values (relay, probes: no region) into the
// windows of that CDN. A CDN with no window gets one in every region it
// may serve: the configured regions, else the regions the snapshot has,
// else "other". Reason: a CDN whose relay or probes fail before any player
// reached it must still score badly in every region, or the policy would
// steer players onto it.
type spreader struct {
	ws      map[qos.Key]qos.Window
	regions []string
}

func newSpreader(ws map[qos.Key]qos.Window, configured []string) *spreader {
	regions := slices.Clone(configured)
	if len(regions) == 0 {
		for k := range ws {
			if !slices.Contains(regions, k.Region) {
				regions = append(regions, k.Region)
			}
		}
		slices.Sort(regions)
	}
	if len(regions) == 0 {
		regions = []string{collect.Other}
	}
	return &spreader{ws: ws, regions: regions}
}

func (s *spreader) apply(cdn string, f func(*qos.Window)) {
	found := false
	for k, w := range s.ws {
		if k.CDN == cdn {
			f(&w)
			s.ws[k] = w
			found = true
		}
	}
	if found {
		return
	}
	for _, r := range s.regions {
		var w qos.Window
		f(&w)
		s.ws[qos.Key{CDN: cdn, Region: r}] = w
	}
}

// copyWindows returns a copy the caller may change.
func copyWindows(ws map[qos.Key]qos.Window) map[qos.Key]qos.Window {
	out := make(map[qos.Key]qos.Window, len(ws))
	for k, w := range ws {
		out[k] = w
	}
	return out
}

// validLabel is what a cdn or region label may be: the collector's own
// rule for configured names (and "other"), 1..64 printable ASCII.
func validLabel(v string) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

func checkRegions(pkg string, regions []string) error {
	seen := map[string]bool{}
	for _, r := range regions {
		if !validLabel(r) {
			return fmt.Errorf("source: %s: region %q: must be 1..64 printable ASCII characters", pkg, r)
		}
		if seen[r] {
			return fmt.Errorf("source: %s: region %q listed twice", pkg, r)
		}
		seen[r] = true
	}
	return nil
}

// duration checks a configured duration: zero takes def, negative is an
// error.
func duration(pkg, name string, v *time.Duration, def time.Duration) error {
	if *v < 0 {
		return fmt.Errorf("source: %s: %s %v is negative", pkg, name, *v)
	}
	if *v == 0 {
		*v = def
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// register registers c, or returns the collector already registered under
// the same description, so that two runners (one per source) share their
// labelled metrics on one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("source: register metrics: %w", err)
	}
	return c, nil
}
