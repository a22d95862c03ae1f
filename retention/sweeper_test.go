package retention

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

var day = 24 * time.Hour

// putRun stores a run of n 2 s segments starting at start, as the
// recorder leaves it: segments, index, run.json (ended at the last
// segment's end unless live).
func putRun(t *testing.T, st store.Store, s catalog.Stream, start time.Time, n int, live bool) string {
	t.Helper()
	ctx := context.Background()
	run := catalog.NewRunID(start, "node1")
	w := catalog.NewIndexWriter(nil)
	at := start.UnixMilli()
	for i := range n {
		seq := uint64(i + 1)
		data := []byte("segment bytes")
		if err := st.Put(ctx, catalog.SegmentKey(s, run, seq), data, "video/mp2t"); err != nil {
			t.Fatal(err)
		}
		e := catalog.Entry{Seq: seq, StartMS: at, Duration: 2 * 90000, Size: uint32(len(data)), Flags: catalog.FlagIndependent}
		at = e.EndMS()
		cws, err := w.Append(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, cw := range cws {
			if err := st.Put(ctx, catalog.IndexChunkKey(s, run, cw.Number), cw.Data, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := catalog.Manifest{Version: catalog.ManifestVersion, Stream: s.String(), Run: run, Node: "node1", StartedAt: start.UTC(),
		State: catalog.StateLive, TargetDurationMS: 2000}
	if !live {
		end := time.UnixMilli(at).UTC()
		m.State, m.EndedAt = catalog.StateEnded, &end
	}
	if err := catalog.WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	return run
}

func objects(t *testing.T, st store.Store, s catalog.Stream, run string) int {
	t.Helper()
	objs, err := catalog.RunObjects(context.Background(), st, s, run)
	if err != nil {
		t.Fatal(err)
	}
	return len(objs)
}

// The sweeper on the FS store: old ended runs (and stale ones, whose node
// died) go, recent ones stay, a live run older than the rule stays, apps
// without a rule are not touched; orphans go once old, and a delete that
// crashed part way is finished.
func TestSweepFS(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, err := fsstore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	cam := catalog.Stream{App: "live", Name: "cam"}
	news := catalog.Stream{App: "news", Name: "desk"}

	old := putRun(t, st, cam, now.Add(-10*day), 30, false)
	recent := putRun(t, st, cam, now.Add(-day), 30, false)
	// Live for 30 days: started long before the rule, its last segment
	// ends a second ago.
	liveStart := now.Add(-30 * day)
	liveRun := putRun(t, st, cam, liveStart, 0, true)
	{
		w := catalog.NewIndexWriter(nil)
		e := catalog.Entry{Seq: 1, StartMS: now.Add(-3 * time.Second).UnixMilli(), Duration: 2 * 90000, Size: 10, Flags: catalog.FlagIndependent}
		cws, _ := w.Append(e)
		for _, cw := range cws {
			if err := st.Put(ctx, catalog.IndexChunkKey(cam, liveRun, cw.Number), cw.Data, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	stale := putRun(t, st, cam, now.Add(-20*day), 30, true) // node died 20 days ago
	noRule := putRun(t, st, news, now.Add(-300*day), 30, false)
	// Orphans without run.json: one with old objects, one just written.
	orphanOld := putRun(t, st, cam, now.Add(-40*day), 3, false)
	orphanNew := putRun(t, st, cam, now.Add(-40*day+time.Hour), 3, false)
	for _, r := range []string{orphanOld, orphanNew} {
		if err := st.Delete(ctx, catalog.ManifestKey(cam, r)); err != nil {
			t.Fatal(err)
		}
	}
	objs, _ := catalog.RunObjects(ctx, st, cam, orphanOld)
	for _, o := range objs {
		if err := os.Chtimes(filepath.Join(root, filepath.FromSlash(o.Key)), now.Add(-39*day), now.Add(-39*day)); err != nil {
			t.Fatal(err)
		}
	}
	// A delete that crashed after removing run.json: its marker stays.
	crashed := putRun(t, st, cam, now.Add(-2*time.Hour), 5, false)
	mk, _ := json.Marshal(catalog.Deletion{Runs: []string{crashed}, StartedAt: now})
	if err := st.Put(ctx, catalog.DeletionKey(cam, crashed), mk, "application/json"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, catalog.ManifestKey(cam, crashed)); err != nil {
		t.Fatal(err)
	}
	wantObjects := 0
	for _, r := range []string{old, stale, orphanOld, crashed} {
		wantObjects += objects(t, st, cam, r)
	}
	wantObjects-- // the marker is not counted

	reg := prometheus.NewRegistry()
	rules, err := ParseRules("live=7d")
	if err != nil {
		t.Fatal(err)
	}
	sw := New(Config{Rules: rules}, st, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	sw.now = func() time.Time { return now }
	res, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Runs != 4 || res.Objects != wantObjects || res.Failures != 0 || res.Bytes <= 0 {
		t.Errorf("sweep: %+v, want 4 runs, %d objects", res, wantObjects)
	}
	for _, r := range []string{old, stale, orphanOld, crashed} {
		if n := objects(t, st, cam, r); n != 0 {
			t.Errorf("run %s: %d objects left", r, n)
		}
	}
	for _, r := range []string{recent, liveRun, orphanNew} {
		if objects(t, st, cam, r) == 0 {
			t.Errorf("run %s was swept", r)
		}
	}
	if objects(t, st, news, noRule) == 0 {
		t.Error("an app without a rule was swept")
	}
	runs, _ := catalog.ListRuns(ctx, st, cam)
	if want := []string{orphanNew, liveRun, recent}; !slices.Equal(runs, want) {
		t.Errorf("runs left %v, want %v", runs, want)
	}
	if got := testutil.ToFloat64(sw.m.runs); got != 4 {
		t.Errorf("rewind_retention_runs_swept_total = %v, want 4", got)
	}
	if got := testutil.ToFloat64(sw.m.objects); got != float64(wantObjects) {
		t.Errorf("rewind_retention_objects_swept_total = %v, want %d", got, wantObjects)
	}
	if got := testutil.ToFloat64(sw.m.failures); got != 0 {
		t.Errorf("rewind_retention_failures_total = %v", got)
	}
	if n, err := testutil.GatherAndCount(reg, "rewind_retention_bytes_swept_total", "rewind_retention_last_sweep_timestamp_seconds"); err != nil || n != 2 {
		t.Errorf("metrics registered: %d, %v", n, err)
	}

	// Once the live run ends it ages like any other; a second sweep at the
	// same time changes nothing.
	if res, err := sw.Sweep(ctx); err != nil || res.Runs != 0 || res.Objects != 0 {
		t.Errorf("second sweep: %+v, %v", res, err)
	}
}

// An unreadable run.json is a failure, counted, and the run is kept.
func TestSweepKeepsWhatItCannotRead(t *testing.T) {
	ctx := context.Background()
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	cam := catalog.Stream{App: "live", Name: "cam"}
	run := putRun(t, st, cam, now.Add(-10*day), 3, false)
	if err := st.Put(ctx, catalog.ManifestKey(cam, run), []byte("{not json"), "application/json"); err != nil {
		t.Fatal(err)
	}
	sw := New(Config{Rules: Rules{"live": day}}, st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	res, err := sw.Sweep(ctx)
	if err != nil || res.Failures != 1 || res.Runs != 0 {
		t.Fatalf("sweep: %+v, %v", res, err)
	}
	if objects(t, st, cam, run) == 0 {
		t.Fatal("an unreadable run was swept")
	}
}

// Run sweeps at once and stops with its context.
func TestRunStops(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	cam := catalog.Stream{App: "live", Name: "cam"}
	run := putRun(t, st, cam, now.Add(-10*day), 3, false)
	sw := New(Config{Rules: Rules{"live": day}, Interval: time.Hour}, st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	for objects(t, st, cam, run) != 0 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
