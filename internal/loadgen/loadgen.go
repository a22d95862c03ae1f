// Package loadgen publishes pre-encoded FLV media over RTMP in real time,
// many streams at once, without an encoder per stream: the ingest
// benchmark's load.
package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/rewind-vod/rewind/internal/flvfile"
)

// Stats is what one publisher sent.
type Stats struct {
	Frames      int // audio + video messages
	VideoFrames int
	AudioFrames int
	Bytes       int64 // payload bytes
	MaxLate     time.Duration
}

// RTMP chunk stream ids as ffmpeg uses them.
const (
	csAudio = 4
	csVideo = 6
)

// Publish connects to addr (host:port), publishes app/name and replays tags
// in real time, looping the media (timestamps carry on) until d has
// passed. Sequence headers go first and are not repeated on loops.
func Publish(ctx context.Context, addr, app, name string, tags []flvfile.Tag, d time.Duration) (Stats, error) {
	var st Stats
	quiet := logrus.New()
	quiet.Out = io.Discard
	cc, err := rtmp.Dial("rtmp", addr, &rtmp.ConnConfig{Logger: quiet})
	if err != nil {
		return st, fmt.Errorf("loadgen: dial: %w", err)
	}
	defer cc.Close()
	if err := cc.Connect(&message.NetConnectionConnect{Command: ConnectCommand(addr, app)}); err != nil {
		return st, fmt.Errorf("loadgen: connect: %w", err)
	}
	s, err := cc.CreateStream(nil, 4096)
	if err != nil {
		return st, fmt.Errorf("loadgen: create stream: %w", err)
	}
	if err := s.Publish(&message.NetStreamPublish{PublishingName: name, PublishingType: "live"}); err != nil {
		return st, fmt.Errorf("loadgen: publish: %w", err)
	}
	headers, media := split(tags)
	if len(media) == 0 {
		return st, fmt.Errorf("loadgen: no media tags")
	}
	loopLen := media[len(media)-1].Timestamp - media[0].Timestamp + frameGap(media)
	write := func(t flvfile.Tag, ts uint32) error {
		var msg message.Message
		cs := csVideo
		switch t.Type {
		case 8:
			msg, cs = &message.AudioMessage{Payload: bytes.NewReader(t.Body)}, csAudio
			st.AudioFrames++
		case 9:
			msg = &message.VideoMessage{Payload: bytes.NewReader(t.Body)}
			st.VideoFrames++
		default:
			return nil
		}
		st.Frames++
		st.Bytes += int64(len(t.Body))
		if err := s.Write(cs, ts, msg); err != nil {
			return fmt.Errorf("loadgen: write: %w", err)
		}
		return nil
	}
	for _, h := range headers {
		if err := write(h, 0); err != nil {
			return st, err
		}
	}
	// Headers are not media frames.
	st.Frames, st.VideoFrames, st.AudioFrames = 0, 0, 0
	start := time.Now()
	base := media[0].Timestamp
	for loop := uint32(0); ; loop++ {
		for _, t := range media {
			ts := t.Timestamp - base + loop*loopLen
			at := start.Add(time.Duration(ts) * time.Millisecond)
			if time.Duration(ts)*time.Millisecond >= d {
				return st, nil
			}
			if wait := time.Until(at); wait > 0 {
				select {
				case <-ctx.Done():
					return st, nil
				case <-time.After(wait):
				}
			} else if -wait > st.MaxLate {
				st.MaxLate = -wait
			}
			if err := write(t, ts); err != nil {
				return st, err
			}
		}
	}
}

// ConnectCommand is the RTMP connect command as an encoder sends it: every
// real encoder sends tcUrl, and some servers (MediaMTX) refuse a connect
// without one ("invalid host").
func ConnectCommand(addr, app string) message.NetConnectionConnectCommand {
	return message.NetConnectionConnectCommand{
		App:      app,
		Type:     "nonprivate",
		FlashVer: "FMLE/3.0 (compatible; rewind loadgen)",
		TCURL:    "rtmp://" + addr + "/" + app,
	}
}

// split separates sequence headers (AVC/AAC config) from media frames.
func split(tags []flvfile.Tag) (headers, media []flvfile.Tag) {
	for _, t := range tags {
		switch {
		case t.Type == 9 && len(t.Body) > 1 && t.Body[1] == 0,
			t.Type == 8 && len(t.Body) > 1 && t.Body[1] == 0:
			headers = append(headers, t)
		case t.Type == 9 && len(t.Body) > 1 && t.Body[1] == 2:
			// AVC end of sequence: ffmpeg ends its files with one; it is
			// not a frame, and a loop must not carry it mid-stream.
		case t.Type == 8 || t.Type == 9:
			media = append(media, t)
		}
	}
	return headers, media
}

// frameGap is the video frame interval, so that a loop does not put two
// frames on one timestamp.
func frameGap(media []flvfile.Tag) uint32 {
	var last uint32
	seen := false
	for _, t := range media {
		if t.Type != 9 {
			continue
		}
		if seen && t.Timestamp > last {
			return t.Timestamp - last
		}
		last, seen = t.Timestamp, true
	}
	return 40
}
