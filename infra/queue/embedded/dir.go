package embedded

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/internal/durable"
)

// tempPrefix starts the name of a message file being written. The leading
// dot makes it an invalid ID, so a temp file is never read as a message.
const tempPrefix = durable.TempPrefix

// msgDir is the folder of an embedded queue: one file per message.
type msgDir struct {
	path string
}

// newID makes a message ID that sorts by creation time (so a reload keeps
// the send order) and cannot collide: UTC time to the nanosecond plus
// random bits.
func newID(now time.Time) string {
	return now.UTC().Format("20060102T150405.000000000Z") + "-" + randHex(8)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// write stores r durably and atomically: temp file, fsync, rename over the
// message file, fsync the folder. A crash leaves the old file or the new
// one, plus at worst a temp file that load removes.
func (d msgDir) write(r *record) error {
	data, err := encodeRecord(r)
	if err != nil {
		return err
	}
	return durable.WriteFile(d.file(r.ID), data)
}

// remove deletes the message file durably; a missing file is not an error.
func (d msgDir) remove(id string) error {
	if err := os.Remove(d.file(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return durable.SyncDir(d.path)
}

func (d msgDir) file(id string) string { return filepath.Join(d.path, id+recordExt) }

// load reads every message file. Temp files (a crash mid-write) are
// removed: the rename never happened, so the previous version of that
// message, if any, is still in place. A message file that does not decode
// is left alone for a human and logged; it never stops the queue.
func (d msgDir) load() ([]*record, error) {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return nil, err
	}
	var recs []*record
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, tempPrefix) {
			if err := os.Remove(filepath.Join(d.path, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			continue
		}
		if !e.Type().IsRegular() || !strings.HasSuffix(name, recordExt) {
			continue // not ours
		}
		data, err := os.ReadFile(filepath.Join(d.path, name))
		if err != nil {
			return nil, err
		}
		r, err := decodeRecord(name, data)
		if err != nil {
			slog.Warn("queue: skipping unreadable message file", "file", filepath.Join(d.path, name), "err", err)
			continue
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// openMsgDir creates the folder if needed (durably) and returns it.
func openMsgDir(dir string) (msgDir, error) {
	if dir == "" {
		return msgDir{}, errors.New("empty folder")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return msgDir{}, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return msgDir{}, err
	}
	if err := durable.SyncDir(filepath.Dir(abs)); err != nil {
		return msgDir{}, fmt.Errorf("sync parent: %w", err)
	}
	return msgDir{path: abs}, nil
}
