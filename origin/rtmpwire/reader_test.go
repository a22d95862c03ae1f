package rtmpwire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

var roomy = Limits{MaxMessageSize: 1 << 20, MaxBuffered: 2 << 20}

// basic encodes a chunk basic header (test's own encoder).
func basic(format byte, csid int) []byte {
	switch {
	case csid < 64:
		return []byte{format<<6 | byte(csid)}
	case csid < 320:
		return []byte{format << 6, byte(csid - 64)}
	default:
		return []byte{format<<6 | 1, byte((csid - 64) & 0xff), byte((csid - 64) >> 8)}
	}
}

func u24(v uint32) []byte { return []byte{byte(v >> 16), byte(v >> 8), byte(v)} }

// fmt0 is a type 0 chunk header; ts >= 0xFFFFFF gets the extended field.
func fmt0(csid int, ts uint32, length int, typ byte, sid uint32) []byte {
	b := basic(0, csid)
	b = append(b, u24(min(ts, 0xFFFFFF))...)
	b = append(b, u24(uint32(length))...)
	b = append(b, typ)
	b = binary.LittleEndian.AppendUint32(b, sid)
	if ts >= 0xFFFFFF {
		b = binary.BigEndian.AppendUint32(b, ts)
	}
	return b
}

// chunked splits a message into a fmt 0 chunk and fmt 3 continuations,
// repeating the extended timestamp on each as FFmpeg does.
func chunked(csid int, ts uint32, typ byte, sid uint32, payload []byte, size int) []byte {
	out := fmt0(csid, ts, len(payload), typ, sid)
	for i := 0; i < len(payload); i += size {
		if i > 0 {
			out = append(out, basic(3, csid)...)
			if ts >= 0xFFFFFF {
				out = binary.BigEndian.AppendUint32(out, ts)
			}
		}
		out = append(out, payload[i:min(i+size, len(payload))]...)
	}
	return out
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func reader(b []byte, l Limits) *Reader {
	return NewReader(bufio.NewReader(bytes.NewReader(b)), l)
}

func mustRead(t *testing.T, rd *Reader) Message {
	t.Helper()
	m, err := rd.ReadMessage()
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	return m
}

func TestChunkStreamIDForms(t *testing.T) {
	var in []byte
	for _, csid := range []int{3, 63, 64, 319, 320, 400, 65599} {
		in = append(in, chunked(csid, uint32(csid), 9, 1, pattern(300, byte(csid)), 128)...)
	}
	rd := reader(in, roomy)
	for _, csid := range []int{3, 63, 64, 319, 320, 400, 65599} {
		m := mustRead(t, rd)
		if m.ChunkStreamID != uint32(csid) || m.Timestamp != uint32(csid) || m.TypeID != 9 || !bytes.Equal(m.Payload, pattern(300, byte(csid))) {
			t.Errorf("csid %d: got csid %d ts %d type %d len %d", csid, m.ChunkStreamID, m.Timestamp, m.TypeID, len(m.Payload))
		}
	}
	if _, err := rd.ReadMessage(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last message: %v, want EOF", err)
	}
}

func TestExtendedTimestampOnFmt3(t *testing.T) {
	const ts = 0x12345678 // past 0xFFFFFF: about 84 hours
	p := pattern(1000, 1)
	in := chunked(6, ts, 9, 1, p, 128)
	// A second message on the same chunk stream as a bare fmt 3 chunk:
	// same length, and its timestamp delta is the extended field again.
	p2 := pattern(1000, 2)
	in = append(in, basic(3, 6)...)
	in = binary.BigEndian.AppendUint32(in, ts)
	in = append(in, p2[:128]...)
	for i := 128; i < len(p2); i += 128 {
		in = append(in, basic(3, 6)...)
		in = binary.BigEndian.AppendUint32(in, ts)
		in = append(in, p2[i:min(i+128, len(p2))]...)
	}
	rd := reader(in, roomy)
	m := mustRead(t, rd)
	if m.Timestamp != ts || !bytes.Equal(m.Payload, p) {
		t.Fatalf("first: ts %#x, payload ok %v", m.Timestamp, bytes.Equal(m.Payload, p))
	}
	m = mustRead(t, rd)
	if m.Timestamp != 2*ts || !bytes.Equal(m.Payload, p2) {
		t.Fatalf("second: ts %#x want %#x, payload ok %v", m.Timestamp, uint32(2*ts), bytes.Equal(m.Payload, p2))
	}
}

func TestDeltasAndControl(t *testing.T) {
	var in []byte
	// SetChunkSize 4096 on csid 2, then a 5000-byte message in two chunks.
	in = append(in, fmt0(2, 0, 4, TypeSetChunkSize, 0)...)
	in = binary.BigEndian.AppendUint32(in, 4096)
	p := pattern(5000, 3)
	in = append(in, chunked(4, 1000, 8, 1, p, 4096)...)
	// fmt 1 (delta 20, new length), fmt 2 (delta 30), fmt 3 (delta 30 again).
	in = append(in, basic(1, 4)...)
	in = append(in, u24(20)...)
	in = append(in, u24(10)...)
	in = append(in, 8)
	in = append(in, pattern(10, 4)...)
	in = append(in, basic(2, 4)...)
	in = append(in, u24(30)...)
	in = append(in, pattern(10, 5)...)
	in = append(in, basic(3, 4)...)
	in = append(in, pattern(10, 6)...)
	// An aborted message: one chunk of it, Abort for csid 5, then a whole one.
	in = append(in, fmt0(5, 0, 5000, 9, 1)...)
	in = append(in, pattern(4096, 7)...)
	in = append(in, fmt0(2, 0, 4, TypeAbort, 0)...)
	in = binary.BigEndian.AppendUint32(in, 5)
	in = append(in, fmt0(5, 7, 3, 9, 1)...)
	in = append(in, 1, 2, 3)

	rd := reader(in, roomy)
	want := []struct {
		ts   uint32
		data []byte
	}{{1000, p}, {1020, pattern(10, 4)}, {1050, pattern(10, 5)}, {1080, pattern(10, 6)}, {7, []byte{1, 2, 3}}}
	for i, w := range want {
		m := mustRead(t, rd)
		if m.Timestamp != w.ts || !bytes.Equal(m.Payload, w.data) {
			t.Errorf("message %d: ts %d (want %d), %d bytes", i, m.Timestamp, w.ts, len(m.Payload))
		}
	}
	if rd.ChunkSize() != 4096 {
		t.Errorf("chunk size %d", rd.ChunkSize())
	}
	if rd.Buffered() != 0 {
		t.Errorf("buffered %d after the abort", rd.Buffered())
	}
}

func wantErr(t *testing.T, err error, kind Kind, contains string) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != kind || !strings.Contains(pe.Msg, contains) {
		t.Fatalf("err = %v, want %v error containing %q", err, kind, contains)
	}
	if strings.Contains(err.Error(), "anic") {
		t.Errorf("error mentions a panic: %v", err)
	}
}

func TestFmt3WithoutHeader(t *testing.T) {
	// 0xC7: fmt 3 on chunk stream 7, never seen before.
	_, err := reader([]byte{0xC7, 0xde, 0xad, 0xbe, 0xef}, roomy).ReadMessage()
	wantErr(t, err, Malformed, "chunk stream 7")
	_, err = reader([]byte{0x85, 0, 0, 1}, roomy).ReadMessage() // fmt 2
	wantErr(t, err, Malformed, "never sent")
}

func TestDeclaredLengthLimit(t *testing.T) {
	// Only the header: the refusal must not wait for any payload.
	l := Limits{MaxMessageSize: 64 << 10, MaxBuffered: 256 << 10}
	_, err := reader(fmt0(3, 0, 16<<20-1, 9, 1), l).ReadMessage()
	wantErr(t, err, TooLarge, "over the limit")

	// Within the limit per message, over it in all: 60 chunk streams
	// each holding part of a 60 KiB message.
	var in []byte
	in = append(in, fmt0(2, 0, 4, TypeSetChunkSize, 0)...)
	in = binary.BigEndian.AppendUint32(in, 30<<10)
	for csid := 3; csid < 63; csid++ {
		in = append(in, fmt0(csid, 0, 60<<10, 9, 1)...)
		in = append(in, make([]byte, 30<<10)...) // one chunk of two
	}
	rd := reader(in, l)
	_, err = rd.ReadMessage()
	// Refused once the sum would pass 256 KiB: each message holds its
	// whole 60 KiB buffer from its first chunk, so at the fifth.
	wantErr(t, err, TooLarge, "unfinished messages")
	if rd.Buffered() > l.MaxBuffered {
		t.Errorf("buffered %d > %d", rd.Buffered(), l.MaxBuffered)
	}

	// The limits can be raised after a publish.
	rd = reader(chunked(4, 0, 9, 1, make([]byte, 200<<10), 128), l)
	rd.SetLimits(roomy)
	if m := mustRead(t, rd); len(m.Payload) != 200<<10 {
		t.Errorf("len %d", len(m.Payload))
	}
}

func TestTooManyChunkStreams(t *testing.T) {
	in := append(fmt0(2, 0, 4, TypeSetChunkSize, 0), 0, 0, 0, 1)
	for csid := 64; csid < 64+MaxChunkStreams+1; csid++ {
		in = append(in, fmt0(csid, 0, 10, 9, 1)...)
		in = append(in, 1) // one byte of ten: stays unfinished
	}
	rd := reader(in, roomy)
	_, err := rd.ReadMessage()
	wantErr(t, err, Malformed, "chunk streams")
}

func TestBadSetChunkSize(t *testing.T) {
	in := append(fmt0(2, 0, 4, TypeSetChunkSize, 0), 0, 0, 0, 0)
	_, err := reader(in, roomy).ReadMessage()
	wantErr(t, err, Malformed, "SetChunkSize 0")
}

func TestNewHeaderMidMessage(t *testing.T) {
	// A fmt 0 header with another length while a message is unfinished:
	// the partial message is dropped (as FFmpeg does) and the new one read.
	in := fmt0(9, 0, 300, 9, 1)
	in = append(in, pattern(128, 1)...)
	in = append(in, fmt0(9, 50, 5, 9, 1)...)
	in = append(in, 1, 2, 3, 4, 5)
	rd := reader(in, roomy)
	m := mustRead(t, rd)
	if m.Timestamp != 50 || !bytes.Equal(m.Payload, []byte{1, 2, 3, 4, 5}) || rd.Buffered() != 0 {
		t.Errorf("got ts %d payload % x, buffered %d", m.Timestamp, m.Payload, rd.Buffered())
	}
}

// TestBufferSizes: a message of up to exactUpTo bytes is read into one
// buffer of its size; a longer one's header alone holds at most exactUpTo,
// and its buffer never grows past its length.
func TestBufferSizes(t *testing.T) {
	set := append(fmt0(2, 0, 4, TypeSetChunkSize, 0), 0, 0, 0x10, 0) // 4096
	for _, n := range []int{1, 600, 10 << 10, exactUpTo, exactUpTo + 1, 300 << 10} {
		in := append(append([]byte{}, set...), chunked(6, 40, TypeVideo, 1, pattern(n, 3), 4096)...)
		m := mustRead(t, reader(in, roomy))
		if !bytes.Equal(m.Payload, pattern(n, 3)) {
			t.Fatalf("%d bytes: payload differs", n)
		}
		if n <= exactUpTo && cap(m.Payload) != n {
			t.Errorf("%d bytes: buffer of %d, want exactly the message", n, cap(m.Payload))
		}
		if cap(m.Payload) > n {
			t.Errorf("%d bytes: buffer of %d, over the message", n, cap(m.Payload))
		}
	}

	// Headers of 1 MiB messages with one byte each: what they hold is
	// bounded by what was sent, and counted against the limit.
	in := append(append([]byte{}, set...), fmt0(6, 0, 1<<20, TypeVideo, 1)...)
	in = append(in, 1)
	rd := reader(in, roomy)
	if _, err := rd.ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want the end of input", err)
	}
	if b := rd.Buffered(); b > exactUpTo {
		t.Errorf("a 1 MiB header with a byte holds %d bytes, want at most %d", b, exactUpTo)
	}
	in = append(fmt0(2, 0, 4, TypeSetChunkSize, 0), 0, 0, 0, 1) // one-byte chunks
	for csid := 3; csid < 3+8; csid++ {
		in = append(in, fmt0(csid, 0, exactUpTo, TypeAudio, 1)...)
		in = append(in, 1)
	}
	_, err := reader(in, Limits{MaxMessageSize: 1 << 20, MaxBuffered: 4 * exactUpTo}).ReadMessage()
	wantErr(t, err, TooLarge, "unfinished messages")
}

// BenchmarkReadFrames reads a publisher's mix: 10 KiB inter frames in
// 4 KiB chunks with an audio frame between each.
func BenchmarkReadFrames(b *testing.B) {
	in := append(fmt0(2, 0, 4, TypeSetChunkSize, 0), 0, 0, 0x10, 0)
	const frames = 64
	for i := range frames {
		in = append(in, chunked(6, uint32(i*33), TypeVideo, 1, pattern(10<<10, byte(i)), 4096)...)
		in = append(in, chunked(4, uint32(i*33), TypeAudio, 1, pattern(370, byte(i)), 4096)...)
	}
	br := bufio.NewReaderSize(bytes.NewReader(nil), 64<<10)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(bytes.NewReader(in))
		rd := NewReader(br, roomy)
		for range 2 * frames {
			if _, err := rd.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
