package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSeg writes a file of size bytes in stream's recording folder.
func writeSeg(t *testing.T, root, stream, name string, size int) {
	t.Helper()
	dir := filepath.Join(root, "bench", stream)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A recording passes only when every stream has a non-empty .ts segment
// and the whole grew past its size before the end; the totals count .ts
// segments only.
func TestCheckRecorded(t *testing.T) {
	root := t.TempDir()
	writeSeg(t, root, "s0", "a.ts", 100)
	writeSeg(t, root, "s0", "b.ts", 50)
	writeSeg(t, root, "s1", "a.ts", 70)
	writeSeg(t, root, "s1", "notes.txt", 1000)
	total, files, err := checkRecorded(root, 2, 200)
	if err != nil {
		t.Fatal(err)
	}
	if total != 220 || files != 3 {
		t.Errorf("total %d files %d, want 220 and 3", total, files)
	}
	if _, _, err := checkRecorded(root, 2, 220); err == nil || !strings.Contains(err.Error(), "did not grow") {
		t.Errorf("no growth since the midway size: %v", err)
	}
	if _, _, err := checkRecorded(root, 2, 0); err == nil {
		t.Error("nothing midway passed: the recording never was under way")
	}
	if _, _, err := checkRecorded(root, 3, 10); err == nil || !strings.Contains(err.Error(), "bench/s2") {
		t.Errorf("missing stream s2: %v", err)
	}
	writeSeg(t, root, "s2", "a.ts", 0)
	if _, _, err := checkRecorded(root, 3, 10); err == nil || !strings.Contains(err.Error(), "no non-empty") {
		t.Errorf("s2 with an empty segment only: %v", err)
	}
}

// waitStable returns once the size stops changing, with that size.
func TestWaitStable(t *testing.T) {
	root := t.TempDir()
	writeSeg(t, root, "s0", "a.ts", 42)
	n, err := waitStable(root, 10*time.Millisecond, 5*time.Second)
	if err != nil || n != 42 {
		t.Errorf("waitStable = %d, %v; want 42", n, err)
	}
}

func TestRatio(t *testing.T) {
	if got := ratio(3, 2); got != "1.50" {
		t.Errorf("ratio(3, 2) = %s", got)
	}
	// An RSS growth lost in the noise gives no ratio rather than Inf.
	if got := ratio(3, 0); got != "-" {
		t.Errorf("ratio(3, 0) = %s", got)
	}
}
