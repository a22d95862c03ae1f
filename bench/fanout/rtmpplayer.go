package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// RTMP message type ids the Go player acts on.
const (
	typeAck        = 3
	typeWinAckSize = 5
	typeAudio      = 8
	typeVideo      = 9
	typeCommand    = 20
)

// viewer is one player of the peer rounds: the Go RTMP client, rtmpdump
// or the HTTP-FLV client. media is what the delivered bit rate is taken
// from: audio and video payload bytes, the same bytes the publisher's
// Stats.Bytes counts, whatever the framing (RTMP chunks or FLV tags).
type viewer interface {
	// run plays until the stream ends or ctx is done; joined is called
	// once, at the first video payload (the HTTP-FLV player: at the
	// response, rewind's GOP cache comes with it) or when play failed.
	run(ctx context.Context, joined func())
	mediaBytes() int64
	// isConnected may be read once joined has been called: connected is
	// set before it, and never after.
	isConnected() bool
	// result is what run ended with, read once it has returned (or, when
	// not connected, once joined has been called).
	result() (connected bool, err error)
}

// rtmpViewer is the Go RTMP client: the handshake, connect,
// createStream and play the way ffmpeg sends them, then every message
// read (no body kept past its count), acknowledged per the server's
// window as a real player does.
type rtmpViewer struct {
	addr, name string
	media      atomic.Int64

	connected bool
	err       error
}

func (v *rtmpViewer) mediaBytes() int64     { return v.media.Load() }
func (v *rtmpViewer) isConnected() bool     { return v.connected }
func (v *rtmpViewer) result() (bool, error) { return v.connected, v.err }

func (v *rtmpViewer) run(ctx context.Context, joined func()) {
	var once sync.Once
	join := func() { once.Do(joined) }
	defer join()
	v.err = v.play(ctx, func() { v.connected = true; join() }, func(n int) { v.media.Add(int64(n)) }, false)
	if ctx.Err() != nil {
		v.err = nil // cut off by the round, not a failure
	}
}

// play plays addr/app/name; first is called at the first video message
// (nginx-rtmp, with no GOP cache, sends a joining player audio only until
// the next keyframe: the player is not watching before it), got with each one's payload size. With untilFirst it returns
// nil right after the first video message.
func (v *rtmpViewer) play(ctx context.Context, first func(), got func(int), untilFirst bool) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", v.addr)
	if err != nil {
		return fmt.Errorf("rtmp play: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	p := &rtmpConn{c: c}
	p.br = bufio.NewReaderSize(countingReader{c, &p.rx}, 64<<10)
	if err := p.open(v.name); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return fmt.Errorf("rtmp play %s/%s at %s: %w", app, v.name, v.addr, err)
	}
	started := false
	for {
		m, err := p.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the server closed the stream's end
			}
			return fmt.Errorf("rtmp play %s/%s: %w", app, v.name, err)
		}
		switch m.TypeID {
		case typeAudio, typeVideo:
			if !started && m.TypeID == typeVideo {
				started = true
				first()
			}
			got(len(m.Payload))
			if untilFirst && m.TypeID == typeVideo {
				return nil
			}
		case typeCommand:
			vals, _ := decodeAMF(m.Payload)
			if at(vals, 0) == "onStatus" {
				if info, ok := at(vals, 3).(map[string]any); ok && info["level"] == "error" {
					return fmt.Errorf("rtmp play %s/%s: %v", app, v.name, info["code"])
				}
			}
		}
	}
}

// waitLive plays the stream with a throwaway Go player until one gets a
// video message: then the publish is live on the server, whichever it is
// (nginx-rtmp takes a play before the publish, rewind refuses it).
func waitLive(ctx context.Context, addr, name string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		v := &rtmpViewer{addr: addr, name: name}
		err := v.play(pctx, func() {}, func(int) {}, true)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("publish not live after %s: %w", d, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rtmpConn is the client side of one RTMP connection.
type rtmpConn struct {
	c       net.Conn
	br      *bufio.Reader
	rd      *rtmpwire.Reader
	rx      atomic.Int64 // bytes read off the socket
	window  int64        // the server's acknowledgement window, 0 before it says
	lastAck int64
}

func (p *rtmpConn) open(name string) error {
	if err := p.handshake(); err != nil {
		return err
	}
	p.rd = rtmpwire.NewReader(p.br, rtmpwire.Limits{MaxMessageSize: 16 << 20, MaxBuffered: 32 << 20})
	if err := p.command(3, 0, "connect", 1, []media.AMF0Prop{
		{Key: "app", Val: app}, {Key: "type", Val: "nonprivate"}, {Key: "flashVer", Val: "LNX 9,0,124,2"},
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

// next reads the next message and acknowledges what has been read once
// the server's window is reached: a server may stop sending to a player
// that never acknowledges.
func (p *rtmpConn) next() (rtmpwire.Message, error) {
	m, err := p.rd.ReadMessage()
	if err != nil {
		return m, err
	}
	if m.TypeID == typeWinAckSize && len(m.Payload) >= 4 {
		p.window = int64(binary.BigEndian.Uint32(m.Payload))
	}
	if rx := p.rx.Load(); p.window > 0 && rx-p.lastAck >= p.window {
		p.lastAck = rx
		b := []byte{2, 0, 0, 0, 0, 0, 4, typeAck, 0, 0, 0, 0}
		b = binary.BigEndian.AppendUint32(b, uint32(rx))
		if _, err := p.c.Write(b); err != nil {
			return m, fmt.Errorf("acknowledgement: %w", err)
		}
	}
	return m, nil
}

// handshake is the simple RTMP handshake: C0 C1, S0 S1 S2, C2 (S1 echoed).
func (p *rtmpConn) handshake() error {
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
func (p *rtmpConn) command(cs byte, streamID uint32, name string, tx float64, vals ...any) error {
	payload := media.AppendAMF0(media.AppendAMF0(nil, name), tx)
	for _, v := range vals {
		payload = media.AppendAMF0(payload, v)
	}
	const chunk = 128
	b := []byte{cs, 0, 0, 0, byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typeCommand}
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
func (p *rtmpConn) awaitResult(tx float64) ([]any, error) {
	for {
		m, err := p.next()
		if err != nil {
			return nil, err
		}
		if m.TypeID != typeCommand {
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
