package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewind-vod/rewind/internal/rtmpclient"
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
// the next keyframe: the player is not watching before it), got with each
// one's payload size. With untilFirst it returns nil right after the first
// video message.
func (v *rtmpViewer) play(ctx context.Context, first func(), got func(int), untilFirst bool) error {
	p, err := rtmpclient.Dial(ctx, v.addr, app, v.name, "LNX 9,0,124,2")
	if err != nil {
		return err
	}
	defer p.Close()
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	started := false
	for {
		m, err := p.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the server closed the stream's end
			}
			return fmt.Errorf("rtmp play %s/%s: %w", app, v.name, err)
		}
		switch m.TypeID {
		case rtmpclient.TypeAudio, rtmpclient.TypeVideo:
			if !started && m.TypeID == rtmpclient.TypeVideo {
				started = true
				first()
			}
			got(len(m.Payload))
			if untilFirst && m.TypeID == rtmpclient.TypeVideo {
				return nil
			}
		default:
			if err := rtmpclient.StatusError(m); err != nil {
				return fmt.Errorf("rtmp play %s/%s: %w", app, v.name, err)
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
