package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/infra/store"
)

func newTestDirectory(t *testing.T, st store.Store, cfg DirectoryConfig, log *slog.Logger) *Directory {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := NewDirectory(st, cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// runDirectory runs d's refresh loop until the test ends.
func runDirectory(t *testing.T, d *Directory) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func nodeNames(ns []Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

// TestDirectoryFindsNewStreamWithin1s: a play that arrives right after the
// heartbeat listing the stream finds it, although the background refresh
// (every 2 s) has not run since; the on-demand refresh of the miss does.
func TestDirectoryFindsNewStreamWithin1s(t *testing.T) {
	ctx := context.Background()
	st := newFSStore(t)
	r := NewRegistry(st, nil)
	if err := r.Beat(ctx, heartbeat("node1", time.Now())); err != nil {
		t.Fatal(err)
	}
	d := newTestDirectory(t, st, DirectoryConfig{}, nil)
	runDirectory(t, d)
	waitUntil(t, time.Second, "first refresh", func() bool { return len(d.Nodes()) == 1 })

	start := time.Now()
	if err := r.Beat(ctx, heartbeat("node1", time.Now(), "live/cam")); err != nil {
		t.Fatal(err)
	}
	n, ok := d.Live(ctx, "live/cam")
	if took := time.Since(start); !ok || n.Name != "node1" || took > time.Second {
		t.Fatalf("Live after the heartbeat: %v %q after %s, want node1 within 1s", ok, n.Name, took)
	}
	if n.RTMP != "10.0.0.1:1935" || n.HTTP != "10.0.0.1:8080" {
		t.Errorf("addresses %q %q", n.RTMP, n.HTTP)
	}
}

// TestDirectoryUnknownStreamQuick: misses are answered within about
// MinRefresh, and a flood of them shares the rate-limited refreshes.
func TestDirectoryUnknownStreamQuick(t *testing.T) {
	ctx := context.Background()
	st := newFSStore(t)
	if err := NewRegistry(st, nil).Beat(ctx, heartbeat("node1", time.Now(), "live/cam")); err != nil {
		t.Fatal(err)
	}
	d := newTestDirectory(t, st, DirectoryConfig{}, nil)
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	lists := requests(d.m, opList)
	start := time.Now()
	var wg sync.WaitGroup
	var found atomic.Int32
	var slowest atomic.Int64
	for i := range 50 {
		wg.Go(func() {
			t0 := time.Now()
			if _, ok := d.Live(ctx, fmt.Sprintf("live/nobody%d", i%5)); ok {
				found.Add(1)
			}
			if el := int64(time.Since(t0)); el > slowest.Load() {
				slowest.Store(el)
			}
		})
	}
	wg.Wait()
	if found.Load() != 0 {
		t.Errorf("%d unknown streams found", found.Load())
	}
	if el := time.Duration(slowest.Load()); el > 750*time.Millisecond {
		t.Errorf("slowest miss took %s", el)
	}
	// 50 misses within well under a second: one shared refresh, a second
	// at most for misses that came after the first ended.
	if got := requests(d.m, opList) - lists; got < 1 || got > 2 {
		t.Errorf("%d LISTs for 50 misses in %s, want 1 or 2", got, time.Since(start))
	}
	if _, ok := d.Live(ctx, "not a stream/../x"); ok {
		t.Error("a bad stream name was found")
	}
	// A bad name is answered at once, without a refresh.
	before := requests(d.m, opList)
	t0 := time.Now()
	d.Live(ctx, "../../etc/passwd")
	if requests(d.m, opList) != before || time.Since(t0) > 50*time.Millisecond {
		t.Errorf("a bad stream name cost a refresh")
	}
	// A caller whose context ends stops waiting.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok := d.Live(cctx, "live/nobody"); ok {
		t.Error("found with a cancelled context")
	}
}

// TestDirectoryRequestCounts: store requests stay at the floor: nothing
// for plays of known streams, one LIST per refresh, a GET only for a
// heartbeat that changed.
func TestDirectoryRequestCounts(t *testing.T) {
	ctx := context.Background()
	st := newFSStore(t)
	r := NewRegistry(st, nil)
	now := time.Now()
	for i := range 3 {
		node := fmt.Sprintf("node%d", i)
		if err := r.Beat(ctx, heartbeat(node, now, "live/a"+node, "live/b"+node)); err != nil {
			t.Fatal(err)
		}
	}
	d := newTestDirectory(t, st, DirectoryConfig{}, nil)
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if l, g := requests(d.m, opList), requests(d.m, opGet); l != 1 || g != 3 {
		t.Fatalf("cold refresh: %d LIST %d GET, want 1 and 3", l, g)
	}
	for i := range 300 {
		node := fmt.Sprintf("node%d", i%3)
		n, ok := d.Live(ctx, "live/a"+node)
		if !ok || n.Name != node {
			t.Fatalf("Live(live/a%s) = %q %v", node, n.Name, ok)
		}
	}
	if l, g := requests(d.m, opList), requests(d.m, opGet); l != 1 || g != 3 {
		t.Errorf("300 plays of known streams made store requests: %d LIST %d GET in all", l, g)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if l, g := requests(d.m, opList), requests(d.m, opGet); l != 2 || g != 3 {
		t.Errorf("warm refresh with unchanged heartbeats: %d LIST %d GET in all, want 2 and 3", l-1, g-3)
	}
	// One node beats again: one GET.
	if err := r.Beat(ctx, heartbeat("node1", now.Add(time.Second), "live/c")); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if l, g := requests(d.m, opList), requests(d.m, opGet); l != 3 || g != 4 {
		t.Errorf("refresh after one beat: %d LIST %d GET in all, want 3 and 4", l, g)
	}
	if n, ok := d.Live(ctx, "live/c"); !ok || n.Name != "node1" {
		t.Errorf("the new stream: %q %v", n.Name, ok)
	}
	if _, ok := d.Live(ctx, "live/anode1"); ok {
		t.Error("a stream the new heartbeat no longer lists is still found")
	}
	// A removed node is forgotten at the next refresh, with no GET.
	if err := r.Remove(ctx, "node2"); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(d.Nodes()); !slices.Equal(got, []string{"node0", "node1"}) {
		t.Errorf("nodes after Remove: %v", got)
	}
	if g := requests(d.m, opGet); g != 4 {
		t.Errorf("GETs after a removal: %d, want 4", g)
	}
	if got := testutil.ToFloat64(d.m.alive); got != 2 {
		t.Errorf("alive gauge %v, want 2", got)
	}
}

// TestDirectoryDeadAndFutureNodes: a heartbeat older than the timeout, or
// further ahead than it, gets nothing; a node dies as its heartbeat ages,
// with no store request.
func TestDirectoryDeadAndFutureNodes(t *testing.T) {
	ctx := context.Background()
	st := newFSStore(t)
	r := NewRegistry(st, nil)
	const timeout = 3 * time.Second
	now := time.Now()
	for _, n := range []Node{
		heartbeat("dead", now.Add(-30*time.Second), "live/old"),
		heartbeat("ahead", now.Add(time.Hour), "live/forged"),
		heartbeat("ok", now.Add(time.Second), "live/cam"), // a clock a little ahead is fine
	} {
		if err := r.Beat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// dying is 0.6 s from the timeout when written.
	dyingAt := time.Now().Add(-timeout + 600*time.Millisecond)
	dying := heartbeat("dying", dyingAt, "live/dying")
	dying.Recent = []NodeStream{{Stream: "live/left", Since: dyingAt}}
	if err := r.Beat(ctx, dying); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	d := newTestDirectory(t, st, DirectoryConfig{Timeout: timeout, Refresh: time.Second}, logs.logger())
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if time.Since(dyingAt) < timeout-100*time.Millisecond { // else the machine was too slow to tell
		if got := nodeNames(d.Nodes()); !slices.Equal(got, []string{"dying", "ok"}) {
			t.Errorf("alive nodes %v, want [dying ok]", got)
		}
		if _, ok := d.Live(ctx, "live/dying"); !ok {
			t.Error("live/dying not found while its node is alive")
		}
		if _, ok := d.Recent("live/left"); !ok {
			t.Error("live/left not recent while its node is alive")
		}
	}
	for _, s := range []string{"live/old", "live/forged"} {
		if n, ok := d.Live(ctx, s); ok {
			t.Errorf("%s routed to %s", s, n.Name)
		}
	}
	if got := testutil.ToFloat64(d.m.ignored.WithLabelValues(ignoredFuture)); got != 1 {
		t.Errorf("ignored future = %v, want 1", got)
	}
	if logs.count("reason=future") != 1 {
		t.Errorf("future heartbeat logged %d times:\n%s", logs.count("reason=future"), logs.String())
	}
	time.Sleep(time.Until(dyingAt.Add(timeout + 50*time.Millisecond))) // its heartbeat passes the timeout
	before := requests(d.m, opList) + requests(d.m, opGet)
	if got := nodeNames(d.Nodes()); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("alive nodes after aging: %v", got)
	}
	if _, ok := d.Recent("live/left"); ok {
		t.Error("Recent answered a dead node")
	}
	if requests(d.m, opList)+requests(d.m, opGet) != before {
		t.Error("Nodes or Recent made store requests")
	}
	// The forged document stays ignored even once the clock nears its
	// time: the version read from the future never counts. A new,
	// honest heartbeat of that node does.
	if err := r.Beat(ctx, heartbeat("ahead", time.Now(), "live/forged")); err != nil {
		t.Fatal(err)
	}
	if n, ok := d.Live(ctx, "live/forged"); !ok || n.Name != "ahead" {
		t.Errorf("honest heartbeat of a node once ahead: %q %v", n.Name, ok)
	}
}

// TestDirectoryIgnoresBadDocuments: corrupt documents, bad names and
// addresses, a document under another node's key: ignored, counted once,
// logged once, never a panic and never a route.
func TestDirectoryIgnoresBadDocuments(t *testing.T) {
	ctx := context.Background()
	st := newFSStore(t)
	now := time.Now()
	good, _ := MarshalNode(heartbeat("good", now, "live/cam"))
	other, _ := MarshalNode(heartbeat("other", now, "live/stolen"))
	badAddr := strings.Replace(string(good), `"rtmp":"10.0.0.1:1935"`, `"rtmp":"0.0.0.0:1935"`, 1)
	pathAddr := strings.Replace(string(good), `"rtmp":"10.0.0.1:1935"`, `"rtmp":"evil/path:80"`, 1)
	docs := map[string]string{
		"nodes/good.json":      string(good),
		"nodes/torn.json":      string(good[:len(good)/2]),
		"nodes/garbage.json":   "\x00\xff not json",
		"nodes/null.json":      "null",
		"nodes/v2.json":        strings.Replace(string(good), `"version":1`, `"version":2`, 1),
		"nodes/thief.json":     string(other), // node "other" under the key of "thief"
		"nodes/unspec.json":    strings.Replace(badAddr, `"node":"good"`, `"node":"unspec"`, 1),
		"nodes/pathaddr.json":  strings.Replace(pathAddr, `"node":"good"`, `"node":"pathaddr"`, 1),
		"nodes/bad-name.json":  strings.Replace(string(good), `"node":"good"`, `"node":"bad-name"`, 1),
		"nodes/readme.txt":     "not a heartbeat",
		"nodes/huge.json":      strings.Repeat(" ", MaxNodeDocSize+1),
		"nodes/sub/deep.json":  string(good), // not a node key: under a folder
		"nodes/trailing.json":  strings.Replace(string(good), `"node":"good"`, `"node":"trailing"`, 1) + "{}",
		"nodes/negative.json":  strings.Replace(strings.Replace(string(good), `"node":"good"`, `"node":"negative"`, 1), `"players":0`, `"players":-1`, 1),
		"nodes/badstream.json": strings.Replace(strings.Replace(string(good), `"node":"good"`, `"node":"badstream"`, 1), `"live/cam"`, `"../../x"`, 1),
	}
	for k, v := range docs {
		if err := st.Put(ctx, k, []byte(v), ""); err != nil {
			t.Fatal(err)
		}
	}
	logs := &logBuffer{}
	d := newTestDirectory(t, st, DirectoryConfig{}, logs.logger())
	for range 2 {
		if err := d.Refresh(ctx); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
	}
	nodes := d.Nodes()
	if got := nodeNames(nodes); !slices.Equal(got, []string{"good"}) {
		t.Errorf("nodes %v, want [good]", got)
	}
	for _, n := range nodes {
		if err := ValidHostPort(n.RTMP); err != nil {
			t.Errorf("node %s routes to %q: %v", n.Name, n.RTMP, err)
		}
	}
	for _, s := range []string{"live/stolen"} {
		if n, ok := d.Live(ctx, s); ok {
			t.Errorf("%s routed to %s", s, n.Name)
		}
	}
	want := map[string]float64{
		ignoredCorrupt:      9, // torn garbage null v2 unspec pathaddr trailing negative badstream
		ignoredNameMismatch: 1,
		ignoredBadKey:       2, // bad-name readme
		ignoredTooLarge:     1,
		ignoredFuture:       0,
	}
	for reason, n := range want {
		if got := testutil.ToFloat64(d.m.ignored.WithLabelValues(reason)); got != n {
			t.Errorf("ignored %s = %v, want %v", reason, got, n)
		}
	}
	if got := logs.count("ignoring node heartbeat"); got != 13 {
		t.Errorf("%d warnings for 13 bad documents over two refreshes:\n%s", got, logs.String())
	}
	// Read once each; the big one and the bad keys never.
	if got := requests(d.m, opGet); got != 11 {
		t.Errorf("GETs = %d, want 11 (the documents with a node key and a sane size, once)", got)
	}
}

// flakyStore fails List while broken is set.
type flakyStore struct {
	store.Store
	broken atomic.Bool
}

func (f *flakyStore) List(ctx context.Context, prefix string, opts store.ListOptions) (store.ListResult, error) {
	if f.broken.Load() {
		return store.ListResult{}, errors.New("store is down")
	}
	return f.Store.List(ctx, prefix, opts)
}

// TestDirectoryStoreOutage: a failed refresh keeps the last view, is
// counted and logged once, and recovers.
func TestDirectoryStoreOutage(t *testing.T) {
	ctx := context.Background()
	st := &flakyStore{Store: newFSStore(t)}
	if err := NewRegistry(st, nil).Beat(ctx, heartbeat("node1", time.Now(), "live/cam")); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	d := newTestDirectory(t, st, DirectoryConfig{}, logs.logger())
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	st.broken.Store(true)
	for range 3 {
		if err := d.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "store is down") {
			t.Fatalf("Refresh with the store down: %v", err)
		}
	}
	if n, ok := d.Live(ctx, "live/cam"); !ok || n.Name != "node1" {
		t.Errorf("last view lost in the outage: %q %v", n.Name, ok)
	}
	// The Live above was a hit: no refresh of its own.
	if got := testutil.ToFloat64(d.m.refreshErrors); got != 3 {
		t.Errorf("refresh errors = %v, want 3", got)
	}
	if got := logs.count("refresh failed"); got != 1 {
		t.Errorf("outage warned %d times, want 1", got)
	}
	st.broken.Store(false)
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if logs.count("works again") != 1 {
		t.Errorf("no recovery log:\n%s", logs.String())
	}
}

// TestDirectoryPicks: a stream listed by two nodes goes to the newest
// publish; Self is never answered; Recent finds where a stream ended.
func TestDirectoryPicks(t *testing.T) {
	ctx := context.Background()
	st := newFSStore(t)
	r := NewRegistry(st, nil)
	now := time.Now()
	a := heartbeat("a", now, "live/cam")
	b := heartbeat("b", now, "live/cam")
	b.Live[0].Since = a.Live[0].Since.Add(time.Second) // b took over
	b.State = NodeDraining
	c := heartbeat("c", now)
	c.Recent = []NodeStream{{Stream: "live/gone", Since: now.Add(-5 * time.Second)}}
	a.Recent = []NodeStream{{Stream: "live/gone", Since: now.Add(-20 * time.Second)}}
	for _, n := range []Node{a, b, c} {
		if err := r.Beat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	d := newTestDirectory(t, st, DirectoryConfig{}, nil)
	if n, ok := d.Live(ctx, "live/cam"); !ok || n.Name != "b" || n.State != NodeDraining {
		t.Errorf("Live(live/cam) = %q %v, want the newest publish, on b (draining)", n.Name, ok)
	}
	if n, ok := d.Recent("live/gone"); !ok || n.Name != "c" {
		t.Errorf("Recent(live/gone) = %q %v, want c (ended last)", n.Name, ok)
	}
	if _, ok := d.Recent("live/cam"); ok {
		t.Error("Recent of a stream that never ended")
	}
	if got := nodeNames(d.Nodes()); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Nodes() = %v", got)
	}

	self := newTestDirectory(t, st, DirectoryConfig{Self: "b"}, nil)
	if n, ok := self.Live(ctx, "live/cam"); !ok || n.Name != "a" {
		t.Errorf("Live from b itself = %q %v, want a", n.Name, ok)
	}
	self2 := newTestDirectory(t, st, DirectoryConfig{Self: "c"}, nil)
	if n, ok := self2.Live(ctx, "live/nothing"); ok {
		t.Errorf("found %s", n.Name)
	}
	if n, ok := self2.Recent("live/gone"); !ok || n.Name != "a" {
		t.Errorf("Recent from c itself = %q %v, want a", n.Name, ok)
	}
}

func TestNewDirectoryConfig(t *testing.T) {
	st := newFSStore(t)
	d := newTestDirectory(t, st, DirectoryConfig{}, nil)
	if d.cfg.Timeout != DefaultNodeTimeout || d.cfg.Refresh != DefaultDirectoryRefresh || d.cfg.MinRefresh != DefaultDirectoryMinRefresh {
		t.Errorf("defaults: %+v", d.cfg)
	}
	for _, cfg := range []DirectoryConfig{
		{Timeout: -time.Second},
		{MinRefresh: -1},
		{Timeout: time.Second, Refresh: 2 * time.Second},
		{Self: "bad-name"},
	} {
		if _, err := NewDirectory(st, cfg, nil, nil); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestDirectoryRun(t *testing.T) {
	ctx := context.Background()
	st := newFSStore(t)
	d := newTestDirectory(t, st, DirectoryConfig{Timeout: time.Second, Refresh: 50 * time.Millisecond}, nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(rctx) }()
	// The loop picks a new node up by itself.
	if err := NewRegistry(st, nil).Beat(ctx, heartbeat("late", time.Now())); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the loop to see the node", func() bool { return len(d.Nodes()) == 1 })
	waitUntil(t, time.Second, "Run to be running", func() bool { return d.running.Load() })
	if err := d.Run(ctx); err == nil {
		t.Error("second Run: no error")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
