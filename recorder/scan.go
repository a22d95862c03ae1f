package recorder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// scanLoop rescans the spool every ScanInterval until ctx is done: runs of
// a slicer in another process show up only on disk.
func (a *Agent) scanLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.scanAll()
		}
	}
}

// scanAll looks at every run directory of the spool, then forgets the
// finished runs whose directory is gone.
func (a *Agent) scanAll() {
	defer a.listings.forgetUnseen()
	apps, err := a.listings.read(a.cfg.Spool)
	if err != nil {
		a.log.Error("spool scan", "err", err)
		return
	}
	seen := map[string]bool{}
	defer a.pruneFinished(seen)
	for _, app := range apps {
		if !app.IsDir() || !catalog.ValidPart(app.Name()) {
			continue
		}
		names, err := a.listings.read(filepath.Join(a.cfg.Spool, app.Name()))
		if err != nil {
			continue // removed once empty, by us
		}
		for _, name := range names {
			stream, err := catalog.NewStream(app.Name(), name.Name())
			if err != nil || !name.IsDir() {
				continue
			}
			parent := filepath.Join(a.cfg.Spool, app.Name(), name.Name())
			runs, err := a.listings.read(parent)
			if err != nil {
				continue
			}
			for _, run := range runs {
				switch {
				case !run.IsDir():
				case strings.HasPrefix(run.Name(), stagePrefix):
					a.dropStaleStage(filepath.Join(parent, run.Name()))
				case catalog.ValidRunID(run.Name()) == nil:
					dir := filepath.Join(parent, run.Name())
					seen[dir] = true
					a.scanRun(stream, run.Name(), dir)
				}
			}
		}
	}
}

// scanRun queues a run's new finished segments and, once its end marker is
// there (or its slicer is found dead and the run ended for it), its end.
// Runs handed over in memory are left to the Recorder.
func (a *Agent) scanRun(stream catalog.Stream, run, dir string) {
	ru, isNew := a.runFor(dir, stream, run)
	ru.mu.Lock()
	skip := ru.inMemory || ru.ended
	ru.mu.Unlock()
	if skip {
		return
	}
	if isNew {
		a.log.Info("run found in the spool", "stream", stream.String(), "run", run)
	}
	m, err := readRunManifest(dir, stream, run)
	ended := err == nil && m.State == catalog.StateEnded
	if !ended {
		l, free, err := tryLockDir(dir)
		if err != nil {
			a.forgetIfGone(ru)
			return
		}
		if free {
			// Its slicer is gone without the end marker: end the run for
			// it, holding its lock.
			if err := a.endOrphan(stream, run, dir); err != nil {
				a.log.Error("ending a run whose slicer died", "dir", dir, "err", err)
			} else {
				ended = true
			}
			l.release()
		}
	}
	if !a.queueReady(ru) {
		a.forgetIfGone(ru)
		return
	}
	if ended {
		a.endRun(ru)
	}
}

// queueReady queues the run's finished segments not queued yet, in seq
// order; false when the run directory is gone.
func (a *Agent) queueReady(ru *runUpload) bool {
	files, err := os.ReadDir(ru.dir)
	if err != nil {
		return false
	}
	ru.mu.Lock()
	after := ru.maxQueued
	ru.mu.Unlock()
	var seqs []uint64
	for _, f := range files {
		if seq, ok := parseSegName(f.Name()); ok && seq > after {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		meta, finished, err := readySegment(ru.dir, seq)
		if err != nil {
			// Against the protocol (a .ts is renamed only after its
			// descriptor): a damaged spool. Never index it; the run
			// goes on with a gap.
			a.log.Error("spooled segment unusable: skipped", "dir", ru.dir, "seq", seq, "err", err)
			a.m.segmentsDropped.Inc()
			ru.mu.Lock()
			ru.maxQueued = max(ru.maxQueued, seq)
			ru.mu.Unlock()
			continue
		}
		a.enqueue(ru, meta, finished)
	}
	return true
}

// pruneFinished forgets the finished runs a scan did not find.
func (a *Agent) pruneFinished(seen map[string]bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for dir, ru := range a.runs {
		if seen[dir] {
			continue
		}
		ru.mu.Lock()
		finished := ru.finished
		ru.mu.Unlock()
		if finished {
			delete(a.runs, dir)
		}
	}
}

// forgetIfGone drops a run found by a scan whose directory vanished before
// the scan got to it (finished by a worker in between).
func (a *Agent) forgetIfGone(ru *runUpload) {
	if _, err := os.Stat(ru.dir); !errors.Is(err, os.ErrNotExist) {
		return
	}
	ru.mu.Lock()
	idle := len(ru.pending) == 0 && !ru.ended
	ru.mu.Unlock()
	if idle {
		a.mu.Lock()
		if a.runs[ru.dir] == ru {
			delete(a.runs, ru.dir)
		}
		a.mu.Unlock()
	}
}

// dropStaleStage removes a run directory its slicer died creating: unlocked
// and older than any creation takes.
func (a *Agent) dropStaleStage(dir string) {
	fi, err := os.Stat(dir)
	if err != nil || time.Since(fi.ModTime()) < staleStage {
		return
	}
	l, free, err := tryLockDir(dir)
	if err != nil || !free {
		return
	}
	defer l.release()
	if err := os.RemoveAll(dir); err != nil {
		a.log.Warn("spool cleanup", "dir", dir, "err", err)
		return
	}
	a.log.Info("removed a run directory left half made", "dir", dir)
}
