//go:build cgo

package editor

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

// TestPutFileLinksIntoFSStore: an output is handed to the store as a
// file, not read into memory and written again; the FS store keeps the
// very file (a hard link) as the object, with the bytes counted stored.
func TestPutFileLinksIntoFSStore(t *testing.T) {
	dir := t.TempDir()
	st, err := fsstore.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	w := New(Config{WorkDir: dir}, st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	out := filepath.Join(dir, "clip.mp4")
	data := bytes.Repeat([]byte("clip"), 64<<10)
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	const key = "clips/c1/clip.mp4"
	if err := w.putFile(context.Background(), key, out); err != nil {
		t.Fatal(err)
	}
	a, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(filepath.Join(st.Root(), key))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Errorf("the stored object is a copy, not the output file")
	}
	rc, info, err := st.Get(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) || info.ContentType != "video/mp4" {
		t.Errorf("stored %d bytes (%q), want %d (video/mp4)", len(got), info.ContentType, len(data))
	}
	if n := testutil.ToFloat64(w.m.stored); n != float64(len(data)) {
		t.Errorf("stored bytes metric %v, want %d", n, len(data))
	}
	// The scratch folder goes after the job; the object stays.
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(context.Background(), key); err != nil {
		t.Errorf("object gone with the scratch file: %v", err)
	}
	if err := w.putFile(context.Background(), "clips/c1/missing.mp4", out); err == nil {
		t.Error("a missing output stored")
	}
}
