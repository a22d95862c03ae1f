package recorder

import (
	"io/fs"
	"path/filepath"
	"time"
)

// spoolMeasureInterval is how often a slicer without an in-process agent
// measures the spool: the agent deletes what it uploaded behind its back,
// and --spool-limit must see that.
const spoolMeasureInterval = time.Second

// measureSpool sets the spool gauge to the bytes of finished segments on
// disk. Segments this process finishes between two measures are added as
// they come, so the limit holds to within what one measure misses.
func (r *Recorder) measureSpool() {
	n, err := spoolSize(r.cfg.Spool)
	if err != nil {
		r.log.Warn("spool size", "err", err)
		return
	}
	r.spoolBytes.set(n)
}

// spoolSize sums the sizes of the finished segments ({seq}.ts) under root;
// files that vanish while it walks (uploaded) are skipped.
func spoolSize(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			return nil // removed while we walk
		}
		if d.IsDir() {
			return nil
		}
		if _, ok := parseSegName(d.Name()); !ok {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}
