package store_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

// TestFSLayout checks the object is exactly ROOT/KEY and that no temp file
// survives a Put, even under concurrent overwrites.
func TestFSLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store") // NewFS creates it
	s, err := fsstore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	const key = "streams/live/cam/RUN/seg/0000000001.ts"
	put(t, s, key, []byte("segment"))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := s.Put(ctx, "streams/live/cam/RUN/run.json", []byte{byte('0' + i)}, ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	b, err := os.ReadFile(filepath.Join(root, "streams", "live", "cam", "RUN", "seg", "0000000001.ts"))
	if err != nil || string(b) != "segment" {
		t.Fatalf("ROOT/KEY: %q %v", b, err)
	}
	if got := files(t, root); strings.Join(got, " ") != "streams/live/cam/RUN/run.json "+key {
		t.Errorf("files under root: %q", got)
	}
	if s.Root() != root {
		t.Errorf("Root() = %q, want %q", s.Root(), root)
	}
	if h, err := s.Head(ctx, key); err != nil || h.ContentType != "video/mp2t" {
		t.Errorf("head: %+v %v", h, err)
	}
}

// files lists every regular file under root, slash-separated and sorted.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFSIgnoresForeignFiles: leftover temp files (a crash mid-Put) and names
// no key maps to are invisible to List, and a folder is not an object.
func TestFSIgnoresForeignFiles(t *testing.T) {
	root := t.TempDir()
	s, err := fsstore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "d/obj", []byte("x"))
	for _, name := range []string{".tmp\\0123456789abcdef", "back\\slash", "ctl\x01"} {
		if err := os.WriteFile(filepath.Join(root, "d", name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	checkList(t, s, "", store.ListOptions{}, []string{"d/obj"}, nil, false)
	checkList(t, s, "d/", store.ListOptions{Delimiter: "/"}, []string{"d/obj"}, nil, false)
	// An empty folder holds no object, so it is no common prefix either.
	checkList(t, s, "", store.ListOptions{Delimiter: "/"}, nil, []string{"d/"}, false)
	if err := s.Delete(ctx, "emptydir"); err != nil {
		t.Errorf("delete of a folder name: %v", err)
	}
}

// TestFSDeletePrunes: Delete removes folders left empty, up to (not
// including) the root.
func TestFSDeletePrunes(t *testing.T) {
	root := t.TempDir()
	s, err := fsstore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "a/b/c/d", []byte("x"))
	put(t, s, "a/keep", []byte("y"))
	if err := s.Delete(ctx, "a/b/c/d"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "a", "b")); !os.IsNotExist(err) {
		t.Errorf("a/b still there: %v", err)
	}
	if err := s.Delete(ctx, "a/keep"); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(root)
	if err != nil || len(ents) != 0 {
		t.Errorf("root after deleting everything: %v %v", ents, err)
	}
}

func TestContentTypeFor(t *testing.T) {
	for key, want := range map[string]string{
		"a/0000000001.ts": "video/mp2t",
		"run.json":        "application/json",
		"p.m3u8":          "application/vnd.apple.mpegurl",
		"clip.mp4":        "video/mp4",
		"thumb.jpg":       "image/jpeg",
		"THUMB.JPG":       "image/jpeg",
		"x/000001.idx":    "application/octet-stream",
		"noext":           "application/octet-stream",
		"ts.dir/noext":    "application/octet-stream",
	} {
		if got := store.ContentTypeFor(key); got != want {
			t.Errorf("ContentTypeFor(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestFSPutFileLinks checks the FS store's PutFile on one filesystem: the
// object is the source file itself (a hard link, no second write), and no
// temp file is left.
func TestFSPutFileLinks(t *testing.T) {
	dir := t.TempDir()
	s, err := fsstore.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "spool.ts")
	if err := os.WriteFile(src, []byte("segment bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	const key = "streams/live/cam/RUN/seg/0000000001.ts"
	if err := s.PutFile(ctx, key, src, "video/mp2t"); err != nil {
		t.Fatal(err)
	}
	a, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(filepath.Join(s.Root(), filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Error("the object is a copy, not a link of the source")
	}
	// Put again (an agent restarted before it removed the spool file).
	if err := s.PutFile(ctx, key, src, "video/mp2t"); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, s, key, nil); string(got) != "segment bytes" {
		t.Errorf("after a second PutFile: %q", got)
	}
	noTemps(t, s.Root())
}

// TestFSPutFileCopiesAcrossFilesystems puts a file from another
// filesystem (/dev/shm, a tmpfs) where no hard link can go: it is copied.
func TestFSPutFileCopiesAcrossFilesystems(t *testing.T) {
	other, err := os.MkdirTemp("/dev/shm", "rewind-putfile-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(other) })
	s, err := fsstore.New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(other, "spool.ts")
	data := []byte(strings.Repeat("segment bytes ", 10000))
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(src, filepath.Join(s.Root(), "probe")); err == nil {
		t.Skip("/dev/shm is on the same filesystem as the temp dir")
	}
	const key = "streams/live/cam/RUN/seg/0000000001.ts"
	if err := s.PutFile(ctx, key, src, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	got, _ := get(t, s, key, nil)
	if string(got) != string(data) {
		t.Fatalf("got %d bytes, want %d", len(got), len(data))
	}
	noTemps(t, s.Root())
}

// noTemps fails if a temp file is left anywhere under root.
func noTemps(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp") {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	})
}
