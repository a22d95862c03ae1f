package origin

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp/message"
)

// rawChunk frames payload as one fmt 0 chunk (the client's chunk size is
// raised first, so every message here fits in one).
func rawChunk(csid byte, typeID byte, streamID uint32, payload []byte) []byte {
	b := []byte{csid, 0, 0, 0, byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typeID}
	b = binary.LittleEndian.AppendUint32(b, streamID)
	return append(b, payload...)
}

func amf0(t *testing.T, values ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := message.NewAMFEncoder(&b, message.EncodingTypeAMF0)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// A play connection gets media from the player's goroutine while go-rtmp
// writes on the connection's own goroutine: here an acknowledgement for
// every message the client sends (it asked for a 2-byte window). Run with
// -race: every write on the connection must take the same turn.
func TestPlayWritesWhileAnsweringClient(t *testing.T) {
	players := NewPlayers(PlayersConfig{}, testLogger(t), nil)
	ts := startServer(t, Config{}, players)
	pub := ffmpeg(t, ts.url("live/cam"), 8)
	waitFor(t, 5*time.Second, "live", func() bool { return len(ts.srv.Live()) == 1 })

	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rtmpHandshake(t, c)
	var got countingWriter
	go io.Copy(&got, c)
	counted := got.n.Load
	var size [4]byte
	binary.BigEndian.PutUint32(size[:], 65536)
	var win [4]byte
	binary.BigEndian.PutUint32(win[:], 2)
	for _, m := range [][]byte{
		rawChunk(2, 1, 0, size[:]), // SetChunkSize
		rawChunk(2, 5, 0, win[:]),  // WinAckSize: ack after every message
		rawChunk(3, 20, 0, amf0(t, "connect", 1.0, map[string]any{"app": "live", "tcUrl": "rtmp://" + ts.addr + "/live"})),
		rawChunk(3, 20, 0, amf0(t, "createStream", 2.0, nil)),
		rawChunk(8, 20, 1, amf0(t, "play", 0.0, nil, "cam")),
	} {
		if _, err := c.Write(m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Acknowledgements from the client, each answered by one from the
	// server, while the player goroutine sends the live stream.
	var seq [4]byte
	deadline := time.Now().Add(3 * time.Second)
	sent := 0
	for time.Now().Before(deadline) {
		binary.BigEndian.PutUint32(seq[:], uint32(sent))
		if _, err := c.Write(rawChunk(2, 3, 0, seq[:])); err != nil {
			t.Fatalf("after %d acks: %v", sent, err)
		}
		sent++
		time.Sleep(2 * time.Millisecond)
	}
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	time.Sleep(600 * time.Millisecond)
	if n := ts.srv.Live()[0].Players; n != 1 {
		t.Errorf("%d players, want the raw client playing", n)
	}
	c.Close()
	if err := pub.wait(t); err != nil {
		t.Fatal(err)
	}
	if n := counted(); n < 100<<10 {
		t.Errorf("the player got %d bytes in 3 s of live play", n)
	}
}

type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}
