package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"

	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// Chunk streams of the commands a relay sends (media go on rtmpwire's).
const (
	csidCommand       = 3 // connect, createStream, deleteStream
	csidStreamCommand = 4 // publish, on the new message stream
)

// conn is one RTMP publish to a relay target. It is built from go-rtmp's
// handshake, chunk streamer and message codec over a connection of our
// own, rather than go-rtmp's ClientConn, whose connect and createStream
// wait for an answer with no timeout: here every wait is bounded by a
// deadline, so a target that hangs cannot hang the relay.
//
// Two goroutines write to it: the pusher (commands, media) and the reader
// (answers to the target's pings). go-rtmp's ChunkStreamer encodes every
// message with one shared encoder that is not safe for concurrent use, so
// every write goes through write, which takes wmu.
type conn struct {
	nc       net.Conn
	cs       *rtmp.ChunkStreamer
	streamID uint32
	timeout  time.Duration

	wmu sync.Mutex // held for each write, and by finish

	cmds     chan commandReply // answers to our commands, from the reader
	readDone chan struct{}     // closed when the reader stops
	readErr  error             // set before readDone is closed
	once     sync.Once
}

type commandReply struct {
	name string
	txn  int64
	body []byte // the AMF0 values after the name and transaction id
}

// dial connects, handshakes and publishes; every step is bounded by
// timeout, and ctx cancels it. ctx also bounds the connection's writes and
// its reader, so it should live as long as the push.
func dial(ctx context.Context, t target, timeout time.Duration) (*conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	nc.SetDeadline(time.Now().Add(timeout))
	if err := handshake.HandshakeWithServer(nc, nc, &handshake.Config{}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	rc := &conn{
		nc:       nc,
		timeout:  timeout,
		cmds:     make(chan commandReply, 16),
		readDone: make(chan struct{}),
	}
	w := &deadlineWriter{w: nc, timeout: timeout}
	// The peer's ack window stays at go-rtmp's default (2 GiB, so an
	// Acknowledgement would be due after 1 GiB read): a bare ChunkStreamer
	// has no control writer to send one with (it would panic, ending the
	// reader), and a target sends a publisher next to nothing anyway.
	rc.cs = rtmp.NewChunkStreamer(bufio.NewReaderSize(nc, 16<<10), bufio.NewWriterSize(w, 64<<10), nil)
	// Set before the first message is scheduled, announced first.
	if err := rc.cs.SelfState().SetChunkSize(rtmpwire.OutChunkSize); err != nil {
		rc.close()
		return nil, fmt.Errorf("set chunk size: %w", err)
	}
	go rc.read(ctx)

	if err := rc.setup(ctx, t); err != nil {
		rc.close()
		return nil, err
	}
	nc.SetReadDeadline(time.Time{}) // the target may stay quiet while we publish
	return rc, nil
}

func (rc *conn) setup(ctx context.Context, t target) error {
	if err := rc.write(ctx, rtmpwire.ChunkStreamControl, 0, 0, &message.SetChunkSize{ChunkSize: rtmpwire.OutChunkSize}); err != nil {
		return err
	}
	if err := rc.command(ctx, csidCommand, 0, "connect", 1, &message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{
		App: t.app, Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; rewind)", TCURL: t.tcURL,
	}}); err != nil {
		return err
	}
	if _, err := rc.await(ctx, 1); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := rc.command(ctx, csidCommand, 0, "createStream", 2, &message.NetConnectionCreateStream{}); err != nil {
		return err
	}
	r, err := rc.await(ctx, 2)
	if err != nil {
		return fmt.Errorf("createStream: %w", err)
	}
	var v message.AMFConvertible
	if err := message.DecodeBodyCreateStreamResult(nil, message.NewAMFDecoder(bytes.NewReader(r.body), message.EncodingTypeAMF0), &v); err != nil {
		return fmt.Errorf("createStream result: %w", err)
	}
	rc.streamID = v.(*message.NetConnectionCreateStreamResult).StreamID
	if err := rc.command(ctx, csidStreamCommand, rc.streamID, "publish", 0, &message.NetStreamPublish{PublishingName: t.name, PublishingType: "live"}); err != nil {
		return err
	}
	// The answer is an onStatus on the new stream.
	for {
		r, err := rc.next(ctx)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if r.name != "onStatus" {
			continue
		}
		code := statusCode(r.body)
		if code == string(message.NetStreamOnStatusCodePublishStart) {
			return nil
		}
		return fmt.Errorf("publish refused: %s", code)
	}
}

// statusCode is the "code" of an onStatus info object.
func statusCode(body []byte) string {
	d := message.NewAMFDecoder(bytes.NewReader(body), message.EncodingTypeAMF0)
	var cmdObj, info any
	if d.Decode(&cmdObj) != nil || d.Decode(&info) != nil {
		return "(unreadable onStatus)"
	}
	if m, ok := info.(map[string]any); ok {
		if c, ok := m["code"].(string); ok {
			return c
		}
	}
	return "(onStatus without a code)"
}

func (rc *conn) command(ctx context.Context, csid int, streamID uint32, name string, txn int64, body message.AMFConvertible) error {
	var b bytes.Buffer
	if err := message.EncodeBodyAnyValues(message.NewAMFEncoder(&b, message.EncodingTypeAMF0), body); err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return rc.write(ctx, csid, streamID, 0, &message.CommandMessage{CommandName: name, TransactionID: txn, Encoding: message.EncodingTypeAMF0, Body: &b})
}

// write sends one message; every write on the connection goes through it,
// so that they never overlap (see conn). ctx and the timeout bound the
// wait for the chunk stream.
func (rc *conn) write(ctx context.Context, csid int, streamID, ts uint32, msg message.Message) error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	select {
	case <-rc.cs.Done():
		return fmt.Errorf("send: %w", rc.sendErr())
	case <-rc.readDone:
		return fmt.Errorf("target closed the connection: %w", rc.readErr)
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, rc.timeout)
	defer cancel()
	if err := rc.cs.Write(ctx, csid, ts, &rtmp.ChunkMessage{StreamID: streamID, Message: msg}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

func (rc *conn) sendErr() error {
	if err := rc.cs.Err(); err != nil {
		return err
	}
	return errors.New("writer stopped")
}

// await waits for the _result (or _error) of transaction txn.
func (rc *conn) await(ctx context.Context, txn int64) (commandReply, error) {
	for {
		r, err := rc.next(ctx)
		if err != nil {
			return r, err
		}
		if r.txn != txn {
			continue
		}
		switch r.name {
		case "_result":
			return r, nil
		case "_error":
			return r, fmt.Errorf("refused: %s", statusCode(r.body))
		}
	}
}

func (rc *conn) next(ctx context.Context) (commandReply, error) {
	t := time.NewTimer(rc.timeout)
	defer t.Stop()
	select {
	case r := <-rc.cmds:
		return r, nil
	case <-rc.readDone:
		return commandReply{}, fmt.Errorf("connection closed: %w", rc.readErr)
	case <-t.C:
		return commandReply{}, errors.New("no answer in time")
	case <-ctx.Done():
		return commandReply{}, ctx.Err()
	}
}

// read handles what the target sends until the connection closes: chunk
// size changes, pings (answered, as the RTMP spec asks; servers ping to
// find dead peers) and command answers; the rest (acknowledgements, window
// sizes) needs nothing.
func (rc *conn) read(ctx context.Context) {
	defer close(rc.readDone)
	defer func() {
		// go-rtmp's reader may panic on what it cannot handle; that ends
		// this connection only.
		if r := recover(); r != nil {
			rc.readErr = fmt.Errorf("reader panic: %v", r)
		}
	}()
	var cm rtmp.ChunkMessage
	for {
		if _, _, err := rc.cs.Read(&cm); err != nil {
			rc.readErr = err
			return
		}
		switch m := cm.Message.(type) {
		case *message.SetChunkSize:
			if err := rc.cs.PeerState().SetChunkSize(m.ChunkSize); err != nil {
				rc.readErr = fmt.Errorf("set peer chunk size: %w", err)
				return
			}
		case *message.UserCtrl:
			if ping, ok := m.Event.(*message.UserCtrlEventPingRequest); ok {
				// A failed write fails the pusher's next send too; the
				// reader goes on until the connection ends.
				_ = rc.write(ctx, rtmpwire.ChunkStreamControl, 0, 0, &message.UserCtrl{Event: &message.UserCtrlEventPingResponse{Timestamp: ping.Timestamp}})
			}
		case *message.CommandMessage:
			body, _ := io.ReadAll(m.Body)
			select {
			case rc.cmds <- commandReply{name: m.CommandName, txn: m.TransactionID, body: body}:
			default: // nobody waits for it any more
			}
		}
	}
}

// finish ends the publish politely (deleteStream), then closes.
func (rc *conn) finish(ctx context.Context) {
	_ = rc.command(ctx, csidCommand, 0, "deleteStream", 0, &message.NetStreamDeleteStream{StreamID: rc.streamID})
	// Give the writer a moment to put the last messages on the wire. This
	// takes the chunk writers as a write would, so it holds the write lock.
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	rc.wmu.Lock()
	for _, csid := range []int{csidCommand, rtmpwire.ChunkStreamAudio, rtmpwire.ChunkStreamVideo, rtmpwire.ChunkStreamData} {
		if w, err := rc.cs.NewChunkWriter(ctx, csid); err != nil || w == nil {
			break
		}
	}
	rc.wmu.Unlock()
	rc.close()
}

func (rc *conn) close() {
	rc.once.Do(func() {
		rc.nc.Close()
		rc.cs.Close()
	})
}

// deadlineWriter puts a write deadline on every write to the target, so
// that a target that stops reading fails the relay instead of blocking it.
// Only go-rtmp's writer goroutine calls it.
type deadlineWriter struct {
	w interface {
		io.Writer
		SetWriteDeadline(time.Time) error
	}
	timeout time.Duration
	last    time.Time
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(d.last) > d.timeout/16 {
		d.last = now
		d.w.SetWriteDeadline(now.Add(d.timeout))
	}
	return d.w.Write(p)
}
