package rtmpwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary chunk bytes to the Reader and, behind a valid
// handshake, to a Conn: neither may panic or pass a limit, errors are
// protocol errors or the end of input, and what go-rtmp would read is
// always whole messages in fmt 0 chunks.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		l := Limits{MaxMessageSize: 64 << 10, MaxBuffered: 256 << 10}
		rd := NewReader(bufio.NewReader(bytes.NewReader(data)), l)
		for {
			m, err := rd.ReadMessage()
			if rd.Buffered() > l.MaxBuffered {
				t.Fatalf("buffered %d > %d", rd.Buffered(), l.MaxBuffered)
			}
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("error is neither a protocol error nor the end: %v", err)
				}
				break
			}
			if len(m.Payload) > l.MaxMessageSize {
				t.Fatalf("message of %d bytes passed the limit", len(m.Payload))
			}
			if m.TypeID == TypeSetChunkSize || m.TypeID == TypeAbort {
				t.Fatalf("control message type %d returned", m.TypeID)
			}
		}

		in := append([]byte{3}, make([]byte, 2*HandshakeSize)...)
		c := NewConn(&fakeRaw{in: bytes.NewReader(append(in, data...))}, l)
		out, _ := io.ReadAll(c)
		if len(out) < 1+2*HandshakeSize {
			t.Fatalf("go-rtmp got %d bytes, short of the synthetic handshake", len(out))
		}
		parseNormalized(t, out[1+2*HandshakeSize:])
	})
}

// FuzzHandshake answers arbitrary C0/C1: no panic, and a C1 taken for a
// digest handshake gets an S1 and S2 that verify.
func FuzzHandshake(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		c1 := make([]byte, HandshakeSize)
		copy(c1, data[1:])
		out, hs, err := Respond(data[0], c1, 0)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || data[0] == 3 {
				t.Fatalf("Respond: %v", err)
			}
			return
		}
		if len(out) != 1+2*HandshakeSize {
			t.Fatalf("answer of %d bytes", len(out))
		}
		s1, s2 := out[1:1+HandshakeSize], out[1+HandshakeSize:]
		if !hs.Digest {
			if !bytes.Equal(s2, c1) {
				t.Fatal("simple handshake: S2 does not echo C1")
			}
			return
		}
		off := testOffset(c1, hs.Scheme)
		if want := testHMAC(testFPKey[:30], c1[:off], c1[off+32:]); !bytes.Equal(want, c1[off:off+32]) {
			t.Fatal("digest handshake on a C1 whose digest does not verify")
		}
		soff := testOffset(s1, hs.Scheme)
		if want := testHMAC(testFMSKey[:36], s1[:soff], s1[soff+32:]); !bytes.Equal(want, s1[soff:soff+32]) {
			t.Fatal("S1 digest does not verify")
		}
		key := testHMAC(testFMSKey, c1[off:off+32])
		if want := testHMAC(key, s2[:1504]); !bytes.Equal(want, s2[1504:]) {
			t.Fatal("S2 signature does not verify")
		}
	})
}
