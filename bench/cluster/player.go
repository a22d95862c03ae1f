package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rewind-vod/rewind/internal/rtmpclient"
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

// rtmpFirstKeyframe plays rtmp://addr/app/name the way ffmpeg does
// (handshake, connect, createStream, play, each waiting for its answer)
// and reads messages until a video keyframe; it returns the time from the
// start of the TCP connect.
func rtmpFirstKeyframe(ctx context.Context, addr, app, name string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, playTimeout)
	defer cancel()
	start := time.Now()
	p, err := rtmpclient.Dial(ctx, addr, app, name, "FMLE/3.0 (compatible; rewind-bench)")
	if err != nil {
		return 0, err
	}
	defer p.Close()
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	for {
		m, err := p.Next()
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%w)", ctx.Err(), err)
			}
			return 0, fmt.Errorf("rtmp play %s/%s at %s: waiting for a keyframe: %w", app, name, addr, err)
		}
		if m.TypeID == rtmpclient.TypeVideo && keyPicture(m.Payload) {
			return time.Since(start), nil
		}
		if err := rtmpclient.StatusError(m); err != nil {
			return 0, fmt.Errorf("rtmp play %s/%s at %s: %w", app, name, addr, err)
		}
	}
}
