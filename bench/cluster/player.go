package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// The players of the first-frame figures. Each try is a new connection
// (TCP connect included) and ends when the first video keyframe that
// carries a picture (not a sequence header) has been received whole: the
// time a real player could show something, less its decoding.

// playTimeout bounds one try.
const playTimeout = 15 * time.Second

// keyPicture reports whether an FLV video tag body (an RTMP video message
// payload) is a keyframe with a picture: legacy FLV with AVC or HEVC
// NALUs, or enhanced RTMP coded frames.
func keyPicture(body []byte) bool {
	if len(body) < 2 {
		return false
	}
	b0 := body[0]
	if b0&0x80 != 0 { // enhanced RTMP: frame type in bits 4-6, packet type in 0-3
		ft, pt := (b0>>4)&7, b0&0x0f
		return ft == 1 && (pt == 1 || pt == 3)
	}
	if b0>>4 != 1 {
		return false
	}
	switch b0 & 0x0f {
	case 7, 12: // AVC, HEVC: 1 is a NALU (0 a sequence header, 2 an end of sequence)
		return body[1] == 1
	}
	return true
}

// flvClient makes every request on a new connection.
var flvClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}

// flvFirstKeyframe GETs an HTTP-FLV url and reads FLV tags until a video
// keyframe; it returns the time from the start of the request.
func flvFirstKeyframe(ctx context.Context, url string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, playTimeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("play %s: %w", url, err)
	}
	resp, err := flvClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("play %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("play %s: %s", url, resp.Status)
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var h [13]byte // FLV header and PreviousTagSize0
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, fmt.Errorf("play %s: flv header: %w", url, err)
	}
	if string(h[:3]) != "FLV" {
		return 0, fmt.Errorf("play %s: not FLV", url)
	}
	if off := binary.BigEndian.Uint32(h[5:9]); off != 9 {
		if off < 9 || off > 1024 {
			return 0, fmt.Errorf("play %s: bad FLV header size %d", url, off)
		}
		if _, err := br.Discard(int(off - 9)); err != nil {
			return 0, fmt.Errorf("play %s: flv header: %w", url, err)
		}
	}
	var body []byte
	for {
		var th [11]byte
		if _, err := io.ReadFull(br, th[:]); err != nil {
			return 0, fmt.Errorf("play %s: flv tag header: %w", url, err)
		}
		size := int(th[1])<<16 | int(th[2])<<8 | int(th[3])
		if cap(body) < size {
			body = make([]byte, size)
		}
		body = body[:size]
		if _, err := io.ReadFull(br, body); err != nil {
			return 0, fmt.Errorf("play %s: flv tag body: %w", url, err)
		}
		if _, err := br.Discard(4); err != nil { // PreviousTagSize
			return 0, fmt.Errorf("play %s: flv tag end: %w", url, err)
		}
		if th[0]&0x1f == 9 && keyPicture(body) {
			return time.Since(start), nil
		}
	}
}

// RTMP message type ids the player acts on.
const (
	typeCommand = 20
	typeVideo   = 9
)

// rtmpFirstKeyframe plays rtmp://addr/app/name the way ffmpeg does
// (handshake, connect, createStream, play, each waiting for its answer)
// and reads messages until a video keyframe; it returns the time from the
// start of the TCP connect.
func rtmpFirstKeyframe(ctx context.Context, addr, app, name string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, playTimeout)
	defer cancel()
	start := time.Now()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("rtmp play %s: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	p := &rtmpPlayer{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	if err := p.play(app, name); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return 0, fmt.Errorf("rtmp play %s/%s at %s: %w", app, name, addr, err)
	}
	return time.Since(start), nil
}

type rtmpPlayer struct {
	c  net.Conn
	br *bufio.Reader
	rd *rtmpwire.Reader
}

func (p *rtmpPlayer) play(app, name string) error {
	if err := p.handshake(); err != nil {
		return err
	}
	p.rd = rtmpwire.NewReader(p.br, rtmpwire.Limits{MaxMessageSize: 16 << 20, MaxBuffered: 32 << 20})
	if err := p.command(3, 0, "connect", 1, []prop{
		{"app", app}, {"type", "nonprivate"}, {"flashVer", "FMLE/3.0 (compatible; rewind-bench)"},
		{"tcUrl", "rtmp://" + p.c.RemoteAddr().String() + "/" + app},
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
	if err := p.command(8, uint32(id), "play", 0, nil, name, -2000.0); err != nil {
		return err
	}
	for {
		m, err := p.rd.ReadMessage()
		if err != nil {
			return fmt.Errorf("waiting for a keyframe: %w", err)
		}
		switch m.TypeID {
		case typeVideo:
			if keyPicture(m.Payload) {
				return nil
			}
		case typeCommand:
			vals, _ := decodeAMF(m.Payload)
			if at(vals, 0) == "onStatus" {
				if info, ok := at(vals, 3).(map[string]any); ok && info["level"] == "error" {
					return fmt.Errorf("play: %v", info["code"])
				}
			}
		}
	}
}

// handshake is the simple RTMP handshake: C0 C1, S0 S1 S2, C2 (S1 echoed).
func (p *rtmpPlayer) handshake() error {
	const size = 1536
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
func (p *rtmpPlayer) command(cs byte, streamID uint32, name string, tx float64, vals ...any) error {
	payload := appendAMF(appendAMF(nil, name), tx)
	for _, v := range vals {
		payload = appendAMF(payload, v)
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
func (p *rtmpPlayer) awaitResult(tx float64) ([]any, error) {
	for {
		m, err := p.rd.ReadMessage()
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
