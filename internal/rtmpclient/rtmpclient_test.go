package rtmpclient

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// appendMessage chunks one RTMP message at the default 128-byte chunk size.
func appendMessage(b []byte, cs, typ byte, payload []byte) []byte {
	n := len(payload)
	b = append(b, cs, 0, 0, 0, byte(n>>16), byte(n>>8), byte(n), typ, 0, 0, 0, 0)
	for i := 0; i < n; i += 128 {
		if i > 0 {
			b = append(b, 0xC0|cs)
		}
		b = append(b, payload[i:min(i+128, n)]...)
	}
	return b
}

// TestRTMPAcknowledges: once the server has set a window, the player
// acknowledges on chunk stream 2 with the bytes read so far, as a server
// that throttles silent players expects; media messages come through
// whole.
func TestRTMPAcknowledges(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const window = 1000
	video := make([]byte, 3000)
	video[0] = 0x17
	var wire []byte
	wire = appendMessage(wire, 2, TypeWinAckSize, binary.BigEndian.AppendUint32(nil, window))
	wire = appendMessage(wire, 6, TypeVideo, video)
	type ack struct {
		b   []byte
		err error
	}
	got := make(chan ack, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- ack{err: err}
			return
		}
		defer c.Close()
		if _, err := c.Write(wire); err != nil {
			got <- ack{err: err}
			return
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 16)
		_, err = io.ReadFull(c, b)
		got <- ack{b, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := New(c)
	for _, want := range []struct {
		typ  byte
		size int
	}{{TypeWinAckSize, 4}, {TypeVideo, len(video)}} {
		m, err := p.Next()
		if err != nil {
			t.Fatal(err)
		}
		if m.TypeID != want.typ || len(m.Payload) != want.size {
			t.Fatalf("message type %d size %d, want type %d size %d", m.TypeID, len(m.Payload), want.typ, want.size)
		}
	}
	a := <-got
	if a.err != nil {
		t.Fatalf("no acknowledgement: %v", a.err)
	}
	if a.b[0] != 2 || a.b[7] != TypeAck || a.b[6] != 4 {
		t.Fatalf("acknowledgement header % x", a.b[:12])
	}
	if seq := binary.BigEndian.Uint32(a.b[12:]); seq < window || int(seq) > len(wire) {
		t.Errorf("acknowledged %d bytes, want between the window %d and the %d sent", seq, window, len(wire))
	}
}
