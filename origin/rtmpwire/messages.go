package rtmpwire

import (
	"bytes"

	"github.com/yutopp/go-rtmp/message"
)

// OutChunkSize is the RTMP chunk size of what a node sends, to players and
// to relay targets. go-rtmp flushes the socket after every chunk, so the
// default 128 bytes would cost a write per 128 bytes of video per peer.
const OutChunkSize = 64 << 10

// Chunk streams of what a node sends, one per message type, as most
// servers and encoders do.
const (
	ChunkStreamControl = 2 // protocol control and user control messages
	ChunkStreamStatus  = 5 // onStatus to a player
	ChunkStreamData    = 6 // metadata
	ChunkStreamAudio   = 7
	ChunkStreamVideo   = 8
)

// AudioMessage is an audio message carrying an FLV audio tag body.
func AudioMessage(p []byte) message.Message {
	return &message.AudioMessage{Payload: bytes.NewReader(p)}
}

// VideoMessage is a video message carrying an FLV video tag body.
func VideoMessage(p []byte) message.Message {
	return &message.VideoMessage{Payload: bytes.NewReader(p)}
}

// SetDataFrameMessage is metadata the way a publisher sends it:
// @setDataFrame followed by what an FLV script tag holds (p).
func SetDataFrameMessage(p []byte) message.Message {
	return &message.DataMessage{Name: "@setDataFrame", Encoding: message.EncodingTypeAMF0, Body: bytes.NewReader(p)}
}
