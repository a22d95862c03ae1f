package recorder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// recover picks up the runs an earlier process left in the spool: finished
// segments are queued for upload, a torn last segment is cut to whole
// packets and kept, and every such run is ended at the end of its last
// segment. It touches only local disk; the store is read later, by the
// upload agent, with retries.
func (r *Recorder) recover() error {
	apps, err := os.ReadDir(r.cfg.Spool)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	var errs []error
	for _, app := range apps {
		if !app.IsDir() || !catalog.ValidPart(app.Name()) {
			continue
		}
		names, err := os.ReadDir(filepath.Join(r.cfg.Spool, app.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, name := range names {
			stream, err := catalog.NewStream(app.Name(), name.Name())
			if err != nil || !name.IsDir() {
				continue
			}
			runs, err := os.ReadDir(filepath.Join(r.cfg.Spool, app.Name(), name.Name()))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, run := range runs {
				if !run.IsDir() || catalog.ValidRunID(run.Name()) != nil {
					continue
				}
				if err := r.recoverRun(stream, run.Name()); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (r *Recorder) recoverRun(stream catalog.Stream, run string) error {
	dir := runDir(r.cfg.Spool, stream, run)
	var m catalog.Manifest
	if err := readJSON(dirFile(dir, spoolManifest), &m); err != nil || m.Run != run || m.Stream != stream.String() {
		// Rebuild what the run id tells: the rest (codecs) is lost, not the media.
		id, perr := catalog.ParseRunID(run)
		if perr != nil {
			return fmt.Errorf("recover %s: %w", dir, perr)
		}
		m = catalog.Manifest{
			Version: 1, Stream: stream.String(), Run: run, Node: id.Node, StartedAt: id.Started,
			State: catalog.StateLive, TargetDurationMS: r.cfg.SegmentDuration.Milliseconds(),
			MaxSegmentDurationMS: r.cfg.MaxSegmentDuration.Milliseconds(),
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
			if strings.HasPrefix(f.Name(), ".tmp-") {
				os.Remove(filepath.Join(dir, f.Name()))
			}
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil || seq == 0 {
			continue
		}
		meta, ok, err := r.recoverSegment(dir, seq)
		if err != nil {
			r.log.Error("recover segment", "dir", dir, "seq", seq, "err", err)
			continue
		}
		if ok {
			metas = append(metas, meta)
		}
	}
	slices.SortFunc(metas, func(a, b segMeta) int { return int(a.Seq) - int(b.Seq) })
	if m.State != catalog.StateEnded && len(metas) > 0 {
		last := metas[len(metas)-1]
		end := time.UnixMilli(last.StartMS + int64(last.Duration)/90).UTC()
		m.State, m.EndedAt = catalog.StateEnded, &end
	}
	ru := &runUpload{dir: dir, stream: stream, run: run, manifest: m}
	r.registerRun(ru)
	for _, meta := range metas {
		r.spoolBytes.add(int64(meta.Size))
		r.enqueue(ru, meta)
	}
	r.log.Info("recovered run from spool", "stream", stream.String(), "run", run, "segments", len(metas))
	r.endRun(ru)
	return nil
}

// recoverSegment returns the finished meta of a spooled segment, repairing
// a torn one; ok is false when there is nothing worth keeping.
func (r *Recorder) recoverSegment(dir string, seq uint64) (segMeta, bool, error) {
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
	if _, err := os.Stat(base + extPart); err != nil {
		// Never started (or already gone): nothing to keep.
		os.Remove(base + extMeta)
		return meta, false, nil
	}
	size, span, err := repairTorn(base + extPart)
	if err != nil {
		return meta, false, err
	}
	if size == 0 || span.pes == 0 {
		os.Remove(base + extPart)
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
	if err := os.Rename(base+extPart, base+extTS); err != nil {
		return meta, false, fmt.Errorf("recover: %w", err)
	}
	r.log.Info("kept torn segment", "dir", dir, "seq", seq, "bytes", size, "duration_ms", d/90)
	return meta, true, syncDir(dir)
}
