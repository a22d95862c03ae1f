// Command zipdir writes the files of a folder into a zip, at its root and
// with their modes, so that `make lambda` needs no zip package: Lambda
// runs the bootstrap only if the zip keeps its executable bit.
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// zipEpoch is the modification time of every entry (the zip format's own
// epoch is 1980).
var zipEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	out := flag.String("o", "", "zip file to write")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: zipdir -o out.zip dir")
		os.Exit(2)
	}
	if err := zipFile(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "zipdir:", err)
		os.Exit(1)
	}
}

// zipFile writes dir's regular files to path, replacing it only once the
// zip is complete.
func zipFile(path, dir string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".zipdir-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := zipDir(tmp, dir); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// zipDir writes the regular files directly in dir, sorted by name, with a
// fixed time so that the same files make the same zip (Terraform redeploys
// the function when the zip's hash changes).
func zipDir(w io.Writer, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	zw := zip.NewWriter(w)
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		hdr, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		hdr.Method = zip.Deflate
		hdr.Modified = zipEpoch
		if err := addFile(zw, hdr, filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s has no files", dir)
	}
	return zw.Close()
}

func addFile(zw *zip.Writer, hdr *zip.FileHeader, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dst, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, f)
	return err
}
