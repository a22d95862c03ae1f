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

	"github.com/sirupsen/logrus"
	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

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

// connectRecorder is an RTMP server handler that keeps the connect command
// it was sent.
type connectRecorder struct {
	rtmp.DefaultHandler
	got chan message.NetConnectionConnectCommand
}

func (h *connectRecorder) OnConnect(_ uint32, cmd *message.NetConnectionConnect) error {
	h.got <- cmd.Command
	return nil
}

// The connect carries tcUrl (rtmp://host:port/app), as an encoder's does:
// MediaMTX refuses a connect without it.
func TestPublishSendsTcURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &connectRecorder{got: make(chan message.NetConnectionConnectCommand, 1)}
	quiet := logrus.New()
	quiet.Out = io.Discard
	srv := rtmp.NewServer(&rtmp.ServerConfig{
		OnConnect: func(c net.Conn) (io.ReadWriteCloser, *rtmp.ConnConfig) {
			return c, &rtmp.ConnConfig{Handler: h, Logger: quiet}
		},
	})
	go srv.Serve(ln)
	defer srv.Close()

	// One header and two frames 40 ms apart: the publish is short.
	tags := []flvfile.Tag{
		{Type: 9, Body: []byte{0x17, 0, 0, 0, 0}},
		{Type: 9, Timestamp: 0, Body: []byte{0x17, 1, 0, 0, 0, 1}},
		{Type: 9, Timestamp: 40, Body: []byte{0x27, 1, 0, 0, 0, 2}},
	}
	addr := ln.Addr().String()
	if _, err := Publish(context.Background(), addr, "bench", "s0", tags, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	select {
	case cmd := <-h.got:
		if want := "rtmp://" + addr + "/bench"; cmd.TCURL != want {
			t.Errorf("tcUrl %q, want %q", cmd.TCURL, want)
		}
		if cmd.App != "bench" {
			t.Errorf("app %q, want bench", cmd.App)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connect received")
	}
}
