package loadgen

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin"
)

type countSink struct {
	mu     sync.Mutex
	frames map[media.FrameType]int
	closed chan struct{}
}

func (c *countSink) Open(media.StreamInfo) (origin.SinkStream, error) { return c, nil }
func (c *countSink) WriteFrame(f media.Frame) {
	c.mu.Lock()
	c.frames[f.Type]++
	c.mu.Unlock()
}
func (c *countSink) Close() { close(c.closed) }

// The load generator delivers every frame, in real time, looping the file.
func TestPublishRealTime(t *testing.T) {
	mediatest.Require(t)
	src := mediatest.WriteFLV(t, t.TempDir(), "src", mediatest.Source{Seconds: 2})
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := flvfile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	sink := &countSink{frames: map[media.FrameType]int{}, closed: make(chan struct{})}
	srv, err := origin.New(origin.Config{Node: "t"}, []origin.Sink{sink}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()

	start := time.Now()
	st, err := Publish(ctx, ln.Addr().String(), "live", "load", tags, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 2900*time.Millisecond {
		t.Errorf("3 s of media sent in %v: not real time", el)
	}
	// 3 s from a 2 s file: it looped.
	if st.VideoFrames < 70 || st.VideoFrames > 76 {
		t.Errorf("%d video frames for 3 s at 25 fps", st.VideoFrames)
	}
	select {
	case <-sink.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("publish did not end")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	// The sink also got the two sequence headers.
	if sink.frames[media.FrameVideo] != st.VideoFrames+1 || sink.frames[media.FrameAudio] != st.AudioFrames+1 {
		t.Errorf("sink got %v, sent video %d audio %d (+1 header each)", sink.frames, st.VideoFrames, st.AudioFrames)
	}
}
