package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/editor/thumb"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/runtest"
)

// liveRun grows a run in a store segment by segment, as the recorder does.
type liveRun struct {
	t     *testing.T
	st    store.Store
	s     catalog.Stream
	run   string
	w     *catalog.IndexWriter
	at    int64
	seq   uint64
	start time.Time
}

func newLiveRun(t *testing.T, st store.Store, start time.Time) *liveRun {
	s := catalog.Stream{App: "live", Name: "cam"}
	return &liveRun{t: t, st: st, s: s, run: catalog.NewRunID(start, "node1"), w: catalog.NewIndexWriter(nil), at: start.UnixMilli(), start: start}
}

// add stores the next segment (the test segments over and over) and indexes it.
func (r *liveRun) add() catalog.Entry {
	r.t.Helper()
	segs := runtest.Segments(r.t)
	seg := segs[int(r.seq)%len(segs)]
	r.seq++
	ctx := context.Background()
	if err := r.st.Put(ctx, catalog.SegmentKey(r.s, r.run, r.seq), seg.Data, "video/mp2t"); err != nil {
		r.t.Fatal(err)
	}
	e := catalog.Entry{Seq: r.seq, StartMS: r.at, Duration: uint32(seg.Dur * 90000 / time.Second), Size: uint32(len(seg.Data)), Flags: catalog.FlagIndependent}
	r.at = e.EndMS()
	writes, err := r.w.Append(e)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, cw := range writes {
		if err := r.st.Put(ctx, catalog.IndexChunkKey(r.s, r.run, cw.Number), cw.Data, ""); err != nil {
			r.t.Fatal(err)
		}
	}
	return e
}

// render is the editor's libav decode, as cmd wires it.
func render(ctx context.Context, seg []byte, width, quality int) ([]byte, error) {
	b, err := thumb.Frame(ctx, seg, 0, thumb.Options{Width: width, Quality: quality})
	if errors.Is(err, thumb.ErrNoVideo) {
		return nil, fmt.Errorf("%w: %v", ErrNoVideo, err)
	}
	return b, err
}

func (r *liveRun) lister() Lister {
	return func(context.Context) ([]LiveRun, error) { return []LiveRun{{Stream: r.s, Run: r.run}}, nil }
}

// snapshots lists the stored snapshots: their times and decoded sizes.
func snapshots(t *testing.T, st store.Store, r *liveRun) (times []time.Time, sizes [][2]int) {
	t.Helper()
	ctx := context.Background()
	prefix := catalog.SnapshotPrefix(r.s, r.run)
	res, err := st.List(ctx, prefix, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		at, err := catalog.ParseSnapshotName(strings.TrimPrefix(o.Key, prefix))
		if err != nil {
			t.Fatalf("stray object %s: %v", o.Key, err)
		}
		data, err := catalog.GetAll(ctx, st, o.Key, maxSegment)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s is not a JPEG: %v", o.Key, err)
		}
		times = append(times, at)
		sizes = append(sizes, [2]int{img.Bounds().Dx(), img.Bounds().Dy()})
	}
	return times, sizes
}

func TestSnapshotsOnInterval(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond).UTC()
	r := newLiveRun(t, st, start)
	reg := prometheus.NewRegistry()
	s, err := New(Config{Interval: 4 * time.Second}, st, r.lister(), render, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.step(ctx) // nothing indexed yet: nothing to do
	// 2 s segments, a 4 s interval: every other segment gives a snapshot.
	var want []time.Time
	for i := range 6 {
		e := r.add()
		s.step(ctx)
		s.step(ctx) // the same newest segment again: no second snapshot
		if i%2 == 0 {
			want = append(want, e.Start())
		}
	}
	times, sizes := snapshots(t, st, r)
	if !equalTimes(times, want) {
		t.Fatalf("snapshots at %v, want %v", times, want)
	}
	for i, sz := range sizes {
		if sz != [2]int{320, 240} {
			t.Errorf("snapshot %d is %dx%d, want the stream's 320x240", i, sz[0], sz[1])
		}
	}
	made := testutil.ToFloat64(s.m.made)
	if made != 3 || testutil.ToFloat64(s.m.failed) != 0 {
		t.Fatalf("made %v failed %v, want 3 and 0", made, testutil.ToFloat64(s.m.failed))
	}
	if n := testutil.CollectAndCount(reg, "rewind_snapshot_lag_seconds"); n != 1 {
		t.Fatalf("lag histogram series: %d", n)
	}

	// A worker started again goes on from the newest stored snapshot.
	s2, err := New(Config{Interval: 4 * time.Second, Width: 160, Quality: 8}, st, r.lister(), render, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2.step(ctx) // newest segment 2 s after the last snapshot: not yet
	e := r.add()
	s2.step(ctx)
	times, sizes = snapshots(t, st, r)
	if want = append(want, e.Start()); !equalTimes(times, want) {
		t.Fatalf("after restart: snapshots at %v, want %v", times, want)
	}
	if sz := sizes[len(sizes)-1]; sz != [2]int{160, 120} {
		t.Fatalf("width 160 snapshot is %dx%d", sz[0], sz[1])
	}
}

func TestSnapshotsOffForApp(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := newLiveRun(t, st, time.Now().Add(-time.Minute))
	s, err := New(Config{Apps: map[string]time.Duration{"live": 0}}, st, r.lister(), render, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.add()
	s.step(context.Background())
	if times, _ := snapshots(t, st, r); len(times) != 0 {
		t.Fatalf("snapshots of an app with them off: %v", times)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := newLiveRun(t, st, time.Now().Add(-time.Minute))
	r.add()
	s, err := New(Config{Poll: 5 * time.Millisecond}, st, r.lister(), render, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// The first snapshot comes from the ticker loop.
	for {
		if times, _ := snapshots(t, st, r); len(times) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConfigChecked(t *testing.T) {
	st, _ := fsstore.New(t.TempDir())
	list := func(context.Context) ([]LiveRun, error) { return nil, nil }
	for _, c := range []Config{{Width: 321}, {Width: -2}, {Quality: 32}, {Apps: map[string]time.Duration{"live": -time.Second}}} {
		if _, err := New(c, st, list, render, nil, nil); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func equalTimes(a, b []time.Time) bool { return slices.EqualFunc(a, b, time.Time.Equal) }

func TestFromDirectory(t *testing.T) {
	nodes := []catalog.Node{
		{Name: "n1", Live: []catalog.NodeStream{{Stream: "live/cam", Run: "20261202T060000.000Z-n1-ab12"}, {Stream: "bad stream", Run: "20261202T060000.000Z-n1-ab13"}}},
		{Name: "n2", Live: []catalog.NodeStream{{Stream: "live/two", Run: ""}, {Stream: "news/a", Run: "20261202T060001.000Z-n2-cd34"}}},
	}
	got, err := FromDirectory(func() []catalog.Node { return nodes })(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []LiveRun{
		{Stream: catalog.Stream{App: "live", Name: "cam"}, Run: "20261202T060000.000Z-n1-ab12"},
		{Stream: catalog.Stream{App: "news", Name: "a"}, Run: "20261202T060001.000Z-n2-cd34"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("live runs %+v, want %+v (invalid names and runs skipped)", got, want)
	}
}
