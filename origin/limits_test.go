package origin

import (
	"context"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
)

func TestSlowSink(t *testing.T) {
	t.Parallel()
	fast := newTestSink("fast")
	slow := newTestSink("slow")
	// 10 frames/s against ~70 frames/s in: a blocking hand-off would stretch
	// the 3 s publish to over 20 s.
	slow.delay = 100 * time.Millisecond
	// 64 frames is ~0.9 s of slack: the fast sink's goroutine may be
	// descheduled that long on a loaded test machine without a drop, and
	// the slow one still overflows within the publish.
	ts := startServer(t, Config{SinkQueue: 64}, fast, slow)

	p := ffmpeg(t, ts.url("live/cam"), 3)
	waitFor(t, 10*time.Second, "drops reported by Live", func() bool {
		l := ts.srv.Live()
		return len(l) == 1 && l[0].Dropped["slow"] > 0
	})
	if err := p.wait(t); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	// Real time is ~3.2 s; the margin is for a busy test machine.
	if d := p.duration(); d > 7*time.Second {
		t.Errorf("publisher took %s for 3 s of media: the slow sink held it back", d)
	}
	waitFor(t, 10*time.Second, "both sinks closed", func() bool {
		f, s := fast.runsFor("live", "cam"), slow.runsFor("live", "cam")
		return len(f) == 1 && f[0].closed && len(s) == 1 && s[0].closed
	})
	in := ts.metric(t, "rewind_origin_frames_in_total")
	dropped := ts.metric(t, "rewind_origin_sink_dropped_frames_total", "sink", "slow")
	f, s := fast.runsFor("live", "cam")[0], slow.runsFor("live", "cam")[0]
	total := func(m map[media.FrameType]int) float64 {
		return float64(m[media.FrameAudio] + m[media.FrameVideo] + m[media.FrameData])
	}
	if total(f.frames) != in {
		t.Errorf("fast sink got %v of %v frames", total(f.frames), in)
	}
	if ts.metric(t, "rewind_origin_sink_dropped_frames_total", "sink", "fast") != 0 {
		t.Error("fast sink dropped frames")
	}
	// Everything queued was delivered before Close: got + dropped = in.
	if dropped == 0 || total(s.frames)+dropped != in {
		t.Errorf("slow sink got %v + dropped %v, frames in %v", total(s.frames), dropped, in)
	}
}

func TestReadTimeout(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{ReadTimeout: 500 * time.Millisecond})

	idle, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if d := expectDropped(t, idle, 3*time.Second); d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("idle connection dropped after %s, want ~500ms", d)
	}

	// Stalled after the handshake.
	stalled, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	rtmpHandshake(t, stalled)
	if d := expectDropped(t, stalled, 3*time.Second); d > 2*time.Second {
		t.Errorf("stalled connection dropped after %s", d)
	}
	waitFor(t, 2*time.Second, "timeouts counted", func() bool {
		return ts.metric(t, "rewind_origin_rejected_total", "reason", "timeout") == 2
	})
}

func TestMaxConns(t *testing.T) {
	t.Parallel()
	ts := startServer(t, Config{MaxConns: 1})

	first, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	rtmpHandshake(t, first) // proves it is being served
	second, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if d := expectDropped(t, second, 2*time.Second); d > time.Second {
		t.Errorf("extra connection closed after %s", d)
	}
	if got := ts.metric(t, "rewind_origin_rejected_total", "reason", "max_conns"); got != 1 {
		t.Errorf("rejected_total{max_conns} = %v", got)
	}
	// The first one still works: once it is gone there is room again.
	first.Close()
	waitFor(t, 2*time.Second, "first connection released", func() bool {
		return ts.metric(t, "rewind_origin_connections") == 0
	})
	third, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	rtmpHandshake(t, third)
}

func TestMaxPublishers(t *testing.T) {
	t.Parallel()
	sink := newTestSink("rec")
	ts := startServer(t, Config{MaxPublishers: 1}, sink)

	first := ffmpeg(t, ts.url("live/a"), 2)
	waitFor(t, 10*time.Second, "first publisher live", func() bool { return len(ts.srv.Live()) == 1 })
	if err := ffmpeg(t, ts.url("live/b"), 1).wait(t); err == nil {
		t.Error("publisher over MaxPublishers accepted")
	}
	if err := first.wait(t); err != nil {
		t.Fatalf("first publisher: %v", err)
	}
	if got := ts.metric(t, "rewind_origin_rejected_total", "reason", "max_publishers"); got != 1 {
		t.Errorf("rejected_total{max_publishers} = %v", got)
	}
	if r := sink.runsFor("live", "b"); len(r) != 0 {
		t.Errorf("refused publisher opened a run")
	}
}

// TestShutdown cancels Serve during a live publish: Serve returns, the
// publisher is cut off and the sink stream is closed.
func TestShutdown(t *testing.T) {
	t.Parallel()
	sink := newTestSink("rec")
	slow := newTestSink("slow")
	slow.delay = 5 * time.Millisecond
	ts := startServer(t, Config{}, sink, slow)
	p := ffmpeg(t, ts.url("live/cam"), 10)
	idle, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	waitFor(t, 10*time.Second, "publisher live", func() bool {
		l := ts.srv.Live()
		return len(l) == 1 && l[0].FramesIn > 20
	})
	start := time.Now()
	ts.stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	for _, s := range []*testSink{sink, slow} {
		r := s.runsFor("live", "cam")
		if len(r) != 1 || !r[0].closed {
			t.Fatalf("%s: run not closed when Serve returned: %+v", s.name, r)
		}
	}
	if err := p.wait(t); err == nil {
		t.Error("publisher not cut off by shutdown")
	}
	expectDropped(t, idle, time.Second)
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Error("listener still accepting after shutdown")
	}
	if err := ts.srv.Serve(context.Background(), nil); err == nil {
		t.Error("second Serve succeeded")
	}
}

// TestSetupTimeout: a connection that trickles a byte at a time never
// trips ReadTimeout, but the setup deadline drops it; a publish and an
// RTMP play that outlast the deadline are not touched once accepted.
func TestSetupTimeout(t *testing.T) {
	t.Parallel()
	players := NewPlayers(PlayersConfig{}, testLogger(t), nil)
	sink := newTestSink("rec")
	ts := startServer(t, Config{SetupTimeout: time.Second, ReadTimeout: 5 * time.Second}, sink, players)

	trickler, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer trickler.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for range 1537 {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := trickler.Write([]byte{3}); err != nil {
				return
			}
		}
	}()

	pub := ffmpeg(t, ts.url("live/cam"), 4)
	if d := expectDropped(t, trickler, 4*time.Second); d > 2500*time.Millisecond {
		t.Errorf("trickler dropped after %s, setup timeout 1s", d)
	}
	waitFor(t, 10*time.Second, "publisher live", func() bool { return len(ts.srv.Live()) == 1 })
	play, err := exec.Command("ffmpeg", "-v", "error", "-i", ts.url("live/cam"), "-t", "2.5", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Errorf("RTMP play past the setup timeout: %v\n%s", err, play)
	}
	if err := pub.wait(t); err != nil {
		t.Fatalf("publisher past the setup timeout: %v", err)
	}
	if got := ts.metric(t, "rewind_origin_rejected_total", "reason", "timeout"); got != 1 {
		t.Errorf("rejected_total{timeout} = %v, want 1 (the trickler only)", got)
	}
	if r := sink.runsFor("live", "cam"); len(r) != 1 || r[0].frames[media.FrameVideo] < 90 {
		t.Errorf("run: %+v", r)
	}
}
