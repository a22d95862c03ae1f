// Package rtmpclient is a small RTMP player for benches and tests: the
// simple handshake, connect, createStream and play the way ffmpeg sends
// them, then the server's messages one by one, acknowledged per its
// window as a real player does. It reads through origin/rtmpwire.
package rtmpclient

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// RTMP message type ids a player acts on.
const (
	TypeAck        = 3
	TypeWinAckSize = 5
	TypeAudio      = 8
	TypeVideo      = 9
	TypeCommand    = 20
)

// Conn is the client side of one RTMP connection.
type Conn struct {
	c       net.Conn
	br      *bufio.Reader
	rd      *rtmpwire.Reader
	rx      atomic.Int64 // bytes read off the socket
	window  int64        // the server's acknowledgement window, 0 before it says
	lastAck int64
}

// New wraps an open connection; Play starts playing on it.
func New(c net.Conn) *Conn {
	p := &Conn{c: c}
	p.br = bufio.NewReaderSize(countingReader{c, &p.rx}, 64<<10)
	p.rd = rtmpwire.NewReader(p.br, rtmpwire.Limits{MaxMessageSize: 16 << 20, MaxBuffered: 32 << 20})
	return p
}

// Dial connects to addr and plays app/name; flashVer is what the client
// says it is. ctx bounds the setup only: the caller closes the Conn.
func Dial(ctx context.Context, addr, app, name, flashVer string) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rtmp play: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	p := New(c)
	err = p.Play(app, name, flashVer)
	if !stop() || err != nil {
		c.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("rtmp play %s/%s at %s: %w", app, name, addr, err)
	}
	return p, nil
}

// Close closes the connection.
func (p *Conn) Close() error { return p.c.Close() }

// Play runs the handshake, connect, createStream and play.
func (p *Conn) Play(app, name, flashVer string) error {
	if err := p.handshake(); err != nil {
		return err
	}
	if err := p.command(3, 0, "connect", 1, []media.AMF0Prop{
		{Key: "app", Val: app}, {Key: "type", Val: "nonprivate"}, {Key: "flashVer", Val: flashVer},
		{Key: "tcUrl", Val: "rtmp://" + p.c.RemoteAddr().String() + "/" + app},
	}); err != nil {
		return err
	}
	if _, err := p.awaitResult(1); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := p.command(3, 0, "createStream", 2, nil); err != nil {
		return err
	}
	vals, err := p.awaitResult(2)
	if err != nil {
		return fmt.Errorf("createStream: %w", err)
	}
	id, ok := at(vals, 3).(float64)
	if !ok {
		return fmt.Errorf("createStream answered %v", vals)
	}
	// play goes with transaction id 0 on the new message stream, as
	// ffmpeg sends it.
	return p.command(8, uint32(id), "play", 0, nil, name, -2000.0)
}

// Next reads the next message and acknowledges what has been read once
// the server's window is reached: a server may stop sending to a player
// that never acknowledges.
func (p *Conn) Next() (rtmpwire.Message, error) {
	m, err := p.rd.ReadMessage()
	if err != nil {
		return m, err
	}
	if m.TypeID == TypeWinAckSize && len(m.Payload) >= 4 {
		p.window = int64(binary.BigEndian.Uint32(m.Payload))
	}
	if rx := p.rx.Load(); p.window > 0 && rx-p.lastAck >= p.window {
		p.lastAck = rx
		b := []byte{2, 0, 0, 0, 0, 0, 4, TypeAck, 0, 0, 0, 0}
		b = binary.BigEndian.AppendUint32(b, uint32(rx))
		if _, err := p.c.Write(b); err != nil {
			return m, fmt.Errorf("acknowledgement: %w", err)
		}
	}
	return m, nil
}

// StatusError is the error an onStatus command of level "error" carries
// (a play the server refused or ended), nil for any other message.
func StatusError(m rtmpwire.Message) error {
	if m.TypeID != TypeCommand {
		return nil
	}
	vals, _ := decodeAMF(m.Payload)
	if at(vals, 0) == "onStatus" {
		if info, ok := at(vals, 3).(map[string]any); ok && info["level"] == "error" {
			return fmt.Errorf("play: %v", info["code"])
		}
	}
	return nil
}

// handshake is the simple RTMP handshake: C0 C1, S0 S1 S2, C2 (S1 echoed).
func (p *Conn) handshake() error {
	const size = rtmpwire.HandshakeSize
	c0c1 := make([]byte, 1+size)
	c0c1[0] = 3
	binary.BigEndian.PutUint32(c0c1[1:], uint32(time.Now().UnixMilli()))
	_, _ = rand.Read(c0c1[9:])
	if _, err := p.c.Write(c0c1); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	s := make([]byte, 1+2*size)
	if _, err := io.ReadFull(p.br, s); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if s[0] != 3 {
		return fmt.Errorf("handshake: server version %d", s[0])
	}
	if _, err := p.c.Write(s[1 : 1+size]); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	return nil
}

// command writes an AMF0 command on chunk stream cs, in chunks of the
// default 128 bytes.
func (p *Conn) command(cs byte, streamID uint32, name string, tx float64, vals ...any) error {
	payload := media.AppendAMF0(media.AppendAMF0(nil, name), tx)
	for _, v := range vals {
		payload = media.AppendAMF0(payload, v)
	}
	const chunk = 128
	b := []byte{cs, 0, 0, 0, byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), TypeCommand}
	b = binary.LittleEndian.AppendUint32(b, streamID)
	for i := 0; i < len(payload); i += chunk {
		if i > 0 {
			b = append(b, 0xC0|cs) // fmt 3: continuation
		}
		b = append(b, payload[i:min(i+chunk, len(payload))]...)
	}
	if _, err := p.c.Write(b); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// awaitResult reads until the answer to the command of transaction tx.
func (p *Conn) awaitResult(tx float64) ([]any, error) {
	for {
		m, err := p.Next()
		if err != nil {
			return nil, err
		}
		if m.TypeID != TypeCommand {
			continue
		}
		vals, err := decodeAMF(m.Payload)
		if err != nil {
			return nil, err
		}
		if got, _ := at(vals, 1).(float64); got != tx {
			continue
		}
		switch at(vals, 0) {
		case "_result":
			return vals, nil
		case "_error":
			return nil, fmt.Errorf("answered _error %v", vals[2:])
		}
	}
}

func at(vals []any, i int) any {
	if i < len(vals) {
		return vals[i]
	}
	return nil
}

// decodeAMF decodes a command's AMF0 values up to the first it cannot.
func decodeAMF(b []byte) ([]any, error) {
	var out []any
	for len(b) > 0 {
		v, rest, err := media.ReadAMF0(b)
		if err != nil {
			return out, fmt.Errorf("amf0: %w", err)
		}
		out = append(out, v)
		b = rest
	}
	return out, nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}
