package ertmppub

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
	"time"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// RTMP message types a publisher sends or reads.
const (
	typeSetChunkSize = 1
	typeAudio        = 8
	typeVideo        = 9
	typeData         = 18
	typeCommand      = 20
)

// Chunk streams as ffmpeg uses them.
const (
	csControl = 2
	csCommand = 3
	csAudio   = 4
	csVideo   = 6
	csStream  = 8

	chunkSize = 4096
)

// Conn is one publishing RTMP connection.
type Conn struct {
	c  net.Conn
	rd *rtmpwire.Reader
	id uint32 // the publishing message stream

	wmu sync.Mutex
	buf []byte

	done   chan struct{} // the reader ended
	errMu  sync.Mutex
	remote error // what the server said or did to end the publish
}

// Dial connects to addr, sends connect (its command object with
// fourCcList, as the enhanced RTMP spec extends it), createStream and
// publish, and waits for NetStream.Publish.Start. ctx bounds the setup.
func Dial(ctx context.Context, addr, app, name string, fourCCs []string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ertmppub: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	c := &Conn{c: nc, done: make(chan struct{})}
	err = c.setup(addr, app, name, fourCCs)
	if !stop() || err != nil {
		nc.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("ertmppub: publish %s/%s at %s: %w", app, name, addr, err)
	}
	go c.readLoop()
	return c, nil
}

func (c *Conn) setup(addr, app, name string, fourCCs []string) error {
	br := bufio.NewReaderSize(c.c, 64<<10)
	if err := handshake(c.c, br); err != nil {
		return err
	}
	c.rd = rtmpwire.NewReader(br, rtmpwire.Limits{MaxMessageSize: 1 << 20, MaxBuffered: 4 << 20})
	if err := c.write(csControl, typeSetChunkSize, 0, 0, binary.BigEndian.AppendUint32(nil, chunkSize)); err != nil {
		return err
	}
	obj := []media.AMF0Prop{
		{Key: "app", Val: app}, {Key: "type", Val: "nonprivate"},
		{Key: "flashVer", Val: "FMLE/3.0 (compatible; rewind ertmppub)"},
		{Key: "tcUrl", Val: "rtmp://" + addr + "/" + app},
	}
	payload := media.AppendAMF0(media.AppendAMF0(nil, "connect"), 1.0)
	payload = appendObjectWith(payload, obj, "fourCcList", fourCCs)
	if err := c.write(csCommand, typeCommand, 0, 0, payload); err != nil {
		return err
	}
	if _, err := c.await(1); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := c.command(0, "createStream", 2, nil); err != nil {
		return err
	}
	vals, err := c.await(2)
	if err != nil {
		return fmt.Errorf("createStream: %w", err)
	}
	id, ok := at(vals, 3).(float64)
	if !ok {
		return fmt.Errorf("createStream answered %v", vals)
	}
	c.id = uint32(id)
	if err := c.command(c.id, "publish", 0, nil, name, "live"); err != nil {
		return err
	}
	for {
		m, err := c.rd.ReadMessage()
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if info := onStatus(m); info != nil {
			if info["level"] == "error" {
				return fmt.Errorf("publish refused: %v: %v", info["code"], info["description"])
			}
			if info["code"] == "NetStream.Publish.Start" {
				return nil
			}
		}
	}
}

// appendObjectWith appends obj as an AMF0 object with one more property,
// key, a strict array of strings (which media.AppendAMF0 does not write).
func appendObjectWith(b []byte, obj []media.AMF0Prop, key string, list []string) []byte {
	o := media.AppendAMF0(nil, obj)
	b = append(b, o[:len(o)-3]...) // without the object end marker
	if list != nil {
		b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
		b = append(b, key...)
		b = append(b, 0x0a) // strict array
		b = binary.BigEndian.AppendUint32(b, uint32(len(list)))
		for _, s := range list {
			b = media.AppendAMF0(b, s)
		}
	}
	return append(b, 0, 0, 9)
}

// WriteFrame sends one frame on the publishing stream: FLV tag bodies as
// they are, script data as @setDataFrame.
func (c *Conn) WriteFrame(f media.Frame) error {
	switch f.Type {
	case media.FrameVideo:
		return c.write(csVideo, typeVideo, c.id, f.Timestamp, f.Payload)
	case media.FrameAudio:
		return c.write(csAudio, typeAudio, c.id, f.Timestamp, f.Payload)
	case media.FrameData:
		return c.write(csStream, typeData, c.id, f.Timestamp, append(media.AppendAMF0(nil, "@setDataFrame"), f.Payload...))
	}
	return fmt.Errorf("ertmppub: frame type %v", f.Type)
}

// Done is closed once the server has closed the connection (or it failed).
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended: an onStatus error the server sent, or
// the read error; nil while it is up.
func (c *Conn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.remote
}

// Close ends the publish (deleteStream) and the connection.
func (c *Conn) Close() error {
	_ = c.command(0, "deleteStream", 0, nil, float64(c.id))
	err := c.c.Close()
	<-c.done
	return err
}

// readLoop reads what the server sends while we publish: it must be read
// (acknowledgements), and an onStatus error is why the publish ended.
func (c *Conn) readLoop() {
	defer close(c.done)
	for {
		m, err := c.rd.ReadMessage()
		c.errMu.Lock()
		if err != nil && c.remote == nil {
			c.remote = err
		}
		if info := onStatus(m); err == nil && info != nil && info["level"] == "error" {
			c.remote = fmt.Errorf("server: %v: %v", info["code"], info["description"])
		}
		c.errMu.Unlock()
		if err != nil {
			return
		}
	}
}

// Publish dials and sends frames; realtime paces them on their timestamps.
// It returns the server's error if the server ends the publish.
func Publish(ctx context.Context, addr, app, name string, frames []media.Frame, realtime bool) error {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := Dial(dctx, addr, app, name, []string{media.FourCCHEVC})
	cancel()
	if err != nil {
		return err
	}
	start := time.Now()
	for _, f := range frames {
		if realtime {
			select {
			case <-ctx.Done():
				c.Close()
				return ctx.Err()
			case <-c.Done():
				return c.Err()
			case <-time.After(time.Until(start.Add(time.Duration(f.Timestamp) * time.Millisecond))):
			}
		}
		if err := c.WriteFrame(f); err != nil {
			if rerr := c.Err(); rerr != nil {
				err = rerr
			}
			c.Close()
			return err
		}
	}
	return c.Close()
}

func (c *Conn) command(streamID uint32, name string, tx float64, vals ...any) error {
	p := media.AppendAMF0(media.AppendAMF0(nil, name), tx)
	for _, v := range vals {
		if v == nil {
			p = append(p, media.AMF0Null)
			continue
		}
		p = media.AppendAMF0(p, v)
	}
	cs := byte(csCommand)
	if streamID != 0 {
		cs = csStream
	}
	return c.write(cs, typeCommand, streamID, 0, p)
}

// write sends one message in chunks of chunkSize, a full (fmt 0) header
// first, with the extended timestamp when it does not fit 24 bits.
func (c *Conn) write(cs byte, typ byte, streamID, ts uint32, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.buf[:0]
	ts24 := min(ts, 0xffffff)
	b = append(b, cs, byte(ts24>>16), byte(ts24>>8), byte(ts24), byte(len(p)>>16), byte(len(p)>>8), byte(len(p)), typ)
	b = binary.LittleEndian.AppendUint32(b, streamID)
	if ts24 == 0xffffff {
		b = binary.BigEndian.AppendUint32(b, ts)
	}
	for i := 0; i < len(p) || i == 0; i += chunkSize {
		if i > 0 {
			b = append(b, 0xc0|cs)
			if ts24 == 0xffffff {
				b = binary.BigEndian.AppendUint32(b, ts)
			}
		}
		b = append(b, p[i:min(i+chunkSize, len(p))]...)
		if len(p) == 0 {
			break
		}
	}
	c.buf = b
	if _, err := c.c.Write(b); err != nil {
		return fmt.Errorf("ertmppub: write: %w", err)
	}
	return nil
}

// await reads until the answer to the command of transaction tx.
func (c *Conn) await(tx float64) ([]any, error) {
	for {
		m, err := c.rd.ReadMessage()
		if err != nil {
			return nil, err
		}
		if m.TypeID != typeCommand {
			continue
		}
		vals := decodeAMF(m.Payload)
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

func onStatus(m rtmpwire.Message) map[string]any {
	if m.TypeID != typeCommand {
		return nil
	}
	vals := decodeAMF(m.Payload)
	if at(vals, 0) != "onStatus" {
		return nil
	}
	info, _ := at(vals, 3).(map[string]any)
	return info
}

func at(vals []any, i int) any {
	if i < len(vals) {
		return vals[i]
	}
	return nil
}

// decodeAMF decodes a command's AMF0 values up to the first it cannot.
func decodeAMF(b []byte) []any {
	var out []any
	for len(b) > 0 {
		v, rest, err := media.ReadAMF0(b)
		if err != nil {
			break
		}
		out = append(out, v)
		b = rest
	}
	return out
}

// handshake is the simple RTMP handshake: C0 C1, S0 S1 S2, C2 (S1 echoed).
func handshake(w io.Writer, r io.Reader) error {
	const size = rtmpwire.HandshakeSize
	c0c1 := make([]byte, 1+size)
	c0c1[0] = 3
	_, _ = rand.Read(c0c1[9:])
	if _, err := w.Write(c0c1); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	s := make([]byte, 1+2*size)
	if _, err := io.ReadFull(r, s); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if s[0] != 3 {
		return errors.New("handshake: server version is not 3")
	}
	if _, err := w.Write(s[1 : 1+size]); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	return nil
}
