package origin

import (
	"bytes"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

// TestBadInput runs a good publisher while other clients send garbage, an
// oversized message and bad stream names: each bad connection is dropped
// and the good publish is not disturbed.
func TestBadInput(t *testing.T) {
	t.Parallel()
	sink := newTestSink("rec")
	ts := startServer(t, Config{MaxMessageSize: 64 << 10, ReadTimeout: 3 * time.Second}, sink)

	good := ffmpeg(t, ts.url("live/good"), 3)
	waitFor(t, 10*time.Second, "good publisher live", func() bool {
		l := ts.srv.Live()
		return len(l) == 1 && l[0].FramesIn > 5
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("garbage before handshake", func(t *testing.T) {
		c := dial()
		junk := make([]byte, 8<<10)
		for i := range junk {
			junk[i] = byte(rand.IntN(256))
		}
		_, _ = c.Write(junk)
		// The random "C2" does not echo S1: dropped at once.
		if d := expectDropped(t, c, 2*time.Second); d > time.Second {
			t.Errorf("dropped after %s", d)
		}
	})

	t.Run("garbage after handshake", func(t *testing.T) {
		c := dial()
		rtmpHandshake(t, c)
		// fmt 3 on a chunk stream never seen: no header to continue from.
		if _, err := c.Write([]byte{0xc5, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01}); err != nil {
			t.Fatal(err)
		}
		if d := expectDropped(t, c, 2*time.Second); d > time.Second {
			t.Errorf("dropped after %s", d)
		}
	})

	t.Run("unknown message type after handshake", func(t *testing.T) {
		c := dial()
		rtmpHandshake(t, c)
		// fmt 0, csid 3, ts 0, length 4, type 0x7f, stream 0.
		msg := []byte{0x03, 0, 0, 0, 0, 0, 4, 0x7f, 0, 0, 0, 0, 1, 2, 3, 4}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		expectDropped(t, c, 2*time.Second)
	})

	t.Run("oversized message", func(t *testing.T) {
		cc, err := rtmp.Dial("rtmp", ts.addr, &rtmp.ConnConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		if err := cc.Connect(&message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{App: "live"}}); err != nil {
			t.Fatal(err)
		}
		st, err := cc.CreateStream(nil, 128)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Publish(&message.NetStreamPublish{PublishingName: "big", PublishingType: "live"}); err != nil {
			t.Fatal(err)
		}
		_ = st.Write(6, 0, &message.VideoMessage{Payload: bytes.NewReader(make([]byte, 100<<10))})
		waitFor(t, 5*time.Second, "oversized publisher dropped", func() bool {
			r := sink.runsFor("live", "big")
			return len(r) == 1 && r[0].closed && ts.metric(t, "rewind_origin_rejected_total", "reason", "oversize") == 1
		})
		if r := sink.runsFor("live", "big")[0]; r.frames[media.FrameVideo] != 0 {
			t.Errorf("oversized frame reached the sink: %v", r.frames)
		}
	})

	t.Run("bad names", func(t *testing.T) {
		for _, path := range []string{"live/bad.name", "live/../x", "li%20ve/cam"} {
			if err := ffmpeg(t, ts.url(path), 1).wait(t); err == nil {
				t.Errorf("publish to %q accepted", path)
			}
		}
		if got := ts.metric(t, "rewind_origin_auth_denied_total", "reason", "bad_name"); got != 3 {
			t.Errorf("auth_denied_total{bad_name} = %v, want 3", got)
		}
	})

	if err := good.wait(t); err != nil {
		t.Fatalf("good publisher: %v", err)
	}
	waitFor(t, 5*time.Second, "good run closed", func() bool {
		r := sink.runsFor("live", "good")
		return len(r) == 1 && r[0].closed
	})
	runs, events := sink.snapshot()
	if len(runs) != 2 { // good and big
		t.Errorf("runs = %d, want 2 (good, big)", len(runs))
	}
	g := sink.runsFor("live", "good")[0]
	if g.frames[media.FrameVideo] < 60 || g.frames[media.FrameAudio] < 100 {
		t.Errorf("good publisher frames = %v", g.frames)
	}
	for _, e := range events {
		if e.kind == "close" && e.run == g.info.Run && e.at.Before(good.start.Add(2500*time.Millisecond)) {
			t.Errorf("good run closed early, %s after ffmpeg start", e.at.Sub(good.start))
		}
	}
	if got := ts.metric(t, "rewind_origin_rejected_total", "reason", "bad_message"); got < 2 {
		t.Errorf("rejected_total{bad_message} = %v, want >= 2", got)
	}
	waitFor(t, 5*time.Second, "all connections gone", func() bool {
		return ts.metric(t, "rewind_origin_connections") == 0
	})
}
