package proxy

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rewind-vod/rewind/media"
)

// nodeBytes is what a node sends, chunked as nginx-rtmp does (its own
// chunk size announced first).
func nodeBytes(t *testing.T, connectAnswer, createAnswer []any) []byte {
	cb := newClientBytes()
	cb.msg(t, typeWindowAckSize, 0, []byte{0, 0x4c, 0x4b, 0x40})
	cb.msg(t, typeSetPeerBandwidth, 0, []byte{0, 0x4c, 0x4b, 0x40, 2})
	cb.setChunkSize(t, 60000)
	cb.msg(t, typeUserControl, 0, []byte{0, 0, 0, 0, 0, 0}) // StreamBegin 0
	cb.cmd(t, 0, connectAnswer[0].(string), 1, connectAnswer[1:]...)
	cb.cmd(t, 0, "_result", 2, nil)     // releaseStream: the client's to see
	cb.cmd(t, 0, "onFCPublish", 0, nil) // likewise
	cb.cmd(t, 0, createAnswer[0].(string), 4, createAnswer[1:]...)
	cb.msg(t, typeWindowAckSize, 0, []byte{0, 0, 0x10, 0}) // after the switch: passed on
	cb.cmd(t, 1, "onStatus", 0, nil, []media.AMF0Prop{{Key: "level", Val: "status"}, {Key: "code", Val: "NetStream.Publish.Start"}})
	cb.msg(t, typeVideo, 1, bytes.Repeat([]byte{0x17}, 100000))
	return cb.bytes(t)
}

var okConnect = []any{"_result", []media.AMF0Prop{{Key: "fmsVer", Val: "FMS/3,0,1,123"}}, []media.AMF0Prop{{Key: "code", Val: "NetConnection.Connect.Success"}}}

// runDownstream feeds node bytes through downstream and returns what the
// client got.
func runDownstream(t *testing.T, in []byte) ([]decoded, float64, bool, error) {
	t.Helper()
	nodeSide, nodeEnd := net.Pipe()
	clientEnd, clientSide := net.Pipe()
	go func() {
		nodeSide.Write(in)
		nodeSide.Close()
	}()
	got := make(chan []byte)
	go func() {
		var b bytes.Buffer
		b.ReadFrom(clientSide)
		got <- b.Bytes()
	}()
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	cw := newChunkWriter(clientEnd, 64<<10)
	_ = cw.setChunkSize(outChunkSize) // as the answer to connect did
	_ = cw.Flush()
	switched := false
	d := newDownstream("n1", nodeEnd, cw, clientEnd, []owed{{Cmd: "connect", Tx: 1}, {Cmd: "createStream", Tx: 4, StreamID: 1}}, time.Second, counter)
	d.onSwitch = func() { switched = true }
	err := d.run()
	clientEnd.Close()
	return decodeAll(t, <-got), testutil.ToFloat64(counter), switched, err
}

func TestDownstreamSwallowsOwedAnswers(t *testing.T) {
	out, counted, switched, err := runDownstream(t, nodeBytes(t, okConnect, []any{"_result", nil, 1.0}))
	if err == nil || !strings.Contains(err.Error(), "read from node") {
		t.Fatalf("run ended with %v, want the node's close", err)
	}
	if !switched {
		t.Error("never switched")
	}
	var seen []string
	for _, d := range out {
		switch {
		case d.name() != "":
			seen = append(seen, d.name())
		default:
			seen = append(seen, map[byte]string{typeUserControl: "user", typeWindowAckSize: "window", typeVideo: "video"}[d.TypeID])
		}
	}
	// The node's window, bandwidth and the answers to connect and
	// createStream are gone; the rest arrives in order.
	if want := "user _result onFCPublish window onStatus video"; strings.Join(seen, " ") != want {
		t.Errorf("client got %q, want %q", strings.Join(seen, " "), want)
	}
	if v := out[len(out)-1]; len(v.Payload) != 100000 || v.StreamID != 1 {
		t.Errorf("video message: %d bytes on stream %d", len(v.Payload), v.StreamID)
	}
	if counted < 100000 {
		t.Errorf("counted %v bytes to the client", counted)
	}
}

func TestDownstreamStreamIDMismatch(t *testing.T) {
	out, _, switched, err := runDownstream(t, nodeBytes(t, okConnect, []any{"_result", nil, 7.0}))
	var ue *upstreamError
	if !errors.As(err, &ue) || !strings.Contains(ue.msg, "stream id 7") {
		t.Fatalf("err = %v, want an upstream error naming stream id 7", err)
	}
	if switched {
		t.Error("switched despite the mismatch")
	}
	for _, d := range out {
		if d.TypeID == typeVideo {
			t.Error("media reached the client after a mismatch")
		}
	}
}

func TestDownstreamConnectRefused(t *testing.T) {
	refused := []any{"_error", nil, []media.AMF0Prop{{Key: "level", Val: "error"}, {Key: "code", Val: "NetConnection.Connect.Rejected"}, {Key: "description", Val: "no such app"}}}
	_, _, _, err := runDownstream(t, nodeBytes(t, refused, []any{"_result", nil, 1.0}))
	var ue *upstreamError
	if !errors.As(err, &ue) || !strings.Contains(ue.msg, "refused connect: NetConnection.Connect.Rejected: no such app") {
		t.Fatalf("err = %v", err)
	}
}

func TestDownstreamNodeClosesDuringSetup(t *testing.T) {
	cb := newClientBytes()
	cb.msg(t, typeWindowAckSize, 0, []byte{0, 0x4c, 0x4b, 0x40})
	_, _, _, err := runDownstream(t, cb.bytes(t))
	var ue *upstreamError
	if !errors.As(err, &ue) || !strings.Contains(ue.msg, "closed the connection during setup") {
		t.Fatalf("err = %v", err)
	}
}
