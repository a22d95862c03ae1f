package rtmpwire

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/rewind-vod/rewind/media"
)

// fakeRaw is a client connection: it reads what the client sent and
// collects what the server writes.
type fakeRaw struct {
	in  io.Reader
	out bytes.Buffer
}

func (f *fakeRaw) Read(p []byte) (int, error)  { return f.in.Read(p) }
func (f *fakeRaw) Write(p []byte) (int, error) { return f.out.Write(p) }
func (f *fakeRaw) Close() error                { return nil }

func amfStr(s string) []byte {
	b := []byte{media.AMF0String, byte(len(s) >> 8), byte(len(s))}
	return append(b, s...)
}

func amfNum(v float64) []byte { return appendNumber(nil, v) }

func command(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// normalized is one fmt 0 chunk of what go-rtmp reads.
type normalized struct {
	csid   byte
	ts     uint32
	typ    byte
	sid    uint32
	length int
	body   []byte
}

// parseNormalized splits go-rtmp's input into chunks, checking that each is
// a fmt 0 chunk holding a whole message.
func parseNormalized(t *testing.T, b []byte) []normalized {
	t.Helper()
	var out []normalized
	for len(b) > 0 {
		if b[0]>>6 != 0 || b[0]&0x3f < 2 {
			t.Fatalf("chunk header %#x: want fmt 0 on a one-byte chunk stream id", b[0])
		}
		if len(b) < 12 {
			t.Fatalf("short header: % x", b)
		}
		n := normalized{csid: b[0], ts: be24(b[1:4]), length: int(be24(b[4:7])), typ: b[7], sid: binary.LittleEndian.Uint32(b[8:12])}
		b = b[12:]
		if n.ts == 0xFFFFFF {
			n.ts = binary.BigEndian.Uint32(b)
			b = b[4:]
		}
		if len(b) < n.length {
			t.Fatalf("chunk of %d bytes, %d left: a message split over chunks", n.length, len(b))
		}
		n.body, b = b[:n.length], b[n.length:]
		out = append(out, n)
	}
	return out
}

func TestConnNormalizes(t *testing.T) {
	c1, _ := testC1(t, 0)
	var client []byte
	client = append(client, 3)
	client = append(client, c1...)
	client = append(client, make([]byte, 1536)...) // C2
	client = append(client, fmt0(2, 0, 4, TypeSetChunkSize, 0)...)
	client = binary.BigEndian.AppendUint32(client, 100)
	connect := command(amfStr("connect"), amfNum(1), []byte{media.AMF0Object, 0, 0, media.AMF0ObjectEnd})
	client = append(client, chunked(3, 0, TypeCommandAMF0, 0, connect, 100)...)
	publish := command(amfStr("publish"), amfNum(5), []byte{media.AMF0Null}, amfStr("gst"), amfStr("live"))
	client = append(client, chunked(400, 0, TypeCommandAMF0, 1, publish, 100)...)
	client = append(client, fmt0(6, 10, 0, 9, 1)...) // zero length: dropped
	video := pattern(1000, 9)
	client = append(client, chunked(6, 0x1234567, 9, 1, video, 100)...)
	// rtmp2sink's end of publish: the name where the stream id belongs.
	fcun := command(amfStr("FCUnpublish"), amfNum(6), []byte{media.AMF0Null})
	client = append(client, chunked(3, 0, TypeCommandAMF0, 0, fcun, 100)...)
	del := command(amfStr("deleteStream"), amfNum(7), []byte{media.AMF0Null}, amfStr("gst"))
	client = append(client, chunked(3, 0, TypeCommandAMF0, 0, del, 100)...)

	raw := &fakeRaw{in: bytes.NewReader(client)}
	c := NewConn(raw, roomy)
	// As go-rtmp does: read C0 and C1, write S0 S1 S2, read C2.
	hs := make([]byte, 3073)
	if _, err := io.ReadFull(c, hs); err != nil {
		t.Fatal(err)
	}
	if hs[0] != 3 {
		t.Fatalf("synthetic C0 = %d", hs[0])
	}
	if _, err := c.Write(make([]byte, 3073)); err != nil {
		t.Fatal(err)
	}
	if !c.Handshake().Digest {
		t.Error("digest handshake not recognized")
	}
	if raw.out.Len() != 3073 {
		t.Errorf("client got %d handshake bytes, want 3073 (ours only)", raw.out.Len())
	}
	if _, err := c.Write([]byte("after")); err != nil || !bytes.HasSuffix(raw.out.Bytes(), []byte("after")) {
		t.Errorf("writes after the handshake do not pass through: %v", err)
	}
	rest, err := io.ReadAll(c)
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Logf("end: %v", err)
	}
	got := parseNormalized(t, rest)
	if len(got) != 6 {
		t.Fatalf("%d messages, want 6: SetChunkSize, connect, publish, video, FCUnpublish, deleteStream", len(got))
	}
	if got[0].typ != TypeSetChunkSize || binary.BigEndian.Uint32(got[0].body) != 0xFFFFFF {
		t.Errorf("first message: type %d body % x, want SetChunkSize 0xFFFFFF", got[0].typ, got[0].body)
	}
	if !bytes.Equal(got[1].body, connect) || !bytes.Equal(got[2].body, publish) || got[2].sid != 1 {
		t.Error("connect or publish changed")
	}
	for i, want := range []byte{2, 3, 3, 3, 3, 3} {
		if got[i].csid != want {
			t.Errorf("message %d on chunk stream %d, want %d", i, got[i].csid, want)
		}
	}
	if got[3].ts != 0x1234567 || !bytes.Equal(got[3].body, video) {
		t.Errorf("video: ts %#x", got[3].ts)
	}
	if want := command(amfStr("FCUnpublish"), amfNum(6), []byte{media.AMF0Null}, amfStr("")); !bytes.Equal(got[4].body, want) {
		t.Errorf("FCUnpublish = % x, want % x", got[4].body, want)
	}
	if want := command(amfStr("deleteStream"), amfNum(7), []byte{media.AMF0Null}, amfNum(1)); !bytes.Equal(got[5].body, want) {
		t.Errorf("deleteStream = % x, want % x", got[5].body, want)
	}
}

func TestCommandsUntouched(t *testing.T) {
	var c commands
	for _, p := range [][]byte{
		command(amfStr("deleteStream"), amfNum(3), []byte{media.AMF0Null}, amfNum(1)),
		command(amfStr("FCUnpublish"), amfNum(3), []byte{media.AMF0Null}, amfStr("cam")),
		command(amfStr("connect"), amfNum(1), []byte{media.AMF0Object, 0, 3, 'a', 'p', 'p'}, amfStr("live"), []byte{0, 0, media.AMF0ObjectEnd}),
		{0x11, 0x02}, // not AMF0 we know: go-rtmp judges
	} {
		m, ok := c.normalize(Message{TypeID: TypeCommandAMF0, Payload: p})
		if !ok || !bytes.Equal(m.Payload, p) {
			t.Errorf("% x changed to % x (kept %v)", p, m.Payload, ok)
		}
	}
	// deleteStream with no id and no publish seen, on the control stream:
	// nothing to delete, so dropped rather than deleting stream 0.
	if _, ok := c.normalize(Message{TypeID: TypeCommandAMF0, Payload: command(amfStr("deleteStream"), amfNum(3))}); ok {
		t.Error("deleteStream of nothing handed on")
	}
	// A numeric string is the id.
	m, _ := c.normalize(Message{TypeID: TypeCommandAMF0, Payload: command(amfStr("deleteStream"), amfNum(3), []byte{media.AMF0Null}, amfStr("2"))})
	if want := command(amfStr("deleteStream"), amfNum(3), []byte{media.AMF0Null}, amfNum(2)); !bytes.Equal(m.Payload, want) {
		t.Errorf("deleteStream \"2\" = % x", m.Payload)
	}
}

// Metadata sent as a plain "onMetaData" data message (nginx-rtmp's push)
// reaches go-rtmp in the "@setDataFrame" form it hands on; the encoder's own
// form, other data messages and commands are left alone.
func TestMetadataFrame(t *testing.T) {
	str := func(s string) []byte { return append([]byte{media.AMF0String, 0, byte(len(s))}, s...) }
	meta := append(str("onMetaData"), media.AMF0ECMAArray, 0, 0, 0, 0, 0, 0, media.AMF0ObjectEnd)
	var c commands
	got, ok := c.normalize(Message{TypeID: TypeDataAMF0, StreamID: 1, Payload: meta})
	if want := append(str("@setDataFrame"), meta...); !ok || !bytes.Equal(got.Payload, want) {
		t.Errorf("onMetaData: %q %v, want %q", got.Payload, ok, want)
	}
	for _, m := range []Message{
		{TypeID: TypeDataAMF0, StreamID: 1, Payload: append(str("@setDataFrame"), meta...)},
		{TypeID: TypeDataAMF0, StreamID: 1, Payload: str("|RtmpSampleAccess")},
		{TypeID: TypeCommandAMF0, StreamID: 0, Payload: str("onMetaData")},
	} {
		if got, ok := c.normalize(m); !ok || !bytes.Equal(got.Payload, m.Payload) {
			t.Errorf("%q changed to %q", m.Payload, got.Payload)
		}
	}
}

// TestConnRecyclesMediaPayloads passes audio and video messages of many
// sizes (some over maxSpare), one interleaved with another, through the
// Conn read in odd pieces: each comes out whole and unchanged although
// their payload buffers are reused message after message.
func TestConnRecyclesMediaPayloads(t *testing.T) {
	c1, _ := testC1(t, 0)
	client := append([]byte{3}, c1...)
	client = append(client, make([]byte, 1536)...) // C2
	client = append(client, fmt0(2, 0, 4, TypeSetChunkSize, 0)...)
	client = binary.BigEndian.AppendUint32(client, 100)
	var want [][]byte
	sizes := []int{300, 5000, 70000, 20, 65536, 999, 128 << 10, 4096, 1, 30000}
	for i, n := range sizes {
		v := pattern(n, byte(i))
		video := chunked(6, uint32(40*i), TypeVideo, 1, v, 100)
		if len(video) > 112 {
			// An audio message between the first chunk of the video
			// and the rest.
			a := pattern(200+i, byte(100+i))
			client = append(client, video[:112]...)
			client = append(client, chunked(4, uint32(40*i), TypeAudio, 1, a, 100)...)
			client = append(client, video[112:]...)
			want = append(want, a, v)
		} else {
			client = append(client, video...)
			want = append(want, v)
		}
	}
	c := NewConn(&fakeRaw{in: bytes.NewReader(client)}, roomy)
	if _, err := io.ReadFull(c, make([]byte, 3073)); err != nil {
		t.Fatal(err)
	}
	var rest []byte
	buf := make([]byte, 333)
	for {
		n, err := c.Read(buf)
		rest = append(rest, buf[:n]...)
		if err != nil {
			break
		}
	}
	got := parseNormalized(t, rest)[1:] // less the SetChunkSize
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].body, want[i]) {
			t.Errorf("message %d (type %d, %d bytes) changed, want %d bytes", i, got[i].typ, len(got[i].body), len(want[i]))
		}
	}
}
