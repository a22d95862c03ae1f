package origin

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/internal/ertmppub"
	"github.com/rewind-vod/rewind/media"
)

// logBuffer keeps what the server logs, for the test to look for lines.
type logBuffer struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *logBuffer) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), s)
}

// TestBadEnhancedVideo: publishers of an enhanced RTMP tag with a
// truncated header, of an unknown FourCC and of a legacy codec other than
// H.264 are each dropped with a log line that says why, while an H.264
// (ffmpeg) and an H.265 (enhanced RTMP) publisher go on undisturbed; the
// HEVC one shows in Live() with its codec and size.
func TestBadEnhancedVideo(t *testing.T) {
	t.Parallel()
	sink := newTestSink("rec")
	logs := &logBuffer{t: t}
	reg := prometheus.NewRegistry()
	srv, err := New(Config{Node: "test-node", ReadTimeout: 5 * time.Second}, []Sink{sink},
		slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	ts := &testServer{srv: srv, reg: reg, addr: ln.Addr().String()}

	frames, err := ertmppub.Encode(context.Background(), ertmppub.Source{Seconds: 4, Size: "320x240"})
	if err != nil {
		t.Fatal(err)
	}
	good := ffmpeg(t, ts.url("live/good"), 4)
	hevcDone := make(chan error, 1)
	go func() { hevcDone <- ertmppub.Publish(context.Background(), ts.addr, "live", "hevc", frames, true) }()
	waitFor(t, 10*time.Second, "both good publishers live", func() bool {
		n := 0
		for _, l := range srv.Live() {
			if l.FramesIn > 5 {
				n++
			}
		}
		return n == 2
	})
	for _, l := range srv.Live() {
		if l.Name == "hevc" && (!strings.HasPrefix(l.VideoCodec, "hvc1.") || l.Width != 320 || l.Height != 240) {
			t.Errorf("live hevc stream: codec %q, %dx%d", l.VideoCodec, l.Width, l.Height)
		}
	}

	// The enhanced connect's fourCcList is accepted and logged.
	if !logs.has("four_cc_list=[hvc1]") {
		t.Error("no log of the HEVC publisher's fourCcList")
	}
	seq := frames[1] // onMetaData, then the SequenceStart
	if !media.IsVideoSeqHeader(seq.Payload) {
		t.Fatalf("frame 1 is not the sequence start: % x", seq.Payload[:8])
	}
	for i, c := range []struct {
		name, payload, log string
	}{
		{"truncated", "\x91hv", "truncated header"},
		{"av01", "\x90av01\x00\x01", `FourCC \"av01\" is not supported`},
		{"sorenson", "\x22\x00\x00\x00", "codec id 2 is not supported"},
	} {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		pub, err := ertmppub.Dial(dctx, ts.addr, "live", "bad"+c.name, []string{"hvc1", "av01"})
		dcancel()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := pub.WriteFrame(seq); err != nil {
			t.Fatal(err)
		}
		if err := pub.WriteFrame(media.Frame{Type: media.FrameVideo, Timestamp: 40, Payload: []byte(c.payload)}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-pub.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: connection not dropped", c.name)
		}
		// The onStatus error is queued before the connection is dropped;
		// go-rtmp may close before sending it, so it is not asserted.
		t.Logf("%s: publisher saw %v", c.name, pub.Err())
		pub.Close()
		if !logs.has("unsupported video, dropping connection") || !logs.has(c.log) {
			t.Errorf("%s: no log line with %q", c.name, c.log)
		}
		waitFor(t, 5*time.Second, c.name+" run closed", func() bool {
			r := sink.runsFor("live", "bad"+c.name)
			return len(r) == 1 && r[0].closed
		})
		if r := sink.runsFor("live", "bad"+c.name)[0]; r.frames[media.FrameVideo] != 1 {
			t.Errorf("%s: %d video frames reached the sink, want the sequence start only", c.name, r.frames[media.FrameVideo])
		}
		if got := ts.metric(t, "rewind_origin_rejected_total", "reason", "bad_message"); got != float64(i+1) {
			t.Errorf("%s: rejected_total{bad_message} = %v", c.name, got)
		}
	}

	if err := good.wait(t); err != nil {
		t.Fatalf("good publisher: %v", err)
	}
	if err := <-hevcDone; err != nil {
		t.Fatalf("hevc publisher: %v", err)
	}
	waitFor(t, 5*time.Second, "good runs closed", func() bool {
		a, b := sink.runsFor("live", "good"), sink.runsFor("live", "hevc")
		return len(a) == 1 && a[0].closed && len(b) == 1 && b[0].closed
	})
	var published int
	for _, f := range frames {
		if f.Type == media.FrameVideo {
			published++
		}
	}
	if g := sink.runsFor("live", "good")[0]; g.frames[media.FrameVideo] < 60 {
		t.Errorf("h.264 publisher frames = %v", g.frames)
	}
	if h := sink.runsFor("live", "hevc")[0]; h.frames[media.FrameVideo] != published {
		t.Errorf("hevc publisher: %d video frames reached the sink, sent %d", h.frames[media.FrameVideo], published)
	}
}
