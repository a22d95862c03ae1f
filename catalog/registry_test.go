package catalog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// newFSStore opens a real filesystem store in a temp folder.
func newFSStore(t *testing.T) *fsstore.FS {
	t.Helper()
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// heartbeat is a valid heartbeat of node written at at, with the given
// streams live (started a minute before at).
func heartbeat(node string, at time.Time, live ...string) Node {
	n := Node{
		Version: NodeVersion, Name: node, RTMP: "10.0.0.1:1935", HTTP: "10.0.0.1:8080",
		State: NodeReady, Time: at.UTC(), Live: []NodeStream{},
		Load: NodeLoad{Publishers: len(live), MaxPublishers: 500},
	}
	for _, s := range live {
		n.Live = append(n.Live, NodeStream{Stream: s, Run: NewRunID(at.Add(-time.Minute), node), Since: at.Add(-time.Minute).UTC()})
	}
	return n
}

// requests is the registry's store request count for op.
func requests(m *registryMetrics, op string) int {
	return int(testutil.ToFloat64(m.requests.WithLabelValues(op)))
}

// logBuffer collects log lines; safe for the refresh's goroutines.
type logBuffer struct{ testproc.Buffer }

func (l *logBuffer) count(substr string) int { return l.Count(substr) }

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestRegistryBeatAndRemove(t *testing.T) {
	ctx := context.Background()
	st := newFSStore(t)
	r := NewRegistry(st, nil)
	n := heartbeat("node1", time.Now(), "live/cam")
	if err := r.Beat(ctx, n); err != nil {
		t.Fatal(err)
	}
	rc, _, err := st.Get(ctx, "nodes/node1.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	back, err := UnmarshalNode(b)
	if err != nil || back.Name != "node1" || len(back.Live) != 1 || back.Live[0].Stream != "live/cam" || !back.Time.Equal(n.Time) {
		t.Fatalf("stored heartbeat %+v, %v", back, err)
	}

	// An invalid heartbeat is refused before any store request.
	bad := n
	bad.RTMP = "0.0.0.0:1935"
	if err := r.Beat(ctx, bad); err == nil || !strings.Contains(err.Error(), "unspecified host") {
		t.Errorf("Beat of an unspecified address: %v", err)
	}
	if err := r.Remove(ctx, "../etc"); err == nil {
		t.Error("Remove of a bad node name: no error")
	}
	if got := requests(r.st.m, opPut); got != 1 {
		t.Errorf("puts = %d, want 1", got)
	}

	if err := r.Remove(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(ctx, "nodes/node1.json"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("heartbeat still there after Remove: %v", err)
	}
	if got := requests(r.st.m, opDelete); got != 1 {
		t.Errorf("deletes = %d, want 1", got)
	}
}

// TestRegistryMetricsShared: a writer and a reader in one process (rewind
// dev) register on one Registerer and count into the same series.
func TestRegistryMetricsShared(t *testing.T) {
	ctx := context.Background()
	st := newFSStore(t)
	reg := prometheus.NewRegistry()
	r := NewRegistry(st, reg)
	d, err := NewDirectory(st, DirectoryConfig{}, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Beat(ctx, heartbeat("node1", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP rewind_registry_store_requests_total Store requests made by the node registry (heartbeat writes and directory refreshes), by operation.
# TYPE rewind_registry_store_requests_total counter
rewind_registry_store_requests_total{op="delete"} 0
rewind_registry_store_requests_total{op="get"} 1
rewind_registry_store_requests_total{op="list"} 1
rewind_registry_store_requests_total{op="put"} 1
# HELP rewind_registry_alive_nodes Nodes with a valid heartbeat younger than the dead-node timeout, at the last refresh.
# TYPE rewind_registry_alive_nodes gauge
rewind_registry_alive_nodes 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rewind_registry_store_requests_total", "rewind_registry_alive_nodes"); err != nil {
		t.Error(err)
	}
}
