package main

import (
	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/origin"
	"github.com/rewind-vod/rewind/recorder"
)

// recorderSink plugs the recorder into the origin: the two components
// meet only here, so neither imports the other.
type recorderSink struct{ r *recorder.Recorder }

// Name labels the recorder in the origin's metrics and /v1/live.
func (s recorderSink) Name() string { return "recorder" }

func (s recorderSink) Open(info origin.StreamInfo) (origin.SinkStream, error) {
	st, err := s.r.Open(recorder.StreamInfo{
		Stream:    catalog.Stream{App: info.App, Name: info.Name},
		Run:       info.Run,
		StartedAt: info.StartedAt,
	})
	if err != nil {
		return nil, err
	}
	return recorderStream{st}, nil
}

type recorderStream struct{ s *recorder.Stream }

func (r recorderStream) WriteFrame(f origin.Frame) {
	r.s.WriteFrame(recorder.Frame{Type: recorder.FrameType(f.Type), Timestamp: f.Timestamp, Payload: f.Payload})
}

func (r recorderStream) Close() { r.s.Close() }
