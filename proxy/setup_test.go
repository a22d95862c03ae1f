package proxy

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

var testLimits = setupLimits{MaxMessage: 64 << 10, MaxBuffered: 128 << 10, MaxRecorded: 256 << 10}

// negotiateBytes runs the pre-routing phase over in and returns what the
// proxy answered.
func negotiateBytes(t testing.TB, in []byte) (*setup, []decoded, error) {
	t.Helper()
	s, out, _, err := negotiateRaw(t, in)
	return s, out, err
}

func negotiateRaw(t testing.TB, in []byte) (*setup, []decoded, []byte, error) {
	t.Helper()
	var out bytes.Buffer
	cw := newChunkWriter(&out, 4096)
	s, err := negotiate(bytes.NewReader(in), cw, testLimits)
	_ = cw.Flush()
	return s, decodeAll(t, out.Bytes()), out.Bytes(), err
}

func TestNegotiatePublish(t *testing.T) {
	in := publishBytes(t, "live", "cam1?exp=123&sig=abc")
	s, out, raw, err := negotiateRaw(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != "publish" || s.App != "live" || s.Name != "cam1?exp=123&sig=abc" || s.StreamID != 1 {
		t.Errorf("setup = %+v", s)
	}
	// Every byte the client sent is kept for the replay, in order.
	if !bytes.Equal(s.Recorded, in) {
		t.Errorf("recorded %d bytes, the client sent %d; equal prefix: %v", len(s.Recorded), len(in), bytes.HasPrefix(in, s.Recorded))
	}
	// The proxy answered as a server: window, bandwidth, chunk size, the
	// connect result, the createStream result with stream id 1; and only
	// those (releaseStream and FCPublish are the node's to answer).
	var types []byte
	var results [][]any
	for _, d := range out {
		types = append(types, d.TypeID)
		if d.name() == "_result" {
			results = append(results, d.vals)
		}
	}
	// (The decoder applies the SetChunkSize itself: it is found in the
	// bytes, a fmt 0 chunk on chunk stream 2 announcing 4096.)
	if want := []byte{typeWindowAckSize, typeSetPeerBandwidth, 20, 20}; !bytes.Equal(types, want) {
		t.Fatalf("answer types %v, want %v", types, want)
	}
	if !bytes.Contains(raw, []byte{2, 0, 0, 0, 0, 0, 4, typeSetChunkSize, 0, 0, 0, 0, 0, 0, 0x10, 0}) {
		t.Errorf("no SetChunkSize 4096 in the answer")
	}
	if results[0][1] != 1.0 {
		t.Errorf("connect answered on transaction %v", results[0][1])
	}
	info, _ := results[0][3].(map[string]any)
	if info["code"] != "NetConnection.Connect.Success" {
		t.Errorf("connect result %v", results[0])
	}
	if results[1][1] != 4.0 || results[1][3] != 1.0 {
		t.Errorf("createStream result %v, want transaction 4 and stream 1", results[1])
	}
	if want := []owed{{Cmd: "connect", Tx: 1}, {Cmd: "createStream", Tx: 4, StreamID: 1}}; len(s.Owed) != 2 || s.Owed[0] != want[0] || s.Owed[1] != want[1] {
		t.Errorf("owed %+v, want %+v", s.Owed, want)
	}
}

func TestNegotiatePlayAMF3AndTrailingBytes(t *testing.T) {
	cb := newClientBytes()
	// An AMF3 connect (format byte, then AMF0) asking for object encoding 3.
	body := media.AMF0Command("connect", 1, []media.AMF0Prop{{Key: "app", Val: "app?token=x/"}, {Key: "objectEncoding", Val: 3.0}})
	cb.msg(t, typeCommandAMF3, 0, append([]byte{0}, body...))
	cb.cmd(t, 0, "createStream", 2, nil)
	cb.cmd(t, 0, "getStreamLength", 3, nil, "s1")
	cb.cmd(t, 1, "play", 4, nil, "s1", -2000.0)
	cb.msg(t, typeUserControl, 0, []byte{0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8}) // SetBufferLength after play
	in := cb.bytes(t)
	s, out, err := negotiateBytes(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != "play" || splitApp(s.App) != "app" || s.Name != "s1" {
		t.Errorf("setup = %+v", s)
	}
	// What the read-ahead took after the play is recorded too: the node
	// gets it and nothing is lost.
	if !bytes.Equal(s.Recorded, in) {
		t.Errorf("recorded %d of %d bytes", len(s.Recorded), len(in))
	}
	info, _ := valueAt(out[2].vals, 3).(map[string]any)
	if info["objectEncoding"] != 3.0 {
		t.Errorf("connect result for an AMF3 client: %v", out[2].vals)
	}
}

func TestNegotiateErrors(t *testing.T) {
	big := make([]byte, 70<<10)
	for _, c := range []struct {
		name   string
		in     func(t *testing.T) []byte
		reason string
	}{
		{"publish before connect", func(t *testing.T) []byte {
			return newClientBytes().cmd(t, 1, "publish", 1, nil, "x", "live").bytes(t)
		}, rejectProtocol},
		{"createStream before connect", func(t *testing.T) []byte {
			return newClientBytes().cmd(t, 0, "createStream", 1, nil).bytes(t)
		}, rejectProtocol},
		{"two connects", func(t *testing.T) []byte {
			return newClientBytes().connect(t, "a").connect(t, "a").bytes(t)
		}, rejectProtocol},
		{"connect without an object", func(t *testing.T) []byte {
			return newClientBytes().cmd(t, 0, "connect", 1, "not an object").bytes(t)
		}, rejectProtocol},
		{"publish name not a string", func(t *testing.T) []byte {
			return newClientBytes().connect(t, "a").cmd(t, 1, "publish", 2, nil, 5.0).bytes(t)
		}, rejectProtocol},
		{"command name not a string", func(t *testing.T) []byte {
			return newClientBytes().msg(t, 20, 0, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0}).bytes(t)
		}, rejectProtocol},
		{"too many createStreams", func(t *testing.T) []byte {
			cb := newClientBytes().connect(t, "a")
			for i := range 5 {
				cb.cmd(t, 0, "createStream", float64(2+i), nil)
			}
			return cb.bytes(t)
		}, rejectProtocol},
		{"oversized message", func(t *testing.T) []byte {
			return append(chunkHeader(10<<20, 9), 1, 2, 3)
		}, rejectTooLarge},
		{"message over MaxMessage", func(t *testing.T) []byte {
			cb := newClientBytes().setChunkSize(t, 1<<20)
			return cb.msg(t, 9, 0, big).bytes(t)
		}, rejectTooLarge},
		{"too much before publish", func(t *testing.T) []byte {
			cb := newClientBytes().connect(t, "a").setChunkSize(t, 60000)
			for range 6 {
				cb.msg(t, 9, 1, big[:60000])
			}
			return cb.bytes(t)
		}, rejectTooLarge},
		{"fmt 3 on a fresh chunk stream", func(t *testing.T) []byte {
			return []byte{0xC5, 1, 2, 3}
		}, rejectMalformed},
		{"cut short", func(t *testing.T) []byte {
			b := publishBytes(t, "a", "b")
			return b[:len(b)-3]
		}, rejectClosed},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := negotiateBytes(t, c.in(t))
			if err == nil {
				t.Fatal("negotiate accepted it")
			}
			if got := rejectReason(err); got != c.reason {
				t.Errorf("reason %s (%v), want %s", got, err, c.reason)
			}
		})
	}
}

// TestNegotiateIgnoresOthers: commands the proxy does not route by, even
// malformed ones, and media before the publish are left to the node.
func TestNegotiateIgnoresOthers(t *testing.T) {
	cb := newClientBytes().connect(t, "a")
	cb.msg(t, 20, 0, media.AppendAMF0(nil, "FCUnpublish")) // a bare name
	cb.msg(t, 20, 0, append(media.AppendAMF0(nil, "weird"), 0xFF))
	cb.msg(t, 9, 1, []byte{0x17, 0})
	cb.cmd(t, 0, "createStream", 2, nil)
	cb.cmd(t, 1, "publish", 3, nil, "b", "live")
	s, _, err := negotiateBytes(t, cb.bytes(t))
	if err != nil || s.Kind != "publish" || s.Name != "b" {
		t.Fatalf("setup %+v, %v", s, err)
	}
}

func TestRecorderBound(t *testing.T) {
	rc := &recorder{r: bytes.NewReader(make([]byte, 100)), max: 10}
	n, err := io.Copy(io.Discard, rc)
	if n != 10 || !errors.Is(err, errRecordLimit) {
		t.Fatalf("read %d bytes, %v; want 10 and the record limit", n, err)
	}
	if len(rc.buf) != 10 {
		t.Fatalf("recorded %d bytes", len(rc.buf))
	}
}

func TestRejectReasonHandshake(t *testing.T) {
	// ServerHandshake's error for a wrong version is a protocol error.
	_, err := rtmpwire.ServerHandshake(bytes.NewReader([]byte("GET / HTTP/1.1\r\n")), io.Discard, 0)
	var we *rtmpwire.Error
	if !errors.As(err, &we) {
		t.Fatalf("handshake of an HTTP request: %v", err)
	}
}
