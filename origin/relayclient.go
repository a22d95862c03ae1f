package origin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"
)

// relayConn is one RTMP publish to a relay target. It is built from
// go-rtmp's handshake, chunk streamer and message codec over a connection
// of our own, rather than go-rtmp's ClientConn, whose connect and
// createStream wait for an answer with no timeout: here every wait is
// bounded by a deadline, so a target that hangs cannot hang the relay.
type relayConn struct {
	nc       net.Conn
	cs       *rtmp.ChunkStreamer
	streamID uint32
	timeout  time.Duration

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

// relayTarget is where a relay publishes: the TCP address, the RTMP app
// and the publishing name (with its query, which may carry a signature).
type relayTarget struct {
	addr, app, name, tcURL string
}

// parseRelayTarget checks an rtmp:// URL: rtmp://host[:port]/app/name[?query].
func parseRelayTarget(raw string) (relayTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return relayTarget{}, err
	}
	if u.Scheme != "rtmp" || u.Host == "" {
		return relayTarget{}, fmt.Errorf("relay target %q: want rtmp://host[:port]/app/name", redactTarget(raw))
	}
	app, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || app == "" || name == "" {
		return relayTarget{}, fmt.Errorf("relay target %q: the path must be /app/name", redactTarget(raw))
	}
	if u.RawQuery != "" {
		name += "?" + u.RawQuery
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "1935")
	}
	return relayTarget{addr: addr, app: app, name: name, tcURL: "rtmp://" + u.Host + "/" + app}, nil
}

// redactTarget drops the query of a target URL (it may hold a stream key).
func redactTarget(raw string) string {
	s, _, _ := strings.Cut(raw, "?")
	return s
}

// dialRelay connects, handshakes and publishes; every step is bounded by
// timeout, and ctx cancels it.
func dialRelay(ctx context.Context, t relayTarget, timeout time.Duration) (*relayConn, error) {
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
	rc := &relayConn{
		nc:       nc,
		timeout:  timeout,
		cmds:     make(chan commandReply, 16),
		readDone: make(chan struct{}),
	}
	w := &deadlineWriter{w: nc, timeout: timeout}
	rc.cs = rtmp.NewChunkStreamer(bufio.NewReaderSize(nc, 16<<10), bufio.NewWriterSize(w, 64<<10), nil)
	// Set before the first message is scheduled, announced first.
	if err := rc.cs.SelfState().SetChunkSize(outChunkSize); err != nil {
		rc.close()
		return nil, err
	}
	go rc.read()

	if err := rc.setup(ctx, t); err != nil {
		rc.close()
		return nil, err
	}
	nc.SetReadDeadline(time.Time{}) // the target may stay quiet while we publish
	return rc, nil
}

func (rc *relayConn) setup(ctx context.Context, t relayTarget) error {
	if err := rc.write(2, 0, 0, &message.SetChunkSize{ChunkSize: outChunkSize}); err != nil {
		return err
	}
	if err := rc.command(3, 0, "connect", 1, &message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{
		App: t.app, Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; rewind)", TCURL: t.tcURL,
	}}); err != nil {
		return err
	}
	if _, err := rc.await(ctx, 1); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := rc.command(3, 0, "createStream", 2, &message.NetConnectionCreateStream{}); err != nil {
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
	if err := rc.command(4, rc.streamID, "publish", 0, &message.NetStreamPublish{PublishingName: t.name, PublishingType: "live"}); err != nil {
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

func (rc *relayConn) command(csid int, streamID uint32, name string, txn int64, body message.AMFConvertible) error {
	var b bytes.Buffer
	if err := message.EncodeBodyAnyValues(message.NewAMFEncoder(&b, message.EncodingTypeAMF0), body); err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return rc.write(csid, streamID, 0, &message.CommandMessage{CommandName: name, TransactionID: txn, Encoding: message.EncodingTypeAMF0, Body: &b})
}

// write sends one message; only the relay's goroutine calls it (go-rtmp's
// message encoder is not safe for concurrent use).
func (rc *relayConn) write(csid int, streamID, ts uint32, msg message.Message) error {
	select {
	case <-rc.cs.Done():
		return fmt.Errorf("send: %w", rc.sendErr())
	case <-rc.readDone:
		return fmt.Errorf("target closed the connection: %w", rc.readErr)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), rc.timeout)
	defer cancel()
	if err := rc.cs.Write(ctx, csid, ts, &rtmp.ChunkMessage{StreamID: streamID, Message: msg}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

func (rc *relayConn) sendErr() error {
	if err := rc.cs.Err(); err != nil {
		return err
	}
	return errors.New("writer stopped")
}

// await waits for the _result (or _error) of transaction txn.
func (rc *relayConn) await(ctx context.Context, txn int64) (commandReply, error) {
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

func (rc *relayConn) next(ctx context.Context) (commandReply, error) {
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

// read handles what the target sends: chunk size changes and command
// answers; the rest (acknowledgements, window sizes) needs nothing.
func (rc *relayConn) read() {
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
				rc.readErr = err
				return
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
func (rc *relayConn) finish() {
	_ = rc.command(3, 0, "deleteStream", 0, &message.NetStreamDeleteStream{StreamID: rc.streamID})
	// Give the writer a moment to put the last messages on the wire.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, csid := range []int{3, csidAudio, csidVideo, csidData} {
		if w, err := rc.cs.NewChunkWriter(ctx, csid); err != nil || w == nil {
			break
		}
	}
	rc.close()
}

func (rc *relayConn) close() {
	rc.once.Do(func() {
		rc.nc.Close()
		rc.cs.Close()
	})
}

// deadlineWriter puts a write deadline on every write to the target, so
// that a target that stops reading fails the relay instead of blocking it.
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
