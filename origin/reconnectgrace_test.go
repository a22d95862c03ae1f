package origin

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// waitRunEnded waits until the stream has no live publish, and returns
// when it saw that.
func waitRunEnded(t *testing.T, ts *testServer) time.Time {
	t.Helper()
	waitFor(t, 10*time.Second, "the publish ended", func() bool { return len(ts.srv.Live()) == 0 })
	return time.Now()
}

// playersWaiting says if key's players wait for a publisher (no run).
func playersWaiting(p *Players, key string) bool {
	ls := p.lookup(key)
	if ls == nil {
		return false
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.cur == nil
}

func rtmpPlayers(p *Players) float64 { return testutil.ToFloat64(p.players.WithLabelValues(protoRTMP)) }

// A publisher whose connection is lost comes back within the grace: the
// player stays on its connection and its file holds both runs, on one
// timeline; a player arriving in between is told the stream is not live.
// After the second run no one comes back: the grace ends the player.
func TestReconnectWithinGrace(t *testing.T) {
	t.Parallel()
	const grace = 3 * time.Second
	rec := newTestSink("rec")
	players := NewPlayers(PlayersConfig{ReconnectGrace: grace}, testLogger(t), nil)
	ts := startServer(t, Config{}, rec, players) // takeover reject: a return is no takeover
	base := flvServer(t, players)

	a := ffmpegSize(t, ts.url("live/cam"), 20, "320x240")
	waitPublishing(t, ts, 20)
	pl := recordFLV(t, base+"/live/cam.flv", filepath.Join(t.TempDir(), "play.flv"))
	time.Sleep(2 * time.Second)
	if err := a.cmd.Process.Kill(); err != nil { // the connection is lost
		t.Fatal(err)
	}
	a.wait(t)
	waitRunEnded(t, ts)
	// The players' feed is closed on its sink goroutine, after the run
	// leaves the server's list: wait until its players wait.
	waitFor(t, 5*time.Second, "the players waiting", func() bool { return playersWaiting(players, "live/cam") })
	if code, body := getStatus(t, base+"/live/cam.flv"); code != 404 {
		t.Errorf("a new player while the players wait: %d %s, want 404", code, body)
	}
	if ended, _ := pl.ended(); ended {
		t.Fatal("the player was closed when its publisher dropped")
	}
	b := ffmpegSize(t, ts.url("live/cam"), 3, "640x360")
	if err := b.wait(t); err != nil {
		t.Fatalf("publisher B: %v", err)
	}
	pl.waitEnded(t, grace+5*time.Second)
	checkSplicedFile(t, pl.path, 30, "320x240", "640x360")
	checkTwoRuns(t, rec)
	if n := testutil.ToFloat64(players.resumed); n != 1 {
		t.Errorf("resumes = %v, want 1", n)
	}
	if n := testutil.ToFloat64(players.expired); n != 1 {
		t.Errorf("grace expiries = %v, want 1 (after B)", n)
	}
}

// A publisher that does not come back: its HTTP-FLV and RTMP players are
// closed when the grace is over, not at once and not later; meanwhile
// new players are refused on both protocols.
func TestGraceExpires(t *testing.T) {
	t.Parallel()
	const grace = 2 * time.Second
	players := NewPlayers(PlayersConfig{ReconnectGrace: grace}, testLogger(t), nil)
	ts := startServer(t, Config{}, newTestSink("rec"), players)
	base := flvServer(t, players)

	a := ffmpeg(t, ts.url("live/cam"), 4)
	waitPublishing(t, ts, 20)
	dir := t.TempDir()
	flv := recordFLV(t, base+"/live/cam.flv", filepath.Join(dir, "flv.flv"))
	rtmp := recordRTMP(t, ts.url("live/cam"), filepath.Join(dir, "rtmp.flv"))
	waitFor(t, 10*time.Second, "the RTMP player", func() bool { return rtmpPlayers(players) == 1 })
	if err := a.wait(t); err != nil {
		t.Fatal(err)
	}
	gone := waitRunEnded(t, ts)
	waitFor(t, 5*time.Second, "the players waiting", func() bool { return playersWaiting(players, "live/cam") })
	if code, _ := getStatus(t, base+"/live/cam.flv"); code != 404 {
		t.Errorf("a new HTTP-FLV player while the players wait: %d, want 404", code)
	}
	for _, p := range []*filePlayer{flv, rtmp} {
		if ended, at := p.ended(); ended {
			t.Errorf("%s closed %s after its publisher, before the grace", p.path, at.Sub(gone))
		}
	}
	if out, err := exec.Command("ffprobe", "-v", "error", "-rw_timeout", "3000000", ts.url("live/cam")).CombinedOutput(); err == nil {
		t.Errorf("a new RTMP player while the players wait was served: %s", out)
	}
	for _, p := range []*filePlayer{flv, rtmp} {
		d := p.waitEnded(t, grace+5*time.Second).Sub(gone)
		if d < grace-300*time.Millisecond || d > grace+2*time.Second {
			t.Errorf("%s closed %s after its publisher, want about the grace (%s)", p.path, d, grace)
		}
	}
	checkSplicedFile(t, rtmp.path, 20, "320x240")
	if n := testutil.ToFloat64(players.expired); n != 1 {
		t.Errorf("grace expiries = %v, want 1", n)
	}
	if n := testutil.ToFloat64(players.resumed); n != 0 {
		t.Errorf("resumes = %v, want 0", n)
	}
}

// Drain or shutdown during a grace: no publisher can come back, so the
// waiting players are closed at once, however long the grace.
func TestGraceEndsOnDrainAndShutdown(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"drain", "shutdown"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			players := NewPlayers(PlayersConfig{ReconnectGrace: time.Minute}, testLogger(t), nil)
			ts := startServer(t, Config{}, newTestSink("rec"), players)
			base := flvServer(t, players)
			a := ffmpeg(t, ts.url("live/cam"), 3)
			waitPublishing(t, ts, 20)
			dir := t.TempDir()
			flv := recordFLV(t, base+"/live/cam.flv", filepath.Join(dir, "flv.flv"))
			rtmp := recordRTMP(t, ts.url("live/cam"), filepath.Join(dir, "rtmp.flv"))
			waitFor(t, 10*time.Second, "the RTMP player", func() bool { return rtmpPlayers(players) == 1 })
			if err := a.wait(t); err != nil {
				t.Fatal(err)
			}
			waitRunEnded(t, ts)
			time.Sleep(500 * time.Millisecond)
			for _, p := range []*filePlayer{flv, rtmp} {
				if ended, _ := p.ended(); ended {
					t.Fatalf("%s closed without waiting", p.path)
				}
			}
			start := time.Now()
			if how == "drain" {
				ts.srv.Drain()
			} else {
				ts.stop()
			}
			for _, p := range []*filePlayer{flv, rtmp} {
				if d := p.waitEnded(t, 5*time.Second).Sub(start); d > 1500*time.Millisecond {
					t.Errorf("%s closed %s after the %s", p.path, d, how)
				}
			}
			if n := testutil.ToFloat64(players.expired); n != 0 {
				t.Errorf("grace expiries = %v, want 0", n)
			}
		})
	}
}
