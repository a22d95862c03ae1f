package recorder

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func names(t *testing.T, l *dirListings, dir string) []string {
	t.Helper()
	entries, err := l.read(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// touchBack adds name to dir and puts dir's mtime back to mtime, as a
// change within one coarse clock tick would leave it.
func touchBack(t *testing.T, dir, name string, mtime time.Time) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dir, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestDirListingsReuseSettled(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Minute).Truncate(time.Second)
	touchBack(t, dir, "a", old)
	var l dirListings
	if got := names(t, &l, dir); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("first listing %v", got)
	}
	// Unchanged mtime, settled: the listing is reused (b is not seen).
	touchBack(t, dir, "b", old)
	if got := names(t, &l, dir); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("settled listing not reused: %v", got)
	}
	// A new mtime: listed again.
	now := time.Now()
	if err := os.Chtimes(dir, now, now); err != nil {
		t.Fatal(err)
	}
	if got := names(t, &l, dir); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("changed folder: %v", got)
	}
	// That mtime is too fresh to trust: a change that keeps it is seen.
	touchBack(t, dir, "c", now)
	if got := names(t, &l, dir); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("fresh folder reused: %v", got)
	}
}

func TestDirListingsForget(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "x")
	old := time.Now().Add(-time.Minute)
	touchBack(t, root, "x", old)
	touchBack(t, dir, "a", old)
	var l dirListings
	names(t, &l, dir)
	l.forgetUnseen()
	if _, ok := l.byDir[dir]; !ok {
		t.Fatal("a folder listed in the scan was forgotten")
	}
	l.forgetUnseen() // a scan that did not list it
	if _, ok := l.byDir[dir]; ok {
		t.Fatal("a folder not listed in the last scan is still remembered")
	}
	names(t, &l, dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := l.read(dir); !os.IsNotExist(err) {
		t.Fatalf("removed folder: err %v", err)
	}
	if _, ok := l.byDir[dir]; ok {
		t.Fatal("a removed folder is still remembered")
	}
}
