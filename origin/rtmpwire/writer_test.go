package rtmpwire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// What AppendMessage writes reads back as the same messages, whatever
// the chunk size, chunk stream id form, message size (one chunk, several,
// an exact multiple) and timestamp (extended ones repeat in every chunk).
func TestAppendMessageRoundTrip(t *testing.T) {
	payload := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7 + n)
		}
		return p
	}
	for _, chunk := range []int{128, 4096, OutChunkSize} {
		var msgs []Message
		for _, csid := range []uint32{ChunkStreamStatus, ChunkStreamVideo, 63, 64, 319, 320, 65599} {
			for _, ts := range []uint32{0, 40, extendedTS - 1, extendedTS, extendedTS + 1, 0xFFFFFFFF} {
				for _, n := range []int{1, chunk - 1, chunk, chunk + 1, 3*chunk + 5} {
					msgs = append(msgs, Message{ChunkStreamID: csid, Timestamp: ts, TypeID: TypeVideo, StreamID: 1, Payload: payload(n)})
				}
			}
		}
		// The peer learns the chunk size first, as from go-rtmp's OnServe.
		var sz [4]byte
		binary.BigEndian.PutUint32(sz[:], uint32(chunk))
		b := AppendMessage(nil, Message{ChunkStreamID: 2, TypeID: TypeSetChunkSize, Payload: sz[:]}, defaultChunkSize)
		for _, m := range msgs {
			before := len(b)
			b = AppendMessage(b, m, chunk)
			if got, want := len(b)-before, MessageSize(m, chunk); got != want {
				t.Fatalf("chunk %d, csid %d, ts %d, %d bytes: appended %d, MessageSize %d", chunk, m.ChunkStreamID, m.Timestamp, len(m.Payload), got, want)
			}
		}
		rd := NewReader(bufio.NewReader(bytes.NewReader(b)), Limits{MaxMessageSize: 1 << 20, MaxBuffered: 4 << 20})
		for i, want := range msgs {
			got, err := rd.ReadMessage()
			if err != nil {
				t.Fatalf("chunk %d: message %d: %v", chunk, i, err)
			}
			if got.ChunkStreamID != want.ChunkStreamID || got.Timestamp != want.Timestamp || got.TypeID != want.TypeID ||
				got.StreamID != want.StreamID || !bytes.Equal(got.Payload, want.Payload) {
				t.Fatalf("chunk %d: message %d: got csid %d ts %d type %d sid %d %d bytes, want csid %d ts %d %d bytes",
					chunk, i, got.ChunkStreamID, got.Timestamp, got.TypeID, got.StreamID, len(got.Payload),
					want.ChunkStreamID, want.Timestamp, len(want.Payload))
			}
		}
		if _, err := rd.ReadMessage(); !errors.Is(err, io.EOF) {
			t.Errorf("chunk %d: after the last message: %v, want EOF", chunk, err)
		}
	}
}

// The continuation chunks of a message with an extended timestamp carry
// it again (FFmpeg's and nginx-rtmp's reading expects them), and a
// message always starts with a full header.
func TestAppendMessageLayout(t *testing.T) {
	m := Message{ChunkStreamID: ChunkStreamAudio, Timestamp: 0x01020304, TypeID: TypeAudio, StreamID: 1, Payload: bytes.Repeat([]byte{0xAB}, 10)}
	got := AppendMessage(nil, m, 4)
	want := []byte{
		0x07, 0xFF, 0xFF, 0xFF, 0, 0, 10, TypeAudio, 1, 0, 0, 0, 1, 2, 3, 4, 0xAB, 0xAB, 0xAB, 0xAB,
		0xC7, 1, 2, 3, 4, 0xAB, 0xAB, 0xAB, 0xAB,
		0xC7, 1, 2, 3, 4, 0xAB, 0xAB,
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got  % x\nwant % x", got, want)
	}
	m.Timestamp = 40
	got = AppendMessage(nil, m, 8)
	want = []byte{
		0x07, 0, 0, 40, 0, 0, 10, TypeAudio, 1, 0, 0, 0, 0xAB, 0xAB, 0xAB, 0xAB, 0xAB, 0xAB, 0xAB, 0xAB,
		0xC7, 0xAB, 0xAB,
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got  % x\nwant % x", got, want)
	}
}
