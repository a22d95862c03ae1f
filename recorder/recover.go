package recorder

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// endOrphan ends a run whose slicer died (the caller holds the run's lock):
// finished segments stay, a torn last segment is cut to whole packets and
// kept, and the end marker is written at the end of the last segment. It
// touches only local disk; the store is read later, by the uploader, with
// retries.
func (a *Agent) endOrphan(stream catalog.Stream, run, dir string) error {
	m, err := readRunManifest(dir, stream, run)
	if err == nil && m.State == catalog.StateEnded {
		return nil // it ended after all, as the lock was dropped
	}
	if err != nil {
		a.log.Warn("run descriptor unreadable; rebuilt from the run id", "dir", dir, "err", err)
		if m, err = rebuiltManifest(stream, run, &a.cfg); err != nil {
			return fmt.Errorf("recover %s: %w", dir, err)
		}
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("recover %s: %w", dir, err)
	}
	var metas []segMeta
	for _, f := range files {
		name, ok := strings.CutSuffix(f.Name(), extMeta)
		if !ok {
			if strings.HasPrefix(f.Name(), stagePrefix) {
				os.Remove(filepath.Join(dir, f.Name()))
			}
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil || seq == 0 {
			continue
		}
		meta, ok, err := a.recoverSegment(dir, seq)
		if err != nil {
			a.log.Error("recover segment", "dir", dir, "seq", seq, "err", err)
			continue
		}
		if ok {
			metas = append(metas, meta)
		}
	}
	slices.SortFunc(metas, func(a, b segMeta) int { return int(a.Seq) - int(b.Seq) })
	m.State, m.EndedAt = catalog.StateEnded, nil
	if len(metas) > 0 {
		last := metas[len(metas)-1]
		end := time.UnixMilli(last.StartMS + int64(last.Duration)/90).UTC()
		m.EndedAt = &end
	}
	// With no segment left, ended_at stays null: they were all indexed,
	// and the index tells where the run ended.
	if err := writeJSONAtomic(dirFile(dir, spoolManifest), m); err != nil {
		return fmt.Errorf("recover %s: %w", dir, err)
	}
	a.log.Info("ended a run whose slicer died", "stream", stream.String(), "run", run, "segments", len(metas))
	return nil
}

// recoverSegment returns the finished meta of a spooled segment, repairing
// a torn one; ok is false when there is nothing worth keeping.
func (a *Agent) recoverSegment(dir string, seq uint64) (segMeta, bool, error) {
	base := segBase(dir, seq)
	var meta segMeta
	if err := readJSON(base+extMeta, &meta); err != nil || meta.Seq != seq {
		os.Remove(base + extMeta)
		return meta, false, fmt.Errorf("unreadable meta: %w", err)
	}
	if meta.Done {
		if st, err := os.Stat(base + extTS); err == nil && st.Size() == int64(meta.Size) {
			return meta, true, nil
		}
	}
	// The segment's file: a torn .ts.part, or a .ts whose finished
	// descriptor a crash lost (a cut makes the descriptor's rename and the
	// segment's durable with one directory fsync, and a file system may
	// keep either alone), so the .ts is measured again like a torn one.
	path := base + extPart
	if _, err := os.Stat(path); err != nil {
		path = base + extTS
		if _, err := os.Stat(path); err != nil {
			// Never started (or already gone): nothing to keep.
			os.Remove(base + extMeta)
			return meta, false, nil
		}
	}
	size, span, err := repairTorn(path)
	if err != nil {
		return meta, false, err
	}
	if size == 0 || span.pes == 0 {
		os.Remove(path)
		os.Remove(base + extMeta)
		return meta, false, nil
	}
	d := span.end - ((meta.FirstDTS + tsOffset) & tsMask)
	if d <= 0 || d > 1<<31 {
		d = span.end - span.first
	}
	meta.Duration = uint32(max(d, 1))
	meta.Size = uint32(size)
	meta.Done = true
	if err := writeJSONAtomic(base+extMeta, meta); err != nil {
		return meta, false, err
	}
	if path != base+extTS {
		if err := os.Rename(path, base+extTS); err != nil {
			return meta, false, fmt.Errorf("recover: %w", err)
		}
	}
	a.log.Info("kept torn segment", "dir", dir, "seq", seq, "bytes", size, "duration_ms", d/90)
	return meta, true, syncDir(dir)
}
