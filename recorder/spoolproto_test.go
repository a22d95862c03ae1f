package recorder

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/mediatest"
)

// liveRunWithUploads slices 7 s into a run (three finished segments, the
// fourth open) while an agent uploads, and returns once the three are
// indexed.
func liveRunWithUploads(t *testing.T) (*Stream, *fsstore.FS, *agentHarness) {
	t.Helper()
	mediatest.Require(t)
	dir := t.TempDir()
	src := mediatest.WriteFLV(t, dir, "src", mediatest.Source{Seconds: 7})
	st, _ := fsstore.New(filepath.Join(dir, "store"))
	spool := filepath.Join(dir, "spool")
	rec := newSlicer(t, spool, Config{})
	h := startAgent(t, spool, st, Config{})
	s := openOn(t, rec)
	feed(s, readTags(t, src), 0)
	s.Flush() // what the origin's last batch would have written
	until(t, "three segments indexed", func() bool { return indexed(st, s.run) == 3 })
	return s, st, h
}

// A run descriptor lost or torn in a crash: the run is still ended and
// stored, with the tracks the live run.json put in the store.
func TestOrphanWithoutDescriptor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string)
	}{
		{"missing", func(p string) { os.Remove(p) }},
		{"torn", func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st, h := liveRunWithUploads(t)
			tc.damage(dirFile(s.dir, spoolManifest))
			s.lock.release()
			h.idle()
			entries, _ := checkRun(t, st, s.run, catalog.StateEnded)
			if len(entries) != 4 {
				t.Errorf("%d segments, want 4 (the torn one kept)", len(entries))
			}
			m, _ := catalog.ReadManifest(context.Background(), st, testStream, s.run)
			if m.Video == nil || m.Audio == nil || m.Video.Width != 320 {
				t.Errorf("tracks %+v %+v, want those of the live run.json", m.Video, m.Audio)
			}
			if m.TargetDurationMS != 2000 {
				t.Errorf("target %d ms, want the slicer's 2000", m.TargetDurationMS)
			}
		})
	}
}

// A slicer that died before its open segment got a byte leaves a .meta
// without a segment: it is dropped, and with no segment left the end
// marker has no time; the run ends where its index does.
func TestOrphanEndsAtItsIndex(t *testing.T) {
	s, st, h := liveRunWithUploads(t)
	if err := os.Remove(segBase(s.dir, 4) + extPart); err != nil {
		t.Fatal(err)
	}
	s.lock.release()
	h.idle()
	entries, _ := checkRun(t, st, s.run, catalog.StateEnded)
	if len(entries) != 3 {
		t.Fatalf("%d segments, want 3", len(entries))
	}
	m, _ := catalog.ReadManifest(context.Background(), st, testStream, s.run)
	last := entries[2]
	if m.EndedAt == nil || !m.EndedAt.Equal(last.Start().Add(last.Dur()).Truncate(time.Millisecond)) {
		t.Errorf("ended_at %v, the index ends %v", m.EndedAt, last.Start().Add(last.Dur()))
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("run dir left in the spool: %v", err)
	}
}

// A finished segment whose descriptor does not match it (a damaged spool)
// is never indexed; the run goes on around it with a gap.
func TestUnusableSegmentSkipped(t *testing.T) {
	mediatest.Require(t)
	dir := t.TempDir()
	src := mediatest.WriteFLV(t, dir, "src", mediatest.Source{Seconds: 7})
	st, _ := fsstore.New(filepath.Join(dir, "store"))
	spool := filepath.Join(dir, "spool")
	rec := newSlicer(t, spool, Config{})
	s := openOn(t, rec)
	feed(s, readTags(t, src), 0)
	s.Close()
	var meta segMeta
	if err := readJSON(segBase(s.dir, 2)+extMeta, &meta); err != nil {
		t.Fatal(err)
	}
	meta.Size++
	if err := writeJSONAtomic(segBase(s.dir, 2)+extMeta, meta); err != nil {
		t.Fatal(err)
	}
	h := startAgent(t, spool, st, Config{})
	h.idle()
	entries, err := catalog.ReadIndex(context.Background(), st, testStream, s.run)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, e := range entries {
		seqs = append(seqs, e.Seq)
	}
	if len(seqs) != 3 || seqs[0] != 1 || seqs[1] != 3 || seqs[2] != 4 {
		t.Fatalf("indexed seqs %v, want [1 3 4]", seqs)
	}
	if f := entries[1].Flags; f&catalog.FlagGap == 0 || f&catalog.FlagDiscontinuity == 0 {
		t.Errorf("segment after the skipped one flagged %v, want gap and discontinuity", f)
	}
	if n := testutil.ToFloat64(h.a.m.segmentsDropped); n != 1 {
		t.Errorf("%v segments counted dropped, want 1", n)
	}
	if n := dirEntries(spool); n != 0 {
		t.Errorf("spool holds %d entries after the run was stored", n)
	}
}

// A run directory its slicer died creating (.tmp-{run}) is removed once it
// is old and unlocked, never while it may still be in the making.
func TestStaleStageRemoved(t *testing.T) {
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	parent := filepath.Join(spool, "live", "cam")
	mk := func(age time.Duration) string {
		d := filepath.Join(parent, stagePrefix+catalog.NewRunID(time.Now(), "n"))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, spoolManifest), []byte("{}"), 0o644)
		old := time.Now().Add(-age)
		os.Chtimes(d, old, old)
		return d
	}
	stale, fresh, locked := mk(2*staleStage), mk(0), mk(2*staleStage)
	l, ok, err := tryLockDir(locked)
	if err != nil || !ok {
		t.Fatal(err)
	}
	defer l.release()
	st, _ := fsstore.New(filepath.Join(dir, "store"))
	h := startAgent(t, spool, st, Config{})
	until(t, "the stale stage removed", func() bool { _, err := os.Stat(stale); return os.IsNotExist(err) })
	time.Sleep(10 * h.a.cfg.ScanInterval)
	for _, d := range []string{fresh, locked} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", filepath.Base(d), err)
		}
	}
}

// Segment names: only {seq:010d}.ts is a finished segment.
func TestParseSegName(t *testing.T) {
	for name, want := range map[string]uint64{
		"0000000001.ts": 1, "0000000123.ts": 123,
		"0000000001.ts.part": 0, "0000000001.meta": 0, "0000000000.ts": 0,
		"1.ts": 0, "abcdefghij.ts": 0, "run.json": 0, ".tmp-0000000001.ts": 0,
	} {
		got, ok := parseSegName(name)
		if ok != (want != 0) || got != want {
			t.Errorf("parseSegName(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}
