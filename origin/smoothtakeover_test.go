package origin

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// waitPublishing waits until the stream's only live publish has had n
// frames.
func waitPublishing(t *testing.T, ts *testServer, n uint64) {
	t.Helper()
	waitFor(t, 10*time.Second, "publisher live", func() bool {
		l := ts.srv.Live()
		return len(l) == 1 && l[0].FramesIn > n
	})
}

// checkTwoRuns checks that the recorder saw the takeover as today: two
// runs, the first closed before the second opened.
func checkTwoRuns(t *testing.T, rec *testSink) {
	t.Helper()
	waitFor(t, 5*time.Second, "both runs closed", func() bool {
		r := rec.runsFor("live", "cam")
		return len(r) == 2 && r[0].closed && r[1].closed
	})
	runs, events := rec.snapshot()
	want := []string{"open " + runs[0].info.Run, "close " + runs[0].info.Run, "open " + runs[1].info.Run, "close " + runs[1].info.Run}
	for i, e := range events {
		if got := e.kind + " " + e.run; i >= len(want) || got != want[i] {
			t.Errorf("recorder: event %d = %q, want order %q", i, got, want)
		}
	}
}

// With takeover replace an HTTP-FLV player stays on its connection while
// publisher A (320x240) is replaced by B (640x360): its file is one
// stream, A's pictures then B's, on one timeline. The players have no
// reconnect grace and the recorder takes a while to close A's run: the
// takeover alone keeps them, for as long as the hand-over takes.
func TestSmoothTakeoverFLV(t *testing.T) {
	t.Parallel()
	rec := newTestSink("rec")
	rec.closeDelay = 500 * time.Millisecond
	players := NewPlayers(PlayersConfig{}, testLogger(t), nil)
	ts := startServer(t, Config{Takeover: TakeoverReplace}, rec, players)
	base := flvServer(t, players)

	a := ffmpegSize(t, ts.url("live/cam"), 20, "320x240")
	waitPublishing(t, ts, 20)
	pl := recordFLV(t, base+"/live/cam.flv", filepath.Join(t.TempDir(), "play.flv"))
	time.Sleep(2 * time.Second)
	b := ffmpegSize(t, ts.url("live/cam"), 4, "640x360")
	if err := a.wait(t); err == nil {
		t.Error("publisher A was not replaced")
	}
	if err := b.wait(t); err != nil {
		t.Fatalf("publisher B: %v", err)
	}
	// B's end is the stream's end: no grace, no publisher on its way.
	if end := pl.waitEnded(t, 5*time.Second); end.Before(b.start.Add(3 * time.Second)) {
		t.Errorf("the player ended %s after publisher B started, B ran 4 s", end.Sub(b.start))
	}
	checkSplicedFile(t, pl.path, 40, "320x240", "640x360")
	checkTwoRuns(t, rec)
	if n := testutil.ToFloat64(players.resumed); n != 1 {
		t.Errorf("resumes = %v, want 1", n)
	}
}

// The same over RTMP play: ffmpeg plays the stream into a file (stream
// copy) through the takeover, and ends when the grace after B is over.
func TestSmoothTakeoverRTMP(t *testing.T) {
	t.Parallel()
	rec := newTestSink("rec")
	const grace = time.Second
	players := NewPlayers(PlayersConfig{ReconnectGrace: grace}, testLogger(t), nil)
	ts := startServer(t, Config{Takeover: TakeoverReplace}, rec, players)

	a := ffmpegSize(t, ts.url("live/cam"), 20, "320x240")
	waitPublishing(t, ts, 20)
	pl := recordRTMP(t, ts.url("live/cam"), filepath.Join(t.TempDir(), "play.flv"))
	waitFor(t, 10*time.Second, "the RTMP player writing", func() bool { return pl.size() > 50<<10 })
	time.Sleep(time.Second)
	b := ffmpegSize(t, ts.url("live/cam"), 4, "640x360")
	if err := a.wait(t); err == nil {
		t.Error("publisher A was not replaced")
	}
	if err := b.wait(t); err != nil {
		t.Fatalf("publisher B: %v", err)
	}
	// B's process exits a little after its run ended: half the grace
	// tells waiting from not waiting (TestGraceExpires measures it).
	if d := pl.waitEnded(t, 10*time.Second).Sub(b.end); d < grace/2 {
		t.Errorf("the player ended %s after publisher B, before the grace (%s)", d, grace)
	}
	checkSplicedFile(t, pl.path, 40, "320x240", "640x360")
	checkTwoRuns(t, rec)
	if n := testutil.ToFloat64(players.resumed); n != 1 {
		t.Errorf("resumes = %v, want 1", n)
	}
}
