package recorder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
)

// Open starts recording a publish as a new run in the spool.
func (r *Recorder) Open(info media.StreamInfo) (*Stream, error) {
	id, err := catalog.ParseRunID(info.Run)
	if err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	stream, err := catalog.NewStream(info.App, info.Name)
	if err != nil {
		return nil, fmt.Errorf("recorder: %w", err)
	}
	<-r.ready // the spool is ours to write (the uploader lock, the spool size)
	if r.startErr != nil {
		return nil, fmt.Errorf("recorder: not started: %w", r.startErr)
	}
	target, hardMax := r.cfg.segmentsFor(stream)
	m := catalog.Manifest{
		Version:              1,
		Stream:               stream.String(),
		Run:                  info.Run,
		Node:                 id.Node,
		StartedAt:            info.StartedAt.UTC(),
		State:                catalog.StateLive,
		TargetDurationMS:     target.Milliseconds(),
		MaxSegmentDurationMS: hardMax.Milliseconds(),
	}
	dir := runDir(r.cfg.Spool, stream, info.Run)
	var up *runUpload
	if r.agent != nil {
		// Before the directory has its name: no scan may take it up.
		up = r.agent.opened(dir, stream, info.Run)
	}
	lock, err := createRun(dir, m)
	if err != nil {
		if up != nil {
			r.agent.forget(up)
		}
		return nil, fmt.Errorf("recorder: %w", err)
	}
	s := &Stream{
		r:         r,
		stream:    stream,
		run:       info.Run,
		dir:       dir,
		lock:      lock,
		up:        up,
		manifest:  m,
		segTarget: target,
		segMax:    hardMax,
		log:       r.log.With("stream", stream.String(), "run", info.Run),
		warned:    map[string]time.Time{},
	}
	s.lastCut.Store(time.Now().UnixNano())
	r.addLive(s)
	r.log.Info("recording", "stream", stream.String(), "run", info.Run)
	return s, nil
}

// createRun makes a run's directory, its descriptor in it and its lock
// held, under a staging name, and only then gives it its name: an uploader
// never sees a run without its descriptor, or a live run it could take for
// one whose slicer died.
func createRun(dir string, m catalog.Manifest) (*dirLock, error) {
	parent := filepath.Dir(dir)
	stage := filepath.Join(parent, stagePrefix+filepath.Base(dir))
	var err error
	for range 3 {
		if err = os.MkdirAll(parent, 0o755); err == nil {
			err = os.Mkdir(stage, 0o755)
		}
		if !errors.Is(err, os.ErrNotExist) {
			break
		}
		// The uploader removed the emptied parent in between: again.
	}
	if err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	lock, ok, err := tryLockDir(stage)
	if err == nil && !ok {
		err = fmt.Errorf("spool dir %s: locked by another process", stage)
	}
	if err == nil {
		err = writeJSONAtomic(dirFile(stage, spoolManifest), m)
	}
	if err == nil {
		err = os.Rename(stage, dir)
	}
	if err == nil {
		err = syncDir(parent)
	}
	if err != nil {
		lock.release()
		os.RemoveAll(stage)
		os.RemoveAll(dir) // renamed but not durable: never to be half there
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	return lock, nil
}
