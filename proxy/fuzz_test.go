package proxy

import (
	"bytes"
	"testing"
)

// FuzzNegotiate drives the pre-routing phase — chunk reassembly and the
// connect, createStream, publish and play commands — with arbitrary client
// bytes. Whatever comes in: no panic, a refusal the metrics know, answers
// that are valid RTMP, and on success a replay that is exactly a prefix of
// what the client sent and one answer per transaction the node will owe.
func FuzzNegotiate(f *testing.F) {
	f.Add(publishBytes(f, "live", "cam1?exp=1&sig=ab"))
	f.Add(newClientBytes().connect(f, "app").cmd(f, 0, "createStream", 2, nil).cmd(f, 1, "play", 3, nil, "s", -2000.0).bytes(f))
	f.Add([]byte{3, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		cw := newChunkWriter(&out, 4096)
		s, err := negotiate(bytes.NewReader(in), cw, setupLimits{MaxMessage: 4096, MaxBuffered: 8192, MaxRecorded: 16384})
		if ferr := cw.Flush(); ferr != nil {
			t.Fatal(ferr)
		}
		answers := decodeAll(t, out.Bytes()) // fails on anything invalid
		results := 0
		for _, d := range answers {
			if d.name() == "_result" {
				results++
			}
		}
		if err != nil {
			switch r := rejectReason(err); r {
			case rejectTooLarge, rejectMalformed, rejectProtocol, rejectClosed:
			default:
				t.Fatalf("refusal %v classed %q", err, r)
			}
			return
		}
		if s.Kind != "publish" && s.Kind != "play" {
			t.Fatalf("kind %q", s.Kind)
		}
		if !bytes.HasPrefix(in, s.Recorded) || len(s.Recorded) == 0 {
			t.Fatalf("recorded %d bytes that are not a prefix of the %d sent", len(s.Recorded), len(in))
		}
		if len(s.Owed) == 0 || s.Owed[0].Cmd != "connect" || results != len(s.Owed) {
			t.Fatalf("owed %+v, %d results sent", s.Owed, results)
		}
		for i, o := range s.Owed[1:] {
			if o.Cmd != "createStream" || o.StreamID != uint32(i+1) {
				t.Fatalf("owed %+v", s.Owed)
			}
		}
	})
}
