package proxy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/rewind-vod/rewind/media"
)

// Message types the proxy writes or acts on.
const (
	typeSetChunkSize     = 1
	typeAck              = 3
	typeUserControl      = 4
	typeWindowAckSize    = 5
	typeSetPeerBandwidth = 6
	typeAudio            = 8
	typeVideo            = 9
	typeDataAMF3         = 15
	typeDataAMF0         = 18
)

const (
	// outChunkSize is the chunk size of everything the proxy sends a
	// client, announced in its answer to connect. Large enough that a
	// chunk header costs nothing, small enough for every client.
	outChunkSize = 4096
	// windowAckSize is what the proxy asks of a client in its answer to
	// connect (the size nginx-rtmp and go-rtmp use).
	windowAckSize = 2500000
	// extendedTimestamp marks a timestamp that does not fit 24 bits.
	extendedTimestamp = 0xFFFFFF
)

// Chunk streams of what the proxy sends, one per kind of message, so that
// a client's per-chunk-stream buffers stay few.
const (
	csidControl = 2
	csidCommand = 3
	csidAudio   = 4
	csidData    = 5
	csidVideo   = 6
)

func csidFor(typeID byte) uint32 {
	switch typeID {
	case typeSetChunkSize, 2, typeAck, typeUserControl, typeWindowAckSize, typeSetPeerBandwidth:
		return csidControl
	case typeAudio:
		return csidAudio
	case typeVideo:
		return csidVideo
	case typeDataAMF0, typeDataAMF3:
		return csidData
	}
	return csidCommand
}

// chunkWriter is the proxy's own RTMP encoder towards a client. Every
// message starts with a full (fmt 0) header, so no header state carries
// from one message to the next and messages from any source can follow
// each other; continuation chunks are fmt 3. Not safe for concurrent use.
type chunkWriter struct {
	w         *bufio.Writer
	chunkSize int
	written   int64 // bytes handed to w
	hdr       [16]byte
}

func newChunkWriter(w io.Writer, bufSize int) *chunkWriter {
	return &chunkWriter{w: bufio.NewWriterSize(w, bufSize), chunkSize: 128}
}

// writeMessage encodes one message. It only buffers; Flush sends.
func (cw *chunkWriter) writeMessage(typeID byte, timestamp, streamID uint32, payload []byte) error {
	if len(payload) > 0xFFFFFF {
		return fmt.Errorf("rtmp: message of %d bytes does not fit a chunk header", len(payload))
	}
	csid := csidFor(typeID)
	field := min(timestamp, extendedTimestamp)
	h := cw.hdr[:0]
	n := len(payload)
	h = append(h, byte(csid), byte(field>>16), byte(field>>8), byte(field),
		byte(n>>16), byte(n>>8), byte(n), typeID)
	h = binary.LittleEndian.AppendUint32(h, streamID)
	if field == extendedTimestamp {
		h = binary.BigEndian.AppendUint32(h, timestamp)
	}
	if err := cw.write(h); err != nil {
		return err
	}
	for off := 0; ; {
		end := min(off+cw.chunkSize, n)
		if err := cw.write(payload[off:end]); err != nil {
			return err
		}
		off = end
		if off >= n {
			return nil
		}
		// fmt 3 continuation; it repeats the extended timestamp, as FFmpeg
		// and nginx-rtmp expect.
		h = append(cw.hdr[:0], 0xC0|byte(csid))
		if field == extendedTimestamp {
			h = binary.BigEndian.AppendUint32(h, timestamp)
		}
		if err := cw.write(h); err != nil {
			return err
		}
	}
}

func (cw *chunkWriter) write(b []byte) error {
	n, err := cw.w.Write(b)
	cw.written += int64(n)
	if err != nil {
		return fmt.Errorf("rtmp: write to client: %w", err)
	}
	return nil
}

// setChunkSize announces size and chunks everything after it by size.
func (cw *chunkWriter) setChunkSize(size int) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(size))
	if err := cw.writeMessage(typeSetChunkSize, 0, 0, b[:]); err != nil {
		return err
	}
	cw.chunkSize = size
	return nil
}

// command writes an AMF0 command message on stream streamID.
func (cw *chunkWriter) command(streamID uint32, name string, tx float64, vals ...any) error {
	return cw.writeMessage(20, 0, streamID, media.AMF0Command(name, tx, vals...))
}

// status writes an onStatus of level "error" (or "status") on streamID.
func (cw *chunkWriter) status(streamID uint32, level, code, description string) error {
	return cw.command(streamID, "onStatus", 0, nil, []media.AMF0Prop{
		{Key: "level", Val: level}, {Key: "code", Val: code}, {Key: "description", Val: description},
	})
}

// Flush sends what is buffered.
func (cw *chunkWriter) Flush() error {
	if err := cw.w.Flush(); err != nil {
		return fmt.Errorf("rtmp: write to client: %w", err)
	}
	return nil
}

// Buffered is how many bytes wait for Flush.
func (cw *chunkWriter) Buffered() int { return cw.w.Buffered() }
