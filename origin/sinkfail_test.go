package origin

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

func TestSinkOpenError(t *testing.T) {
	t.Parallel()
	good := newTestSink("good")
	bad := newTestSink("bad")
	bad.openErr = errors.New("disk full")
	ts := startServer(t, Config{}, good, bad)
	if err := ffmpeg(t, ts.url("live/cam"), 1).wait(t); err == nil {
		t.Fatal("publish accepted although a sink failed to open")
	}
	if got := ts.metric(t, "rewind_origin_rejected_total", "reason", "sink_error"); got != 1 {
		t.Errorf("rejected_total{sink_error} = %v", got)
	}
	// The sink that did open was closed again.
	if r := good.runsFor("live", "cam"); len(r) != 1 || !r[0].closed {
		t.Errorf("good sink runs = %+v", r)
	}
}

func TestSinkPanic(t *testing.T) {
	t.Parallel()
	good := newTestSink("good")
	bad := newTestSink("bad")
	bad.panicAt = 10
	ts := startServer(t, Config{}, good, bad)
	if err := ffmpeg(t, ts.url("live/cam"), 1).wait(t); err != nil {
		t.Fatalf("publish: %v", err)
	}
	waitFor(t, 5*time.Second, "runs closed", func() bool {
		g, b := good.runsFor("live", "cam"), bad.runsFor("live", "cam")
		return len(g) == 1 && g[0].closed && len(b) == 1 && b[0].closed
	})
	g := good.runsFor("live", "cam")[0]
	if float64(g.frames[media.FrameVideo]+g.frames[media.FrameAudio]+g.frames[media.FrameData]) != ts.metric(t, "rewind_origin_frames_in_total") {
		t.Errorf("good sink missed frames: %v", g.frames)
	}
}

// rtmpPublisher is a minimal go-rtmp client publisher, faster to start than
// ffmpeg for tests about ordering.
type rtmpPublisher struct {
	cc *rtmp.ClientConn
	st *rtmp.Stream
}

func dialPublisher(t *testing.T, addr, app, name string) *rtmpPublisher {
	t.Helper()
	cc, err := rtmp.Dial("rtmp", addr, &rtmp.ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	if err := cc.Connect(&message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{App: app}}); err != nil {
		t.Fatal(err)
	}
	st, err := cc.CreateStream(nil, 128)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Publish(&message.NetStreamPublish{PublishingName: name, PublishingType: "live"}); err != nil {
		t.Fatal(err)
	}
	return &rtmpPublisher{cc: cc, st: st}
}

func (p *rtmpPublisher) video(ts uint32) error {
	return p.st.Write(6, ts, &message.VideoMessage{Payload: bytes.NewReader([]byte{0x27, 1, 0, 0, 0, 0xaa})})
}

// TestReplaceChain has publishers replace each other in quick succession
// while sinks are slow to close: runs of the stream never overlap, and the
// last publisher ends up live.
func TestReplaceChain(t *testing.T) {
	t.Parallel()
	sink := newTestSink("rec")
	sink.closeDelay = 200 * time.Millisecond
	ts := startServer(t, Config{Takeover: TakeoverReplace}, sink)

	var pubs []*rtmpPublisher
	for i := range 4 {
		pubs = append(pubs, dialPublisher(t, ts.addr, "live", "cam"))
		if i == 0 {
			waitFor(t, 5*time.Second, "first run open", func() bool { return len(sink.runsFor("live", "cam")) == 1 })
		}
	}
	// The publishes race to the server, so the winner is whichever came
	// last there: every other publisher is disconnected.
	var last *rtmpPublisher
	waitFor(t, 5*time.Second, "all but one publisher disconnected", func() bool {
		var alive []*rtmpPublisher
		for _, p := range pubs {
			if p.cc.LastError() == nil {
				alive = append(alive, p)
			}
		}
		if len(alive) == 1 {
			last = alive[0]
		}
		return len(alive) == 1
	})
	waitFor(t, 5*time.Second, "last publisher live with frames", func() bool {
		_ = last.video(0)
		l := ts.srv.Live()
		return len(l) == 1 && l[0].FramesIn > 0
	})
	time.Sleep(100 * time.Millisecond) // nobody else gets disconnected late
	if err := last.cc.LastError(); err != nil {
		t.Errorf("last publisher disconnected: %v", err)
	}
	runs, _ := sink.snapshot()
	if len(runs) < 2 {
		t.Fatalf("runs = %d, want at least the first and the last", len(runs))
	}
	for i, r := range runs[:len(runs)-1] {
		if !r.closed {
			t.Errorf("run %d (%s) still open", i, r.info.Run)
		}
	}
	if live := ts.srv.Live(); live[0].Run != runs[len(runs)-1].info.Run {
		t.Errorf("live run %s is not the last opened %s", live[0].Run, runs[len(runs)-1].info.Run)
	}
}
