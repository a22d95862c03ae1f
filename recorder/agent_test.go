package recorder

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/media"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newSlicer runs a recorder that only slices into spool (AgentExternal,
// no store at all) until the test ends.
func newSlicer(t *testing.T, spool string, cfg Config) *Recorder {
	t.Helper()
	cfg.Spool, cfg.Agent = spool, AgentExternal
	if cfg.SegmentDuration == 0 {
		cfg.SegmentDuration = 2 * time.Second
	}
	rec, err := New(cfg, nil, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return rec
}

// agentHarness is a stand-alone uploader on a spool.
type agentHarness struct {
	t       *testing.T
	a       *Agent
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

func startAgent(t *testing.T, spool string, st store.Store, cfg Config) *agentHarness {
	t.Helper()
	cfg.Spool = spool
	if cfg.SegmentDuration == 0 {
		cfg.SegmentDuration = 2 * time.Second
	}
	if cfg.ScanInterval == 0 {
		cfg.ScanInterval = 20 * time.Millisecond
	}
	cfg.RetryMin, cfg.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	a, err := NewAgent(cfg, st, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &agentHarness{t: t, a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- a.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *agentHarness) stop() {
	if !h.stopped {
		h.stopped = true
		h.cancel()
		<-h.done
	}
}

func (h *agentHarness) idle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.a.WaitIdle(ctx); err != nil {
		h.t.Fatal(err)
	}
}

func openOn(t *testing.T, rec *Recorder) *Stream {
	t.Helper()
	s, err := rec.Open(media.StreamInfo{App: testStream.App, Name: testStream.Name, Run: catalog.NewRunID(time.Now(), "test"), StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// until polls cond for up to 20 s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func indexed(st store.Store, run string) int {
	e, _ := catalog.ReadIndex(context.Background(), st, testStream, run)
	return len(e)
}

func spooledSegments(dir string) int {
	files, _ := os.ReadDir(dir)
	n := 0
	for _, f := range files {
		if _, ok := parseSegName(f.Name()); ok {
			n++
		}
	}
	return n
}

// tagsUntil splits tags at an RTMP timestamp.
func tagsUntil(tags []flvfile.Tag, ms uint32) (before, after []flvfile.Tag) {
	for i, tag := range tags {
		if tag.Timestamp >= ms && tag.Type != uint8(media.FrameData) {
			return tags[:i], tags[i:]
		}
	}
	return tags, nil
}

// Sliced in one process and uploaded by an agent in another (here: the
// same code, apart, sharing nothing but the spool), a run is stored
// exactly as the in-process recorder stores it.
func TestExternalAgentRecordsAsInProcess(t *testing.T) {
	mediatest.Require(t)
	dir := t.TempDir()
	src := mediatest.WriteFLV(t, dir, "src", mediatest.Source{Seconds: 12})
	tags := readTags(t, src)
	os.MkdirAll(filepath.Join(dir, "in"), 0o755)
	internal := recordTags(t, filepath.Join(dir, "in"), src, tags)

	spool := filepath.Join(dir, "ext", "spool")
	st, _ := fsstore.New(filepath.Join(dir, "ext", "store"))
	rec := newSlicer(t, spool, Config{})
	h := startAgent(t, spool, st, Config{})
	s := openOn(t, rec)
	feed(s, tags, 0)
	s.Close()
	// The agent finds the run at its next scan: slicing may be over
	// before that, and WaitIdle knows only what the agent has found. It
	// removes the run's directory once the run is stored.
	until(t, "the agent stores the run", func() bool {
		_, err := os.Stat(runDir(spool, testStream, s.run))
		return errors.Is(err, fs.ErrNotExist)
	})
	h.idle()
	entries, all := checkRun(t, st, s.run, catalog.StateEnded)
	if len(entries) != len(internal.entries) {
		t.Fatalf("%d segments apart, %d in process", len(entries), len(internal.entries))
	}
	for i, e := range entries {
		in := internal.entries[i]
		if e.Size != in.Size || e.Duration != in.Duration || e.Flags != in.Flags {
			t.Errorf("segment %d apart %+v, in process %+v", e.Seq, e, in)
		}
	}
	if got, want := mediatest.CountFrames(t, all), mediatest.CountFrames(t, src); got != want {
		t.Errorf("recorded %+v, published %+v", got, want)
	}
	ctx := context.Background()
	mExt, _ := catalog.ReadManifest(ctx, st, testStream, s.run)
	mIn, _ := catalog.ReadManifest(ctx, internal.st, testStream, internal.run)
	if mExt.Video == nil || mExt.Audio == nil || *mExt.Video != *mIn.Video || *mExt.Audio != *mIn.Audio {
		t.Errorf("tracks apart %+v %+v, in process %+v %+v", mExt.Video, mExt.Audio, mIn.Video, mIn.Audio)
	}
	last := entries[len(entries)-1]
	if mExt.EndedAt == nil || !mExt.EndedAt.Equal(last.Start().Add(last.Dur()).Truncate(time.Millisecond)) {
		t.Errorf("ended_at %v, last segment ends %v", mExt.EndedAt, last.Start().Add(last.Dur()))
	}
	if n := dirEntries(spool); n != 0 {
		t.Errorf("spool holds %d entries after the run was stored", n)
	}
}

// While its slicer lives (holds the run's lock) a run is uploaded as it
// grows and never ended by the agent; once the slicer dies mid-segment
// (its lock dropped, as the kernel does at kill -9), the agent keeps the
// torn segment and ends the run at its end.
func TestAgentEndsRunOfDeadSlicer(t *testing.T) {
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
	time.Sleep(20 * h.a.cfg.ScanInterval)
	ctx := context.Background()
	if m, err := catalog.ReadManifest(ctx, st, testStream, s.run); err != nil || m.State != catalog.StateLive {
		t.Fatalf("stored run.json of a live run: %+v %v", m, err)
	}
	if m, err := readRunManifest(s.dir, testStream, s.run); err != nil || m.State != catalog.StateLive {
		t.Fatalf("spooled run.json of a live run: %+v %v", m, err)
	}

	part := segBase(s.dir, 4) + extPart
	fi, err := os.Stat(part)
	if err != nil {
		t.Fatal(err)
	}
	os.Truncate(part, fi.Size()-100) // torn mid-packet
	s.lock.release()
	h.idle()
	entries, _ := checkRun(t, st, s.run, catalog.StateEnded)
	if len(entries) != 4 {
		t.Fatalf("%d segments, want 4 (3 whole + the torn one)", len(entries))
	}
	if entries[3].Size%188 != 0 || entries[3].Dur() < 500*time.Millisecond {
		t.Errorf("torn segment entry %+v", entries[3])
	}
	mediatest.CountFrames(t, filepath.Join(st.Root(), catalog.SegmentKey(testStream, s.run, 4)))
	m, _ := catalog.ReadManifest(ctx, st, testStream, s.run)
	last := entries[3]
	if m.Video == nil || m.Audio == nil || m.EndedAt == nil || !m.EndedAt.Equal(last.Start().Add(last.Dur()).Truncate(time.Millisecond)) {
		t.Errorf("manifest %+v, want the tracks and ended_at at the torn segment's end %v", m, last.Start().Add(last.Dur()))
	}
}

// stallStore never completes index writes while stall is set: segments
// reach the store but not the index, as when an agent dies mid-upload.
type stallStore struct {
	store.Store
	stall    atomic.Bool
	segments atomic.Int32
}

func (s *stallStore) Put(ctx context.Context, key string, data []byte, contentType string) error {
	if s.stall.Load() && strings.Contains(key, "/idx/") {
		<-ctx.Done()
		return ctx.Err()
	}
	if strings.Contains(key, "/seg/") {
		s.segments.Add(1)
	}
	return s.Store.Put(ctx, key, data, contentType)
}

// An agent stopped mid-upload (segments stored, not indexed) and gone for
// a while: the slicer goes on, the spool grows, and the next agent stores
// and indexes every segment once.
func TestAgentRestartMidUpload(t *testing.T) {
	mediatest.Require(t)
	dir := t.TempDir()
	src := mediatest.WriteFLV(t, dir, "src", mediatest.Source{Seconds: 12})
	tags := readTags(t, src)
	first, rest := tagsUntil(tags, 7000)
	fs, _ := fsstore.New(filepath.Join(dir, "store"))
	st := &stallStore{Store: fs}
	st.stall.Store(true)
	spool := filepath.Join(dir, "spool")
	rec := newSlicer(t, spool, Config{})
	h1 := startAgent(t, spool, st, Config{})
	s := openOn(t, rec)
	feed(s, first, 0)
	until(t, "three segments stored", func() bool { return st.segments.Load() == 3 })
	h1.stop()
	if n := indexed(fs, s.run); n != 0 {
		t.Fatalf("%d segments indexed through a stalled index", n)
	}
	if n := spooledSegments(s.dir); n != 3 {
		t.Fatalf("%d segments left in the spool, want the 3 not indexed", n)
	}
	feed(s, rest, 0)
	s.Close()
	if n := spooledSegments(s.dir); n != 6 {
		t.Errorf("%d segments in the spool with no agent, want 6", n)
	}
	st.stall.Store(false)
	h2 := startAgent(t, spool, st, Config{})
	h2.idle()
	entries, all := checkRun(t, fs, s.run, catalog.StateEnded)
	if len(entries) != 6 {
		t.Errorf("%d segments indexed, want 6", len(entries))
	}
	for _, e := range entries {
		if e.Flags&(catalog.FlagGap|catalog.FlagDiscontinuity) != 0 {
			t.Errorf("segment %d flagged %v", e.Seq, e.Flags)
		}
	}
	if got, want := mediatest.CountFrames(t, all), mediatest.CountFrames(t, src); got != want {
		t.Errorf("recorded %+v, published %+v", got, want)
	}
}

// A spool has one uploader: a second agent, or an in-process one, is
// refused at start with a clear error (the in-process recorder then records
// nothing), while a slicer without its own agent shares the spool.
func TestOneUploaderPerSpool(t *testing.T) {
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	st, _ := fsstore.New(filepath.Join(dir, "store"))
	<-startAgent(t, spool, st, Config{}).a.scanned // it has the lock

	second, err := NewAgent(Config{Spool: spool}, st, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already has an uploader") {
		t.Errorf("second agent: %v", err)
	}

	internal, err := New(Config{Spool: spool}, st, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := internal.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already has an uploader") {
		t.Errorf("in-process agent: %v", err)
	}
	if _, err := internal.Open(media.StreamInfo{App: "live", Name: "cam", Run: catalog.NewRunID(time.Now(), "n"), StartedAt: time.Now()}); err == nil {
		t.Error("a recorder that could not start opened a stream")
	}
	if err := internal.WaitIdle(context.Background()); err == nil {
		t.Error("a recorder that could not start says it is idle")
	}

	s := openOn(t, newSlicer(t, spool, Config{}))
	s.Close()
}

// With the agent elsewhere, the slicer still holds --spool-limit: it
// measures the spool, drops new segments past the limit while nothing is
// uploaded, and sees the space come back once an agent drained it.
func TestExternalSpoolLimit(t *testing.T) {
	mediatest.Require(t)
	dir := t.TempDir()
	src := mediatest.WriteFLV(t, dir, "src", mediatest.Source{Seconds: 12, Size: "640x360"})
	spool := filepath.Join(dir, "spool")
	const limit = 150 << 10
	rec := newSlicer(t, spool, Config{SpoolLimit: limit})
	s := openOn(t, rec)
	feed(s, readTags(t, src), 0)
	s.Close()
	hits := testutil.ToFloat64(rec.m.spoolLimitHits)
	if hits == 0 {
		t.Fatal("spool limit never hit")
	}
	kept := spooledSegments(s.dir)
	st, _ := fsstore.New(filepath.Join(dir, "store"))
	h := startAgent(t, spool, st, Config{})
	h.idle()
	entries, _ := checkRun(t, st, s.run, catalog.StateEnded)
	if len(entries) != kept {
		t.Errorf("%d segments indexed, %d were spooled", len(entries), kept)
	}
	until(t, "the slicer sees the spool drained", func() bool { return rec.spoolBytes.get() == 0 })
}
