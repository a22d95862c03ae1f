package recorder

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// The spool protocol: the only interface between the slicer (Recorder and
// Stream, in the live process) and the uploader (Agent, in the live process
// or in `rewind agent`). Each side may crash at any point (kill -9) and the
// other goes on; neither needs the other to be running.
//
// Layout, under the spool directory:
//
//	{spool}/                                 the uploader holds an exclusive flock on it
//	{spool}/{app}/{name}/.tmp-{run}/         a run being created (never read by the uploader)
//	{spool}/{app}/{name}/{run}/              a run; its slicer holds an exclusive flock on it while live
//	{spool}/{app}/{name}/{run}/run.json      run descriptor: catalog.Manifest as JSON
//	{spool}/{app}/{name}/{run}/{seq}.meta    segment descriptor: segMeta as JSON
//	{spool}/{app}/{name}/{run}/{seq}.ts.part segment being written
//	{spool}/{app}/{name}/{run}/{seq}.ts      finished, durable segment
//
// seq is %010d, from 1, one more per segment. Every JSON file is written
// whole or not at all: to a .tmp-* file, fsync, rename, fsync of the
// directory (internal/durable), except that a segment cut makes all its
// renames durable with one directory fsync (step 2). The locks are flock(2): the kernel drops
// them when their holder dies, so a lock that can be taken has no holder.
// The spool must be a local file system shared by both processes.
//
// The slicer:
//  1. starts a run: makes .tmp-{run}, locks it, writes run.json (state
//     live), renames it to {run} and fsyncs {name}/. A run directory thus
//     never exists without its descriptor or its lock.
//  2. per segment: writes {seq}.meta (done false, start time), fsyncs the
//     run directory, creates {seq}.ts.part, appends TS, fsyncs it, rewrites
//     {seq}.meta (done, duration, size), renames {seq}.ts.part to {seq}.ts.
//     The run directory's fsync after the next segment's {seq+1}.meta (or
//     before the end marker) makes both renames and that descriptor durable
//     at once: one directory fsync per cut instead of three. A file system
//     may then keep the .ts rename without the done .meta after a power
//     loss; the uploader's recovery measures such a .ts again like a torn
//     .ts.part. A number whose segment failed before the rename is reused.
//  3. rewrites run.json when it learns more (tracks, frame rate), before
//     the rename of the first segment the uploader needs it for.
//  4. ends the run: after its last rename, rewrites run.json with state
//     ended and ended_at (the end marker), then drops the lock.
//
// It never touches a {seq}.ts or its {seq}.meta again once renamed, and
// deletes nothing but the files of a segment that failed before its rename.
//
// The uploader:
//   - takes a segment when {seq}.ts exists and {seq}.meta says done with the
//     file's size; it uploads such segments in any order and indexes them in
//     seq order, each only once its object is stored, then deletes {seq}.ts,
//     then {seq}.meta.
//   - reads run.json before it lists the run directory: a listing made after
//     run.json said ended holds every segment the run will ever have.
//   - finishes an ended run once all its segments are indexed: puts the
//     ended run.json to the store, then removes the run directory (run.json
//     last) and the emptied {name}/ and {app}/ directories.
//   - ends an orphan, a run without the end marker whose lock it can take
//     (its slicer died): holding that lock, it cuts a torn {seq}.ts.part
//     (or a {seq}.ts whose .meta is not done) to whole TS packets, rewrites
//     the .meta and renames it {seq}.ts, drops a {seq}.meta without
//     a segment and .tmp-* leftovers, and writes the end marker: ended_at is
//     the end of the last segment kept, or null when none is left (the
//     stored index then says where the run ended).
//   - removes a .tmp-{run} directory whose lock it can take once it is a
//     minute old (the slicer died while creating the run).
const (
	spoolManifest = "run.json"
	extMeta       = ".meta"
	extTS         = ".ts"
	extPart       = ".ts.part"
	// stagePrefix names a run directory still being created; it is also
	// durable.TempPrefix, so no name of the protocol can start with it.
	stagePrefix = ".tmp-"
	// staleStage is how old an unlocked .tmp-{run} directory must be before
	// the uploader removes it: older than any slicer takes to create a run.
	staleStage = time.Minute
)

// parseSegName gives the seq of a finished segment's file name ({seq}.ts).
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, extTS)
	if !ok || len(digits) != 10 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil && seq > 0
}

// readySegment returns the descriptor of a finished segment and when it
// was finished, or why the uploader cannot take it.
func readySegment(dir string, seq uint64) (segMeta, time.Time, error) {
	base := segBase(dir, seq)
	var meta segMeta
	if err := readJSON(base+extMeta, &meta); err != nil {
		return meta, time.Time{}, err
	}
	fi, err := os.Stat(base + extTS)
	if err != nil {
		return meta, time.Time{}, fmt.Errorf("spool: %w", err)
	}
	if meta.Seq != seq || !meta.Done || int64(meta.Size) != fi.Size() {
		return meta, time.Time{}, fmt.Errorf("spool: %s: descriptor (seq %d, done %v, %d bytes) does not match the %d-byte segment",
			base+extMeta, meta.Seq, meta.Done, meta.Size, fi.Size())
	}
	return meta, fi.ModTime(), nil
}

// readRunManifest reads a run's descriptor, checking that it is the run's.
func readRunManifest(dir string, s catalog.Stream, run string) (catalog.Manifest, error) {
	var m catalog.Manifest
	if err := readJSON(dirFile(dir, spoolManifest), &m); err != nil {
		return m, err
	}
	if m.Run != run || m.Stream != s.String() {
		return m, fmt.Errorf("spool: %s describes %s run %s", dirFile(dir, spoolManifest), m.Stream, m.Run)
	}
	return m, nil
}

// rebuiltManifest is what a run id tells of its run, for a descriptor lost
// in a crash: the codecs are lost, not the media.
func rebuiltManifest(s catalog.Stream, run string, cfg *Config) (catalog.Manifest, error) {
	id, err := catalog.ParseRunID(run)
	if err != nil {
		return catalog.Manifest{}, fmt.Errorf("spool: %w", err)
	}
	target, hardMax := cfg.segmentsFor(s)
	return catalog.Manifest{
		Version: 1, Stream: s.String(), Run: run, Node: id.Node, StartedAt: id.Started,
		State: catalog.StateLive, TargetDurationMS: target.Milliseconds(),
		MaxSegmentDurationMS: hardMax.Milliseconds(),
	}, nil
}
