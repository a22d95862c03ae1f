// Package durable writes files so that they survive a crash: whole or not
// at all, and with the directory entry itself on disk.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// TempPrefix starts the name of a file WriteFile is still writing; a
// reader that scans the directory after a crash may remove such leftovers.
const TempPrefix = ".tmp-"

// WriteFile writes data to path through a temp file in the same
// directory, fsync and rename, then syncs the directory so the rename
// survives a crash too.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix+"*")
	if err != nil {
		return fmt.Errorf("create temp in %s: %w", dir, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory, making creations, renames and removals in
// it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
