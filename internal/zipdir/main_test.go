package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestZipKeepsModesAndRepeats(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("text"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "f.zip")
	if err := zipFile(out, dir); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(out)
	zr, err := zip.NewReader(bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 2 || zr.File[0].Name != "a.txt" || zr.File[1].Name != "bootstrap" {
		t.Fatalf("entries %v", zr.File)
	}
	if m := zr.File[1].Mode(); m.Perm() != 0o755 || !m.IsRegular() {
		t.Errorf("bootstrap mode %v", m)
	}
	rc, _ := zr.File[1].Open()
	b, _ := io.ReadAll(rc)
	if string(b) != "#!/bin/sh\necho hi\n" {
		t.Errorf("content %q", b)
	}
	// Same files, same bytes: the zip's hash changes only with its content.
	if err := zipFile(out, dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(first, again) {
		t.Error("zipping the same folder twice gave different zips")
	}
	if err := zipFile(out, t.TempDir()); err == nil {
		t.Error("an empty folder made a zip")
	}
}
