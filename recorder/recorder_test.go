package recorder

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/media"
)

type harness struct {
	t      *testing.T
	st     *fsstore.FS
	rec    *Recorder
	cancel context.CancelFunc
	done   chan struct{}
}

func newHarness(t *testing.T, spool string, st *fsstore.FS, cfg Config) *harness {
	t.Helper()
	cfg.Spool = spool
	if cfg.SegmentDuration == 0 {
		cfg.SegmentDuration = 2 * time.Second
	}
	cfg.RetryMin, cfg.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	rec, err := New(cfg, st, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, st: st, rec: rec, cancel: cancel, done: make(chan struct{})}
	go func() { rec.Run(ctx); close(h.done) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

func (h *harness) idle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.rec.WaitIdle(ctx); err != nil {
		h.t.Fatal(err)
	}
}

var testStream = catalog.Stream{App: "live", Name: "cam"}

func (h *harness) open(run string) *Stream {
	h.t.Helper()
	s, err := h.rec.Open(media.StreamInfo{App: testStream.App, Name: testStream.Name, Run: run, StartedAt: time.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func readTags(t *testing.T, path string) []flvfile.Tag {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tags, err := flvfile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

func feed(s *Stream, tags []flvfile.Tag, tsShift uint32) {
	for _, tag := range tags {
		s.WriteFrame(media.Frame{Type: media.FrameType(tag.Type), Timestamp: tag.Timestamp + tsShift, Payload: tag.Body})
	}
}

// checkRun verifies what DESIGN.md promises of a stored run and returns its
// index and the concatenation of its segments.
func checkRun(t *testing.T, st *fsstore.FS, run string, wantState string) ([]catalog.Entry, string) {
	t.Helper()
	ctx := context.Background()
	m, err := catalog.ReadManifest(ctx, st, testStream, run)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != wantState {
		t.Errorf("run.json state %q, want %q", m.State, wantState)
	}
	entries, err := catalog.ReadIndex(ctx, st, testStream, run)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("empty index")
	}
	all := filepath.Join(t.TempDir(), "all.ts")
	out, err := os.Create(all)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for i, e := range entries {
		if e.Seq != uint64(i+1) {
			t.Errorf("entry %d has seq %d", i, e.Seq)
		}
		if i > 0 && e.StartMS < entries[i-1].StartMS {
			t.Errorf("entry %d starts before the previous one", i)
		}
		path := filepath.Join(st.Root(), catalog.SegmentKey(testStream, run, e.Seq))
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("segment %d: %v", e.Seq, err)
		}
		if fi.Size() != int64(e.Size) {
			t.Errorf("segment %d: %d bytes, index says %d", e.Seq, fi.Size(), e.Size)
		}
		b, _ := os.ReadFile(path)
		out.Write(b)
	}
	return entries, all
}

// recorded is one source recorded through a fresh recorder into an FS store.
type recorded struct {
	src     string // the published FLV
	st      *fsstore.FS
	run     string
	entries []catalog.Entry
	all     string // the stored segments, concatenated
}

// record publishes source through a recorder, each tag's timestamp passed
// through retime (nil: unchanged), and checks the stored run.
func record(t *testing.T, source mediatest.Source, retime func(uint32) uint32) recorded {
	t.Helper()
	mediatest.Require(t)
	dir := t.TempDir()
	src := mediatest.WriteFLV(t, dir, "src", source)
	tags := readTags(t, src)
	if retime != nil {
		for i := range tags {
			tags[i].Timestamp = retime(tags[i].Timestamp)
		}
	}
	return recordTags(t, dir, src, tags)
}

// recordTags publishes tags (taken from the FLV src, maybe reordered)
// through a fresh recorder under dir and checks the stored run.
func recordTags(t *testing.T, dir, src string, tags []flvfile.Tag) recorded {
	t.Helper()
	r := recorded{src: src}
	r.st, _ = fsstore.New(filepath.Join(dir, "store"))
	h := newHarness(t, filepath.Join(dir, "spool"), r.st, Config{})
	r.run = catalog.NewRunID(time.Now(), "test")
	s := h.open(r.run)
	feed(s, tags, 0)
	s.Close()
	h.idle()
	r.entries, r.all = checkRun(t, r.st, r.run, catalog.StateEnded)
	return r
}

func TestRecordAudioVideo(t *testing.T) {
	r := record(t, mediatest.Source{Seconds: 12}, nil)
	src, st, run, entries, all := r.src, r.st, r.run, r.entries, r.all
	want := mediatest.CountFrames(t, src)
	// 12 s cut at 2 s keyframes: six segments of 2 s.
	if len(entries) != 6 {
		t.Errorf("%d segments, want 6", len(entries))
	}
	var sum time.Duration
	for _, e := range entries {
		sum += e.Dur()
		if e.Flags&catalog.FlagIndependent == 0 {
			t.Errorf("segment %d not independent", e.Seq)
		}
		if e.Flags&(catalog.FlagDiscontinuity|catalog.FlagGap) != 0 {
			t.Errorf("segment %d flagged %v", e.Seq, e.Flags)
		}
		seg := filepath.Join(st.Root(), catalog.SegmentKey(testStream, run, e.Seq))
		if f := mediatest.Frames(t, seg, "v"); len(f) == 0 || f[0].KeyFrame != 1 {
			t.Errorf("segment %d does not start on a keyframe", e.Seq)
		}
		mediatest.CountFrames(t, seg) // decodes without errors
	}
	got := mediatest.CountFrames(t, all)
	if got != want {
		t.Errorf("recorded frames %+v, published %+v", got, want)
	}
	media := mediatest.Duration(t, src)
	if math.Abs(sum.Seconds()-media) > 0.1 {
		t.Errorf("index durations sum to %v, media is %.3fs", sum, media)
	}
	m, _ := catalog.ReadManifest(context.Background(), st, testStream, run)
	if m.Video == nil || m.Video.Width != 320 || m.Video.Height != 240 || m.Audio == nil || m.Audio.SampleRate != 44100 {
		t.Errorf("manifest media: %+v %+v", m.Video, m.Audio)
	}
	if m.Video != nil && math.Abs(m.Video.FPS-25) > 0.5 {
		t.Errorf("fps %v", m.Video.FPS)
	}
	// The hard cut is recorded, so that replay can fix TARGETDURATION.
	if m.MaxSegmentDurationMS != 6000 {
		t.Errorf("max_segment_duration_ms %d, want the default 3 x 2 s", m.MaxSegmentDurationMS)
	}
	last := entries[len(entries)-1]
	if m.EndedAt == nil || !m.EndedAt.Equal(last.Start().Add(last.Dur()).Truncate(time.Millisecond)) {
		t.Errorf("ended_at %v, last segment ends %v", m.EndedAt, last.Start().Add(last.Dur()))
	}
	if left := filepath.Join(filepath.Dir(st.Root()), "spool"); dirEntries(left) != 0 {
		t.Errorf("spool %s not emptied", left)
	}
}

func TestRecordSingleTrack(t *testing.T) {
	mediatest.Require(t)
	for _, tc := range []struct {
		name string
		src  mediatest.Source
	}{
		{"audio-only", mediatest.Source{Seconds: 5, NoVideo: true}},
		{"video-only", mediatest.Source{Seconds: 5, NoAudio: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := record(t, tc.src, nil)
			want := mediatest.CountFrames(t, r.src)
			entries, all := r.entries, r.all
			if len(entries) < 2 {
				t.Errorf("%d segments", len(entries))
			}
			if got := mediatest.CountFrames(t, all); got != want {
				t.Errorf("recorded %+v, published %+v", got, want)
			}
		})
	}
}

// The 32-bit RTMP timestamp wraps after ~49.7 days; a stream crossing it
// must keep sound timing and no discontinuity.
func TestTimestampWrap(t *testing.T) {
	r := record(t, mediatest.Source{Seconds: 6}, func(ts uint32) uint32 { return ts + math.MaxUint32 - 3000 }) // wraps 3 s in
	want := mediatest.CountFrames(t, r.src)
	entries, all := r.entries, r.all
	for _, e := range entries {
		if e.Flags&catalog.FlagDiscontinuity != 0 {
			t.Errorf("segment %d: discontinuity at the wrap", e.Seq)
		}
	}
	if got := mediatest.CountFrames(t, all); got != want {
		t.Errorf("recorded %+v, published %+v", got, want)
	}
	if d := mediatest.Duration(t, all); math.Abs(d-6) > 0.2 {
		t.Errorf("duration %.3f across the wrap, want 6", d)
	}
}

// A jump in the publisher's timestamps becomes an index discontinuity while
// the TS timeline stays continuous.
func TestTimestampJump(t *testing.T) {
	r := record(t, mediatest.Source{Seconds: 8}, func(ts uint32) uint32 {
		if ts >= 4000 {
			ts += 600_000 // ten minutes forward
		}
		return ts
	})
	entries, all := r.entries, r.all
	disc := 0
	for _, e := range entries {
		if e.Flags&catalog.FlagDiscontinuity != 0 {
			disc++
		}
	}
	if disc != 1 {
		t.Errorf("%d discontinuities, want 1", disc)
	}
	if d := mediatest.Duration(t, all); d > 9 {
		t.Errorf("TS timeline spans %.1fs: the jump leaked into it", d)
	}
}

// A process that dies mid-publish leaves a torn segment in the spool; the
// next start keeps it (cut to whole packets), uploads and indexes every
// segment and ends the run.
func TestRecoverTornSegment(t *testing.T) { testRecoverLastSegment(t, false) }

// A cut makes the finished descriptor's rename and the segment's durable
// with one directory fsync, so after a power loss a finished {seq}.ts may
// sit beside its unfinished descriptor: recovery measures it again and
// keeps it, as it does a torn .ts.part.
func TestRecoverSegmentWithoutFinishedDescriptor(t *testing.T) { testRecoverLastSegment(t, true) }

func testRecoverLastSegment(t *testing.T, renamedOnly bool) {
	mediatest.Require(t)
	dir := t.TempDir()
	src := mediatest.WriteFLV(t, dir, "src", mediatest.Source{Seconds: 7})
	tags := readTags(t, src)
	st, _ := fsstore.New(filepath.Join(dir, "store"))
	spool := filepath.Join(dir, "spool")

	h := newHarness(t, spool, st, Config{})
	run := catalog.NewRunID(time.Now(), "test")
	s := h.open(run)
	feed(s, tags, 0)
	// Die without Close: the open segment stays a .part, as after kill -9.
	// Its buffered tail is flushed to the file but not finished, and the
	// run's lock goes, as the kernel drops it when a process dies.
	s.Flush() // what the origin's last batch would have written
	h.idle2Segments(t)
	h.stop()
	s.lock.release()
	part := segBase(runDir(spool, testStream, run), 4) + extPart
	fi, err := os.Stat(part)
	if err != nil {
		t.Fatalf("no torn segment: %v", err)
	}
	// Tear it mid-packet.
	os.Truncate(part, fi.Size()-100)
	if renamedOnly {
		var meta segMeta
		if err := readJSON(strings.TrimSuffix(part, extPart)+extMeta, &meta); err != nil || meta.Done {
			t.Fatalf("descriptor %+v, %v: want unfinished", meta, err)
		}
		if err := os.Rename(part, strings.TrimSuffix(part, extPart)+extTS); err != nil {
			t.Fatal(err)
		}
	}

	h2 := newHarness(t, spool, st, Config{})
	h2.idle()
	entries, all := checkRun(t, st, run, catalog.StateEnded)
	if len(entries) != 4 {
		t.Fatalf("%d segments, want 4 (3 whole + the torn one)", len(entries))
	}
	torn := filepath.Join(st.Root(), catalog.SegmentKey(testStream, run, 4))
	mediatest.CountFrames(t, torn) // decodes without errors
	if entries[3].Size%188 != 0 || entries[3].Dur() < 500*time.Millisecond {
		t.Errorf("torn segment entry %+v", entries[3])
	}
	got := mediatest.CountFrames(t, all)
	if want := mediatest.CountFrames(t, src); got.Video < want.Video-3 || got.Video > want.Video {
		t.Errorf("recorded %d video frames of %d", got.Video, want.Video)
	}
}

// idle2Segments waits until the three finished segments are uploaded.
func (h *harness) idle2Segments(t *testing.T) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if n, _ := h.rec.Pending(); n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("segments not uploaded")
}

func dirEntries(dir string) int {
	e, _ := os.ReadDir(dir)
	return len(e)
}

// A relay such as nginx-rtmp sends the AAC header just before the first
// audio frame, which may come after the first video keyframe: the run still
// gets both tracks, and no video frame is lost while it waits.
func TestLateAudioHeader(t *testing.T) {
	mediatest.Require(t)
	dir := t.TempDir()
	src := mediatest.WriteFLV(t, dir, "src", mediatest.Source{Seconds: 6})
	tags := readTags(t, src)
	// The AAC header and every audio frame of the first 400 ms move behind
	// the video of that time, as nginx-rtmp relays them.
	var early, hdr, late []flvfile.Tag
	videoSeen := 0
	for _, tag := range tags {
		isAudio := tag.Type == uint8(media.FrameAudio)
		switch {
		case isAudio && len(tag.Body) > 1 && tag.Body[1] == 0:
			hdr = append(hdr, tag)
		case isAudio && tag.Timestamp < 400:
			// nginx would not have sent these before the header: dropped
		case isAudio:
			late = append(late, tag)
		default:
			if tag.Type == uint8(media.FrameVideo) {
				videoSeen++
			}
			if tag.Timestamp < 400 {
				early = append(early, tag)
			} else {
				late = append(late, tag)
			}
		}
	}
	if len(hdr) != 1 || videoSeen == 0 {
		t.Fatalf("source: %d AAC headers, %d video frames", len(hdr), videoSeen)
	}
	r := recordTags(t, dir, src, slices.Concat(early, hdr, late))
	all := r.all
	m, _ := catalog.ReadManifest(context.Background(), r.st, testStream, r.run)
	if m.Video == nil || m.Audio == nil {
		t.Fatalf("tracks: video %+v audio %+v, want both", m.Video, m.Audio)
	}
	want := mediatest.CountFrames(t, src)
	got := mediatest.CountFrames(t, all)
	if got.Video != want.Video {
		t.Errorf("recorded %d video frames, published %d", got.Video, want.Video)
	}
	if got.Audio == 0 || got.Audio > want.Audio {
		t.Errorf("recorded %d audio frames of %d", got.Audio, want.Audio)
	}
}

// nginx-rtmp relays video from a keyframe on, so the AVC header and the
// first keyframe may come a whole GOP after the audio; onMetaData declared
// video, so the run waits for it instead of starting audio-only.
func TestVideoAGOPAfterAudio(t *testing.T) {
	mediatest.Require(t)
	dir := t.TempDir()
	src := mediatest.WriteFLV(t, dir, "src", mediatest.Source{Seconds: 6})
	var out []flvfile.Tag
	var avcHeader *flvfile.Tag
	keyframes, dropped := 0, 0
	for _, tag := range readTags(t, src) {
		if tag.Type != uint8(media.FrameVideo) {
			out = append(out, tag)
			continue
		}
		if len(tag.Body) > 1 && tag.Body[1] == 0 { // AVC sequence header
			avcHeader = &tag
			continue
		}
		if tag.Body[0]>>4 == 1 {
			keyframes++
			if keyframes == 2 {
				out = append(out, *avcHeader)
			}
		}
		if keyframes < 2 {
			dropped++
			continue
		}
		out = append(out, tag)
	}
	if avcHeader == nil || keyframes < 3 {
		t.Fatalf("source: header %v, %d keyframes", avcHeader != nil, keyframes)
	}
	r := recordTags(t, dir, src, out)
	all := r.all
	m, _ := catalog.ReadManifest(context.Background(), r.st, testStream, r.run)
	if m.Video == nil || m.Audio == nil {
		t.Fatalf("tracks: video %+v audio %+v, want both", m.Video, m.Audio)
	}
	want := mediatest.CountFrames(t, src)
	if got := mediatest.CountFrames(t, all); got.Video != want.Video-dropped || got.Audio == 0 {
		t.Errorf("recorded %+v, published %+v less %d video frames of the first GOP", got, want, dropped)
	}
}
