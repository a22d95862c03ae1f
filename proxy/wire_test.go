package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// Client-side encoding for the tests: the proxy's encoder writes the
// client's messages (its output is checked against FFmpeg and nginx-rtmp
// in the end-to-end tests), rtmpwire's reader decodes what comes back.

// clientBytes encodes a client's messages after the handshake.
type clientBytes struct {
	buf bytes.Buffer
	cw  *chunkWriter
}

func newClientBytes() *clientBytes {
	cb := &clientBytes{}
	cb.cw = newChunkWriter(&cb.buf, 4096)
	return cb
}

func (cb *clientBytes) msg(t testing.TB, typeID byte, streamID uint32, payload []byte) *clientBytes {
	t.Helper()
	if err := cb.cw.writeMessage(typeID, 0, streamID, payload); err != nil {
		t.Fatal(err)
	}
	return cb
}

func (cb *clientBytes) cmd(t testing.TB, streamID uint32, name string, tx float64, vals ...any) *clientBytes {
	return cb.msg(t, 20, streamID, media.AMF0Command(name, tx, vals...))
}

// connectCmd is connect as FFmpeg sends it: the command object, with the
// app and the tcUrl, is longer than one 128-byte chunk.
func (cb *clientBytes) connect(t testing.TB, app string) *clientBytes {
	return cb.cmd(t, 0, "connect", 1, []media.AMF0Prop{
		{Key: "app", Val: app}, {Key: "type", Val: "nonprivate"}, {Key: "flashVer", Val: "FMLE/3.0 (compatible; Lavf61.7.100)"},
		{Key: "tcUrl", Val: "rtmp://127.0.0.1:1935/" + app}, {Key: "fpad", Val: false}, {Key: "capabilities", Val: 15.0},
		{Key: "audioCodecs", Val: 4071.0}, {Key: "videoCodecs", Val: 252.0}, {Key: "videoFunction", Val: 1.0},
	})
}

func (cb *clientBytes) setChunkSize(t testing.TB, n int) *clientBytes {
	t.Helper()
	if err := cb.cw.setChunkSize(n); err != nil {
		t.Fatal(err)
	}
	return cb
}

func (cb *clientBytes) bytes(t testing.TB) []byte {
	t.Helper()
	if err := cb.cw.Flush(); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(cb.buf.Bytes())
}

// publishBytes is what FFmpeg sends up to and including its publish.
func publishBytes(t testing.TB, app, name string) []byte {
	cb := newClientBytes().connect(t, app)
	cb.setChunkSize(t, 4096)
	cb.cmd(t, 0, "releaseStream", 2, nil, name)
	cb.cmd(t, 0, "FCPublish", 3, nil, name)
	cb.cmd(t, 0, "createStream", 4, nil)
	cb.cmd(t, 1, "publish", 5, nil, name, "live")
	return cb.bytes(t)
}

// decoded is one message the proxy sent, with its command decoded.
type decoded struct {
	rtmpwire.Message
	vals []any // AMF0 values of a command
}

func (d decoded) name() string {
	if len(d.vals) == 0 {
		return ""
	}
	s, _ := d.vals[0].(string)
	return s
}

// statusCode is the code of an onStatus.
func (d decoded) statusCode() (code, desc string) {
	info, _ := valueAt(d.vals, 3).(map[string]any)
	return amfString(info, "code"), amfString(info, "description")
}

// decodeAll decodes a byte stream the proxy wrote.
func decodeAll(t testing.TB, b []byte) []decoded {
	t.Helper()
	rd := rtmpwire.NewReader(bufio.NewReader(bytes.NewReader(b)), rtmpwire.Limits{MaxMessageSize: 1 << 24, MaxBuffered: 1 << 25})
	var out []decoded
	for {
		m, err := rd.ReadMessage()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode proxy output after %d messages: %v", len(out), err)
		}
		d := decoded{Message: m}
		if isCommand(m.TypeID) {
			body, _ := commandBody(m.TypeID, m.Payload)
			d.vals = amfValues(body, 8)
		}
		out = append(out, d)
	}
}

// rawClient is a hand-driven RTMP client on a real connection, for what
// FFmpeg cannot be made to send: garbage, oversized chunks, bad names,
// and for reading the proxy's error statuses exactly.
type rawClient struct {
	t  testing.TB
	c  net.Conn
	cw *chunkWriter
	rd *rtmpwire.Reader
	tx float64
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := clientHandshake(c, nil); err != nil {
		t.Fatalf("handshake with the proxy: %v", err)
	}
	return &rawClient{t: t, c: c, cw: newChunkWriter(c, 4096),
		rd: rtmpwire.NewReader(bufio.NewReader(c), rtmpwire.Limits{MaxMessageSize: 1 << 24, MaxBuffered: 1 << 25})}
}

func (rc *rawClient) send(streamID uint32, name string, vals ...any) {
	rc.t.Helper()
	rc.tx++
	if err := rc.cw.command(streamID, name, rc.tx, vals...); err != nil {
		rc.t.Fatal(err)
	}
	if err := rc.cw.Flush(); err != nil {
		rc.t.Fatal(err)
	}
}

// next reads the next message; ok is false when the proxy closed.
func (rc *rawClient) next() (decoded, bool) {
	rc.t.Helper()
	m, err := rc.rd.ReadMessage()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			rc.t.Fatalf("no message from the proxy within the deadline")
		}
		return decoded{}, false
	}
	d := decoded{Message: m}
	if isCommand(m.TypeID) {
		body, _ := commandBody(m.TypeID, m.Payload)
		d.vals = amfValues(body, 8)
	}
	return d, true
}

// await reads until a command named name arrives.
func (rc *rawClient) await(name string) decoded {
	rc.t.Helper()
	for {
		d, ok := rc.next()
		if !ok {
			rc.t.Fatalf("connection closed while waiting for %s", name)
		}
		if d.name() == name {
			return d
		}
	}
}

// connect does connect and createStream and returns the stream id.
func (rc *rawClient) connect(app string) uint32 {
	rc.t.Helper()
	rc.send(0, "connect", []media.AMF0Prop{{Key: "app", Val: app}, {Key: "tcUrl", Val: "rtmp://x/" + app}})
	if r := rc.await("_result"); valueAt(r.vals, 1) != 1.0 {
		rc.t.Fatalf("connect answered with %v", r.vals)
	}
	rc.send(0, "createStream", nil)
	r := rc.await("_result")
	id, ok := valueAt(r.vals, 3).(float64)
	if !ok {
		rc.t.Fatalf("createStream answered with %v", r.vals)
	}
	return uint32(id)
}

// expectClosed reads until the proxy closes the connection and returns how
// long that took.
func expectClosed(t testing.TB, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s", within)
	}
	return time.Since(start)
}

// chunkHeader is a fmt 0 header on chunk stream 3.
func chunkHeader(length int, typeID byte) []byte {
	h := []byte{3, 0, 0, 0, byte(length >> 16), byte(length >> 8), byte(length), typeID}
	return binary.LittleEndian.AppendUint32(h, 0)
}
