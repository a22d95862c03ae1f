package main

import (
	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin"
	"github.com/rewind-vod/rewind/recorder"
)

// recorderSink plugs the recorder into the origin: the two components
// meet only here, on media's frame types, so neither imports the other.
type recorderSink struct{ r *recorder.Recorder }

// Name labels the recorder in the origin's metrics and /v1/live.
func (s recorderSink) Name() string { return "recorder" }

func (s recorderSink) Open(info media.StreamInfo) (origin.SinkStream, error) {
	st, err := s.r.Open(info)
	if err != nil {
		return nil, err
	}
	return st, nil // *recorder.Stream has WriteFrame and Close
}
