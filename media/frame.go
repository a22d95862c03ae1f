package media

import (
	"strconv"
	"time"
)

// FrameType tells what an RTMP media message carried.
type FrameType uint8

const (
	FrameAudio FrameType = 8  // FLV audio tag body
	FrameVideo FrameType = 9  // FLV video tag body
	FrameData  FrameType = 18 // AMF0 script data (onMetaData)
)

func (t FrameType) String() string {
	switch t {
	case FrameAudio:
		return "audio"
	case FrameVideo:
		return "video"
	case FrameData:
		return "data"
	}
	return "type" + strconv.Itoa(int(t))
}

// Frame is one RTMP media message as the publisher sent it: an FLV tag body
// and its 32-bit RTMP timestamp in milliseconds (wraps after ~49.7 days).
// Payload is owned by the frame and never modified after it is handed out,
// so every consumer (players, relays, the recorder) can share it.
type Frame struct {
	Type      FrameType
	Timestamp uint32
	Payload   []byte
}

// StreamInfo describes one publish (one run) to whoever consumes its
// frames.
type StreamInfo struct {
	App        string
	Name       string
	Run        string // run id, catalog.NewRunID
	Node       string
	StartedAt  time.Time
	ClientAddr string
}
