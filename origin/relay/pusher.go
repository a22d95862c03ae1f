package relay

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewind-vod/rewind/internal/backoff"
	"github.com/rewind-vod/rewind/internal/ratemeter"
	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// Target states, as /v1/live shows them and the rewind_origin_relays gauge
// counts them.
const (
	stateConnecting = "connecting"
	statePublishing = "publishing"
	stateBackoff    = "backoff"
)

var states = []string{stateConnecting, statePublishing, stateBackoff}

// pusher pushes one stream to one target, from its own goroutine (run).
type pusher struct {
	rs      *stream
	target  target
	display string // the target URL without its query
	log     *slog.Logger
	ch      chan media.Frame
	ctx     context.Context // cancelled to give the push up
	cancel  context.CancelFunc
	done    chan struct{} // closed when run returns

	mu       sync.Mutex
	st       string
	since    time.Time
	lastErr  string
	failures uint64

	resync  atomic.Bool // a frame was dropped: skip to the next keyframe
	dropped atomic.Uint64
	// reportedDrops is the part of dropped told to Config.Results; only
	// the push's goroutine reads and moves it, so the publisher's never
	// calls out.
	reportedDrops uint64
	bytesOut      atomic.Uint64
	bitsOut       ratemeter.Meter
}

func (t *pusher) setState(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st == s {
		return
	}
	if t.st != "" {
		t.rs.r.states.WithLabelValues(t.st).Dec()
	}
	if s != "" {
		t.rs.r.states.WithLabelValues(s).Inc()
	}
	t.st, t.since = s, time.Now()
}

func (t *pusher) state() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st
}

// offer queues a frame for a publishing target. Frames that come while
// the target is down are not queued (it resumes on a keyframe anyway);
// frames that do not fit are dropped and counted.
func (t *pusher) offer(f media.Frame) {
	if t.state() != statePublishing {
		return
	}
	select {
	case t.ch <- f:
	default:
		t.dropped.Add(1)
		t.rs.r.drops.Inc()
		t.resync.Store(true)
	}
}

func (t *pusher) fail(err error) {
	t.mu.Lock()
	t.failures++
	t.lastErr = err.Error()
	t.mu.Unlock()
	t.rs.r.failures.Inc()
	t.report(Result{Failures: 1})
}

// reportDrops tells Config.Results the drops since the last time.
func (t *pusher) reportDrops() {
	if d := t.dropped.Load(); d > t.reportedDrops {
		t.report(Result{Dropped: int64(d - t.reportedDrops)})
		t.reportedDrops = d
	}
}

func (t *pusher) report(r Result) {
	if f := t.rs.r.cfg.Results; f != nil {
		f(t.target.addr, r)
	}
}

// run connects, publishes and reconnects with backoff until the stream
// ends (its queue is closed and drained) or it is cancelled.
func (t *pusher) run() {
	defer close(t.done)
	defer t.cancel()
	defer t.reportDrops() // after the state is cleared: no offer drops past it
	defer t.setState("")
	cfg := t.rs.r.cfg
	retry := backoff.Policy{Min: cfg.MinBackoff, Max: cfg.MaxBackoff}
	fails := 0 // since the last publish that got going
	for attempt := 0; ; attempt++ {
		t.setState(stateConnecting)
		rc, err := dial(t.ctx, t.target, cfg.Timeout)
		if err == nil {
			if attempt > 0 {
				t.rs.r.reconnects.Inc()
				t.report(Result{Reconnects: 1})
			}
			t.log.Info("relay publishing")
			fails = 0
			err = t.publish(rc)
			if err == nil {
				rc.finish(t.ctx)
				t.log.Info("relay ended")
				return
			}
			rc.close()
		}
		if t.ctx.Err() != nil {
			return
		}
		t.fail(err)
		fails++
		// Jitter keeps many relays to one CDN from reconnecting in step.
		wait := retry.Wait(fails)
		// go-rtmp errors carry stacks that %+v (slog) would print: log the message.
		t.log.Warn("relay failed; retrying", "err", err.Error(), "in", wait.Round(time.Millisecond))
		t.setState(stateBackoff)
		if !backoff.Sleep(t.ctx, wait) {
			return
		}
		// The stream may have ended while we waited.
		if t.drainClosed() {
			return
		}
	}
}

// drainClosed empties the queue of stale frames; it reports whether the
// stream has ended (the queue is closed).
func (t *pusher) drainClosed() bool {
	for {
		select {
		case _, ok := <-t.ch:
			if !ok {
				return true
			}
		default:
			return false
		}
	}
}

// publish sends the headers, then the queued frames from a keyframe on,
// until the queue is closed (nil) or a send fails.
func (t *pusher) publish(rc *conn) error {
	if t.drainClosed() {
		return nil
	}
	hs, hasVideo := t.rs.headers()
	for _, f := range hs {
		if err := t.send(rc, f); err != nil {
			return err
		}
	}
	t.resync.Store(false)
	t.setState(statePublishing)
	needKey := hasVideo
	for {
		select {
		case f, ok := <-t.ch:
			if !ok {
				return nil
			}
			if t.resync.Swap(false) {
				needKey = hasVideo
				t.reportDrops()
			}
			if f.Type == media.FrameVideo && media.IsVideoSeqHeader(f.Payload) {
				hasVideo = true
			} else if needKey && f.Type != media.FrameData {
				if f.Type != media.FrameVideo || !media.IsVideoKeyframe(f.Payload) {
					continue
				}
				needKey = false
			}
			if err := t.send(rc, f); err != nil {
				return err
			}
		case <-rc.readDone:
			return fmt.Errorf("target closed the connection: %w", rc.readErr)
		case <-t.ctx.Done():
			return t.ctx.Err()
		}
	}
}

// send writes one frame as the RTMP message an encoder would send.
func (t *pusher) send(rc *conn, f media.Frame) error {
	var err error
	switch f.Type {
	case media.FrameAudio:
		err = rc.write(t.ctx, rtmpwire.ChunkStreamAudio, rc.streamID, f.Timestamp, rtmpwire.AudioMessage(f.Payload))
	case media.FrameVideo:
		err = rc.write(t.ctx, rtmpwire.ChunkStreamVideo, rc.streamID, f.Timestamp, rtmpwire.VideoMessage(f.Payload))
	case media.FrameData:
		err = rc.write(t.ctx, rtmpwire.ChunkStreamData, rc.streamID, f.Timestamp, rtmpwire.SetDataFrameMessage(f.Payload))
	default:
		return nil
	}
	if err != nil {
		return err
	}
	n := uint64(len(f.Payload))
	t.bytesOut.Add(n)
	t.bitsOut.Add(time.Now(), 8*n)
	t.rs.r.bytesOut.Add(float64(n))
	return nil
}

func (t *pusher) status() origin.RelayStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return origin.RelayStatus{
		Target: t.display, State: t.st, Since: t.since, Failures: t.failures, LastError: t.lastErr,
		BytesOut: t.bytesOut.Load(), BitrateOut: t.bitsOut.Rate(time.Now()), FramesDropped: t.dropped.Load(),
	}
}
