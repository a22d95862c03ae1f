package origin

import "github.com/rewind-vod/rewind/media"

// Sink receives the frames of every publish on the node. The origin calls
// Open when a publish starts; the returned SinkStream gets every frame in
// order from a goroutine of the origin's own (one per sink and stream, with a
// bounded queue), so a slow sink never blocks the publisher.
//
// Open is called on the publisher's connection goroutine before the publish
// is acknowledged; an error refuses the publish. For one stream, the Close of
// every SinkStream of a run happens before the Open of the next run, so a
// sink never has two writers for one stream. A sink may also have a
// Name() string method: the name labels its metrics and Live() entries
// (default: its Go type).
type Sink interface {
	Open(info media.StreamInfo) (SinkStream, error)
}

// SinkStream is one publish seen by one sink.
type SinkStream interface {
	// WriteFrame handles one frame. It must not keep a reference to the
	// payload past the call unless it treats it as read-only.
	WriteFrame(f media.Frame)
	// Close is called once, after the last frame, when the publish ends (for
	// any reason). It should flush what it holds.
	Close()
}
