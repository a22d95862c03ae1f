package proxy

import (
	"bytes"
	"testing"
)

// TestChunkWriterRoundTrip: messages of every size around the chunk size,
// with small and extended timestamps, come back whole through rtmpwire's
// reader (the decoder the origin trusts), interleaved types included.
func TestChunkWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	cw := newChunkWriter(&buf, 4096)
	if err := cw.setChunkSize(outChunkSize); err != nil {
		t.Fatal(err)
	}
	type msg struct {
		typeID byte
		ts     uint32
		sid    uint32
		size   int
	}
	var want []msg
	for _, size := range []int{0, 1, outChunkSize - 1, outChunkSize, outChunkSize + 1, 3*outChunkSize + 7, 300000} {
		for _, ts := range []uint32{0, 40, 0xFFFFFE, 0xFFFFFF, 0x12345678} {
			for _, typ := range []byte{typeVideo, typeAudio, typeDataAMF0, 20} {
				want = append(want, msg{typ, ts, 1, size})
			}
		}
	}
	for i, m := range want {
		p := bytes.Repeat([]byte{byte(i)}, m.size)
		if err := cw.writeMessage(m.typeID, m.ts, m.sid, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	if cw.written != int64(buf.Len()) {
		t.Errorf("written %d, buffer %d", cw.written, buf.Len())
	}
	got := decodeAll(t, buf.Bytes())
	if len(got) != len(want) {
		t.Fatalf("decoded %d messages, wrote %d", len(got), len(want))
	}
	for i, m := range want {
		g := got[i]
		if g.TypeID != m.typeID || g.Timestamp != m.ts || g.StreamID != m.sid || len(g.Payload) != m.size {
			t.Fatalf("message %d: got type %d ts %d sid %d len %d, want %+v", i, g.TypeID, g.Timestamp, g.StreamID, len(g.Payload), m)
		}
		if m.size > 0 && (g.Payload[0] != byte(i) || g.Payload[m.size-1] != byte(i)) {
			t.Fatalf("message %d: payload mixed up", i)
		}
	}
}

func TestChunkWriterRefusesOversize(t *testing.T) {
	cw := newChunkWriter(&bytes.Buffer{}, 4096)
	if err := cw.writeMessage(typeVideo, 0, 1, make([]byte, 1<<24)); err == nil {
		t.Fatal("a 16 MiB message was encoded")
	}
}
