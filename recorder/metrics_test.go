package recorder

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/media"
)

// The segment age of live runs is reported per stream, for at most
// MaxStreamSeries streams (the oldest runs), and goes away with the run.
func TestSegmentAgeSeries(t *testing.T) {
	dir := t.TempDir()
	st, err := fsstore.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	rec, err := New(Config{Spool: filepath.Join(dir, "spool"), MaxStreamSeries: 1}, st, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	open := func(name string, at time.Time) *Stream {
		s, err := rec.Open(media.StreamInfo{App: "live", Name: name, Run: catalog.NewRunID(at, "n"), StartedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	a := open("a", now.Add(-time.Minute))
	b := open("b", now)
	const name = "rewind_recorder_stream_segment_age_seconds"
	if n := testutil.CollectAndCount(reg, name); n != 1 {
		t.Fatalf("%d series with MaxStreamSeries 1", n)
	}
	if n := testutil.ToFloat64(gatherGauge(t, reg, "rewind_recorder_stream_series_omitted")); n != 1 {
		t.Errorf("omitted %v", n)
	}
	time.Sleep(50 * time.Millisecond)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetLabel()[0].GetValue() != "live/a" || m.GetGauge().GetValue() < 0.05 {
			t.Errorf("series %v = %v, want live/a (the oldest run) aging", m.GetLabel(), m.GetGauge().GetValue())
		}
	}
	a.Close()
	b.Close()
	if n := testutil.CollectAndCount(reg, name); n != 0 {
		t.Errorf("%d series after the runs ended", n)
	}
}

// gatherGauge returns a collector with the value of an unlabelled gauge.
func gatherGauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: name}, func() float64 { return mf.GetMetric()[0].GetGauge().GetValue() })
		}
	}
	t.Fatalf("no gauge %s", name)
	return nil
}
