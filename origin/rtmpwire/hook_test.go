package rtmpwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// clientBytes is a client's handshake followed by msgs.
func clientBytes(t *testing.T, msgs ...[]byte) []byte {
	t.Helper()
	c1, _ := testC1(t, 0)
	b := append([]byte{3}, c1...)
	b = append(b, make([]byte, HandshakeSize)...) // C2
	for _, m := range msgs {
		b = append(b, m...)
	}
	return b
}

// serve reads c as go-rtmp would until it fails, and returns what go-rtmp
// got past the synthetic handshake.
func serve(t *testing.T, c *Conn) ([]normalized, error) {
	t.Helper()
	hs := make([]byte, 1+2*HandshakeSize)
	if _, err := io.ReadFull(c, hs); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, goRTMPHandshakeWrites)); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(c)
	return parseNormalized(t, rest), err
}

func TestMediaHookTakesFrames(t *testing.T) {
	audio, video, other := pattern(300, 1), pattern(9000, 2), pattern(500, 3)
	raw := &fakeRaw{in: bytes.NewReader(clientBytes(t,
		chunked(4, 10, TypeAudio, 1, audio, 128),
		chunked(6, 20, TypeVideo, 1, video, 128),
		chunked(6, 30, TypeVideo, 2, other, 128), // another message stream: declined
		chunked(3, 0, TypeCommandAMF0, 0, command(amfStr("FCUnpublish"), amfNum(6), []byte{0x05}), 128),
	))}
	c := NewConn(raw, roomy)
	var took []Message
	c.SetMediaHook(func(m Message) (bool, error) {
		if m.StreamID != 1 {
			return false, nil
		}
		took = append(took, m)
		return true, nil
	})
	got, _ := serve(t, c)
	if len(took) != 2 {
		t.Fatalf("hook took %d messages, want 2", len(took))
	}
	if took[0].TypeID != TypeAudio || took[0].Timestamp != 10 || !bytes.Equal(took[0].Payload, audio) {
		t.Errorf("audio taken as type %d ts %d, %d bytes", took[0].TypeID, took[0].Timestamp, len(took[0].Payload))
	}
	if took[1].TypeID != TypeVideo || took[1].Timestamp != 20 || !bytes.Equal(took[1].Payload, video) {
		t.Errorf("video taken as type %d ts %d, %d bytes", took[1].TypeID, took[1].Timestamp, len(took[1].Payload))
	}
	// go-rtmp gets the SetChunkSize, the declined frame and the command,
	// in order.
	if len(got) != 3 || got[0].typ != TypeSetChunkSize || got[1].typ != TypeVideo || got[1].sid != 2 ||
		!bytes.Equal(got[1].body, other) || got[2].typ != TypeCommandAMF0 {
		t.Fatalf("go-rtmp got %+v", got)
	}
	// A taken payload is the hook's: the reader must not reuse it.
	before := bytes.Clone(took[1].Payload)
	if !bytes.Equal(before, video) {
		t.Fatal("taken payload changed")
	}
}

func TestMediaHookErrorEndsReading(t *testing.T) {
	raw := &fakeRaw{in: bytes.NewReader(clientBytes(t,
		chunked(6, 0, TypeVideo, 1, pattern(100, 1), 128),
		chunked(6, 40, TypeVideo, 1, pattern(100, 2), 128),
	))}
	c := NewConn(raw, roomy)
	bad := errors.New("unsupported video")
	calls := 0
	c.SetMediaHook(func(Message) (bool, error) { calls++; return true, bad })
	_, err := serve(t, c)
	if !errors.Is(err, bad) || calls != 1 {
		t.Fatalf("read ended with %v after %d calls, want the hook's error after 1", err, calls)
	}
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, bad) {
		t.Errorf("next read: %v, want the same error", err)
	}
}

func TestAcknowledgements(t *testing.T) {
	win := make([]byte, 4)
	binary.BigEndian.PutUint32(win, 10000)
	msgs := [][]byte{chunked(2, 0, TypeWindowAckSize, 0, win, 128)}
	for i := range 10 {
		msgs = append(msgs, chunked(6, uint32(i*40), TypeVideo, 1, pattern(2000, byte(i)), 128))
	}
	data := clientBytes(t, msgs...)
	// As a socket does, a few kB per read.
	raw := &fakeRaw{in: &pieces{r: bytes.NewReader(data), n: 1500}}
	c := NewConn(raw, roomy)
	var seqs []uint32
	c.SetAcker(func(seq uint32) error { seqs = append(seqs, seq); return nil })
	c.SetMediaHook(func(Message) (bool, error) { return true, nil })
	got, _ := serve(t, c)
	for _, m := range got {
		if m.typ == TypeWindowAckSize {
			t.Error("go-rtmp got the window size: it would acknowledge its own count too")
		}
	}
	// ~20 kB after the window size, acknowledged every 5,000 bytes: each
	// sequence number is the bytes received so far, increasing, at least
	// half a window apart, the last within half a window of the total.
	if len(seqs) < 3 {
		t.Fatalf("acknowledgements %v for %d bytes with a 10,000-byte window", seqs, len(data))
	}
	for i, s := range seqs {
		if s > uint32(len(data)) || (i > 0 && s-seqs[i-1] < 5000) {
			t.Fatalf("acknowledgements %v for %d bytes", seqs, len(data))
		}
	}
	if last := seqs[len(seqs)-1]; uint32(len(data))-last > 5000+1500 {
		t.Errorf("last acknowledgement %d of %d bytes", last, len(data))
	}
}

func TestAcknowledgementWindowMalformed(t *testing.T) {
	raw := &fakeRaw{in: bytes.NewReader(clientBytes(t, chunked(2, 0, TypeWindowAckSize, 0, []byte{1, 2}, 128)))}
	c := NewConn(raw, roomy)
	_, err := serve(t, c)
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != Malformed {
		t.Fatalf("short window size: %v, want a malformed error", err)
	}
}

// pieces reads at most n bytes at a time.
type pieces struct {
	r io.Reader
	n int
}

func (p *pieces) Read(b []byte) (int, error) { return p.r.Read(b[:min(len(b), p.n)]) }
