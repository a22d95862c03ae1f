package origin

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
)

type discardSink struct{}

func (discardSink) Open(media.StreamInfo) (SinkStream, error) { return discardStream{}, nil }

type discardStream struct{}

func (discardStream) WriteFrame(media.Frame) {}
func (discardStream) Close()                 {}

// What the recording control adds per frame on the recorder's sink
// goroutine: compare "direct" with "control" in the same run.
func BenchmarkRecControlWriteFrame(b *testing.B) {
	frames := []media.Frame{
		{Type: media.FrameVideo, Payload: append([]byte{0x17, 0x01, 0, 0, 0}, make([]byte, 4000)...)},
		{Type: media.FrameVideo, Payload: append([]byte{0x27, 0x01, 0, 0, 0}, make([]byte, 1500)...)},
		{Type: media.FrameAudio, Payload: append([]byte{0xaf, 0x01}, make([]byte, 200)...)},
	}
	info := media.StreamInfo{App: "live", Name: "cam", Run: "20261202T000000.000Z-n-abcd", Node: "n", StartedAt: time.Now()}
	run := func(b *testing.B, s Sink) {
		ss, err := s.Open(info)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			f := frames[i%len(frames)]
			f.Timestamp = uint32(i)
			ss.WriteFrame(f)
		}
		ss.Close()
	}
	b.Run("direct", func(b *testing.B) { run(b, discardSink{}) })
	b.Run("control", func(b *testing.B) {
		run(b, newRecordControl(discardSink{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil))
	})
}
