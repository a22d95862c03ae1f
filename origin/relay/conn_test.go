package relay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"

	"github.com/rewind-vod/rewind/media"
)

// pingTarget is an RTMP ingest that takes one publish and sends the
// publisher a PingRequest after every media message it gets, so that the
// relay's reader answers pings while its pusher sends media: two writers
// on one connection.
type pingTarget struct {
	addr string

	mu      sync.Mutex
	media   [][]byte // audio and video payloads, in arrival order
	pings   []uint32 // timestamps of the pings sent
	pongs   []uint32 // timestamps of the answers
	deleted bool     // the relay ended the publish with deleteStream
	err     error
}

func startPingTarget(t *testing.T) *pingTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pt := &pingTarget{addr: ln.Addr().String()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		if err := pt.serve(nc); err != nil && err != io.EOF {
			pt.mu.Lock()
			pt.err = err
			pt.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return pt
}

func (pt *pingTarget) serve(nc net.Conn) error {
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	if err := handshake.HandshakeWithClient(nc, nc, &handshake.Config{SkipHandshakeVerification: true}); err != nil {
		return err
	}
	cs := rtmp.NewChunkStreamer(bufio.NewReader(nc), bufio.NewWriter(nc), nil)
	defer cs.Close()
	write := func(csid int, streamID uint32, msg message.Message) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return cs.Write(ctx, csid, 0, &rtmp.ChunkMessage{StreamID: streamID, Message: msg})
	}
	reply := func(csid int, streamID uint32, name string, txn int64, body message.AMFConvertible) error {
		var b bytes.Buffer
		if err := message.EncodeBodyAnyValues(message.NewAMFEncoder(&b, message.EncodingTypeAMF0), body); err != nil {
			return err
		}
		return write(csid, streamID, &message.CommandMessage{CommandName: name, TransactionID: txn, Encoding: message.EncodingTypeAMF0, Body: &b})
	}
	var cm rtmp.ChunkMessage
	for {
		if _, _, err := cs.Read(&cm); err != nil {
			return err
		}
		var err error
		switch m := cm.Message.(type) {
		case *message.SetChunkSize:
			err = cs.PeerState().SetChunkSize(m.ChunkSize)
		case *message.CommandMessage:
			switch m.CommandName {
			case "connect":
				err = reply(3, 0, "_result", m.TransactionID, &message.NetConnectionConnectResult{})
			case "createStream":
				err = reply(3, 0, "_result", m.TransactionID, &message.NetConnectionCreateStreamResult{StreamID: 1})
			case "publish":
				err = reply(5, 1, "onStatus", 0, &message.NetStreamOnStatus{InfoObject: message.NetStreamOnStatusInfoObject{
					Level: message.NetStreamOnStatusLevelStatus, Code: message.NetStreamOnStatusCodePublishStart,
				}})
			case "deleteStream":
				pt.mu.Lock()
				pt.deleted = true
				pt.mu.Unlock()
			}
		case *message.AudioMessage, *message.VideoMessage:
			var p []byte
			if a, ok := m.(*message.AudioMessage); ok {
				p, _ = io.ReadAll(a.Payload)
			} else {
				p, _ = io.ReadAll(m.(*message.VideoMessage).Payload)
			}
			pt.mu.Lock()
			pt.media = append(pt.media, p)
			ts := uint32(len(pt.media))
			pt.pings = append(pt.pings, ts)
			pt.mu.Unlock()
			err = write(2, 0, &message.UserCtrl{Event: &message.UserCtrlEventPingRequest{Timestamp: ts}})
		case *message.UserCtrl:
			if pong, ok := m.Event.(*message.UserCtrlEventPingResponse); ok {
				pt.mu.Lock()
				pt.pongs = append(pt.pongs, pong.Timestamp)
				pt.mu.Unlock()
			}
		}
		if err != nil {
			return err
		}
	}
}

// The relay's reader answers the target's pings while its pusher sends
// media; every write on the connection is serialized (go-rtmp's encoder
// is not safe for concurrent use, which -race would report), so every
// frame arrives whole and in order and every ping gets its answer.
func TestConnWritesFromPusherAndReader(t *testing.T) {
	pt := startPingTarget(t)
	r, err := New(Config{
		Rules:   []Rule{{Match: "live/cam", Target: "rtmp://" + pt.addr + "/ingest/{name}"}},
		Timeout: 5 * time.Second,
	}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Open(media.StreamInfo{App: "live", Name: "cam", Run: "run1"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "relay publishing", func() bool {
		_, _, sts := r.Outputs("live", "cam")
		return len(sts) == 1 && sts[0].State == statePublishing
	})

	// Audio-only AAC raw frames, each payload carrying its number, in
	// bursts that fit the queue (so none is dropped).
	const frames = 2000
	var want [][]byte
	var bytesSent uint64
	for i := range frames {
		p := make([]byte, 2+4+200+i%700)
		p[0], p[1] = media.SoundAAC<<4|0x0f, media.AACRaw
		binary.BigEndian.PutUint32(p[2:], uint32(i))
		want = append(want, p)
		bytesSent += uint64(len(p))
		s.WriteFrame(media.Frame{Type: media.FrameAudio, Timestamp: uint32(i * 23), Payload: p})
		if i%500 == 499 {
			waitFor(t, 10*time.Second, "the burst at the target", func() bool {
				pt.mu.Lock()
				defer pt.mu.Unlock()
				return len(pt.media) == i+1
			})
		}
	}
	waitFor(t, 10*time.Second, "every ping answered", func() bool {
		pt.mu.Lock()
		defer pt.mu.Unlock()
		return len(pt.pongs) == frames
	})
	_, out, sts := r.Outputs("live", "cam")
	s.Close()
	waitFor(t, 5*time.Second, "deleteStream at the target", func() bool {
		pt.mu.Lock()
		defer pt.mu.Unlock()
		return pt.deleted
	})

	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.err != nil {
		t.Fatalf("target: %v", pt.err)
	}
	if len(pt.media) != frames {
		t.Fatalf("target got %d frames, want %d", len(pt.media), frames)
	}
	for i := range want {
		if !bytes.Equal(pt.media[i], want[i]) {
			t.Fatalf("frame %d arrived altered (%d bytes, want %d)", i, len(pt.media[i]), len(want[i]))
		}
	}
	for i, ts := range pt.pongs {
		if ts != pt.pings[i] {
			t.Fatalf("answer %d has timestamp %d, want %d", i, ts, pt.pings[i])
		}
	}
	if out.BytesOut != bytesSent || sts[0].BytesOut != bytesSent || sts[0].FramesDropped != 0 || sts[0].Failures != 0 {
		t.Errorf("relay reports %+v, %+v; want %d bytes out, no drops or failures", out, sts[0], bytesSent)
	}
}
