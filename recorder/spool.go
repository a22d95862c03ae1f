package recorder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/internal/durable"
)

// segMeta is a spooled segment's index entry in the making ({seq}.meta,
// see spoolproto.go). It is written before the segment's first byte, so
// that a torn segment found after a crash still has its sequence number
// and wall clock.
type segMeta struct {
	Seq      uint64        `json:"seq"`
	StartMS  int64         `json:"start_ms"`
	FirstDTS int64         `json:"first_dts"` // 90 kHz, run timeline, without the TS offset
	Duration uint32        `json:"duration"`  // 90 kHz; 0 until finished
	Size     uint32        `json:"size"`
	Flags    catalog.Flags `json:"flags"`
	Done     bool          `json:"done"`
}

func (m segMeta) entry() catalog.Entry {
	return catalog.Entry{Seq: m.Seq, StartMS: m.StartMS, Duration: m.Duration, Size: m.Size, Flags: m.Flags}
}

func runDir(spool string, s catalog.Stream, run string) string {
	return filepath.Join(spool, s.App, s.Name, run)
}

func segBase(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%010d", seq))
}

// syncDir makes creations and renames in a spool directory durable.
func syncDir(dir string) error {
	if err := durable.SyncDir(dir); err != nil {
		return fmt.Errorf("spool: sync dir %s: %w", dir, err)
	}
	return nil
}

func writeJSONAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("spool: encode %s: %w", path, err)
	}
	if err := durable.WriteFile(path, b); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// writeJSONRenamed writes v to path whole or not at all (temp file, fsync,
// rename) but leaves the directory's fsync to the caller: a segment cut
// makes its two descriptors and its rename durable with one fsync of the
// run directory instead of three (see spoolproto.go).
func writeJSONRenamed(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("spool: encode %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), durable.TempPrefix+"*")
	if err != nil {
		return fmt.Errorf("spool: create temp for %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
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
		os.Remove(tmp)
		return fmt.Errorf("spool: write %s: %w", path, err)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("spool: read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("spool: decode %s: %w", path, err)
	}
	return nil
}
