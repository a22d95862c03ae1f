package origin

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/internal/backoff"
	"github.com/rewind-vod/rewind/media"
)

// RelayRule pushes the live streams it matches to an RTMP target.
type RelayRule struct {
	// Match is "*" (every stream), an app ("live") or a stream ("live/cam").
	Match string
	// Target is an rtmp:// URL; {app} and {name} are replaced by the
	// stream's, e.g. rtmp://cdn.example/live/{name}?key=abc.
	Target string
}

// ParseRelayRule reads "match=target", e.g. "live=rtmp://cdn/app/{name}".
func ParseRelayRule(s string) (RelayRule, error) {
	m, t, ok := strings.Cut(s, "=")
	if !ok {
		return RelayRule{}, fmt.Errorf("relay rule %q: want match=rtmp://host/app/name", redactTarget(s))
	}
	r := RelayRule{Match: strings.TrimSpace(m), Target: strings.TrimSpace(t)}
	return r, r.check()
}

// String is the rule as ParseRelayRule reads it, with the target's query
// (a stream key) hidden: it is for flag help and logs.
func (r RelayRule) String() string { return r.Match + "=" + redactTarget(r.Target) }

func (r RelayRule) check() error {
	switch app, name, isStream := strings.Cut(r.Match, "/"); {
	case r.Match == "*":
	case isStream:
		if _, err := catalog.NewStream(app, name); err != nil {
			return fmt.Errorf("relay rule match %q: %w", r.Match, err)
		}
	default:
		if _, err := catalog.NewStream(app, "x"); err != nil {
			return fmt.Errorf("relay rule match %q: %w", r.Match, err)
		}
	}
	_, err := parseRelayTarget(r.expand("app", "name"))
	return err
}

func (r RelayRule) matches(app, name string) bool {
	return r.Match == "*" || r.Match == app || r.Match == app+"/"+name
}

func (r RelayRule) expand(app, name string) string {
	return strings.NewReplacer("{app}", app, "{name}", name).Replace(r.Target)
}

// RelayConfig configures re-push to CDNs.
type RelayConfig struct {
	Rules []RelayRule
	// Queue is how many frames a target may fall behind before frames are
	// dropped for it (default 1024); after a drop it resumes on a keyframe.
	Queue int
	// Timeout bounds the connect and each send (default 10 s).
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnects
	// (default 1 s and 30 s; doubled per failure, with jitter).
	MinBackoff, MaxBackoff time.Duration
}

// DefaultRelayConfig is what NewRelay gives zero fields, and what the
// command line starts from.
func DefaultRelayConfig() RelayConfig {
	return RelayConfig{Queue: 1024, Timeout: 10 * time.Second, MinBackoff: time.Second, MaxBackoff: 30 * time.Second}
}

// Relay states.
const (
	relayConnecting = "connecting"
	relayPublishing = "publishing"
	relayBackoff    = "backoff"
)

var relayStates = []string{relayConnecting, relayPublishing, relayBackoff}

// Relay is a Sink that re-pushes live streams to RTMP targets (CDN ingest).
// Every target of every stream is isolated: its own bounded queue and
// goroutine, reconnects with backoff, drops counted; a failing target never
// touches ingest, the other sinks or the other targets.
type Relay struct {
	cfg RelayConfig
	log *slog.Logger

	mu      sync.Mutex
	streams map[string]*relayStream

	states     *prometheus.GaugeVec
	failures   prometheus.Counter
	drops      prometheus.Counter
	bytesOut   prometheus.Counter
	reconnects prometheus.Counter
}

// NewRelay checks the rules and makes the relay sink; reg may be nil.
func NewRelay(cfg RelayConfig, log *slog.Logger, reg prometheus.Registerer) (*Relay, error) {
	for _, r := range cfg.Rules {
		if err := r.check(); err != nil {
			return nil, err
		}
	}
	d := DefaultRelayConfig()
	if cfg.Queue <= 0 {
		cfg.Queue = d.Queue
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = d.Timeout
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = d.MinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(d.MaxBackoff, cfg.MinBackoff)
	}
	if log == nil {
		log = slog.Default()
	}
	f := promauto.With(reg)
	r := &Relay{
		cfg:     cfg,
		log:     log.With("component", "relay"),
		streams: map[string]*relayStream{},
		states: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rewind_origin_relays", Help: "Relay targets of live streams, by state (connecting, publishing, backoff).",
		}, []string{"state"}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_relay_failures_total", Help: "Relay connects or sends that failed.",
		}),
		drops: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_relay_drops_total", Help: "Frames dropped for relay targets that fell behind.",
		}),
		bytesOut: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_relay_bytes_out_total", Help: "Media bytes sent to relay targets.",
		}),
		reconnects: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_origin_relay_reconnects_total", Help: "Relay publishes started again after a failure.",
		}),
	}
	for _, s := range relayStates {
		r.states.WithLabelValues(s)
	}
	return r, nil
}

// Name labels this sink in metrics.
func (r *Relay) Name() string { return "relay" }

// relayStream is one publish and its targets.
type relayStream struct {
	r       *Relay
	key     string
	targets []*relayer

	mu       sync.Mutex // the headers a (re)connected target starts with
	meta     *media.Frame
	avcHdr   *media.Frame
	aacHdr   *media.Frame
	hasVideo bool
}

// Open starts a relay to every target whose rule matches the stream.
func (r *Relay) Open(info media.StreamInfo) (SinkStream, error) {
	rs := &relayStream{r: r, key: info.App + "/" + info.Name}
	seen := map[string]bool{}
	for _, rule := range r.cfg.Rules {
		if !rule.matches(info.App, info.Name) {
			continue
		}
		raw := rule.expand(info.App, info.Name)
		if seen[raw] {
			continue
		}
		seen[raw] = true
		t, err := parseRelayTarget(raw)
		if err != nil {
			// A name that makes the URL invalid: skip this target only.
			r.log.Warn("relay target skipped", "stream", rs.key, "err", err)
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		rl := &relayer{
			rs: rs, target: t, display: redactTarget(raw),
			ch: make(chan media.Frame, r.cfg.Queue), ctx: ctx, cancel: cancel, done: make(chan struct{}),
			log: r.log.With("stream", rs.key, "run", info.Run, "target", redactTarget(raw)),
		}
		rl.setState(relayConnecting)
		rs.targets = append(rs.targets, rl)
		go rl.run()
	}
	if len(rs.targets) > 0 {
		r.mu.Lock()
		r.streams[rs.key] = rs
		r.mu.Unlock()
	}
	return rs, nil
}

// WriteFrame keeps the headers and offers the frame to every target; it
// never blocks.
func (rs *relayStream) WriteFrame(f media.Frame) {
	if len(rs.targets) == 0 {
		return
	}
	rs.mu.Lock()
	switch {
	case f.Type == media.FrameData:
		rs.meta = &f
	case f.Type == media.FrameVideo && media.IsAVCSeqHeader(f.Payload):
		rs.avcHdr, rs.hasVideo = &f, true
	case f.Type == media.FrameAudio && media.IsAACSeqHeader(f.Payload):
		rs.aacHdr = &f
	}
	rs.mu.Unlock()
	for _, t := range rs.targets {
		t.offer(f)
	}
}

// headers are what a target gets first after it connects.
func (rs *relayStream) headers() (hs []media.Frame, hasVideo bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, f := range []*media.Frame{rs.meta, rs.avcHdr, rs.aacHdr} {
		if f != nil {
			hs = append(hs, *f)
		}
	}
	return hs, rs.hasVideo
}

// Close ends the publish at every target: what is queued is sent, then the
// stream is deleted; a target that is not publishing is given up at once.
func (rs *relayStream) Close() {
	rs.r.mu.Lock()
	if rs.r.streams[rs.key] == rs {
		delete(rs.r.streams, rs.key)
	}
	rs.r.mu.Unlock()
	for _, t := range rs.targets {
		close(t.ch)
		if t.state() != relayPublishing {
			t.cancel()
		}
	}
	grace := time.NewTimer(rs.r.cfg.Timeout)
	defer grace.Stop()
	for _, t := range rs.targets {
		select {
		case <-t.done:
		case <-grace.C:
			t.cancel()
			<-t.done
		}
	}
}

// relayer pushes one stream to one target.
type relayer struct {
	rs      *relayStream
	target  relayTarget
	display string
	log     *slog.Logger
	ch      chan media.Frame
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	st       string
	since    time.Time
	lastErr  string
	failures uint64

	resync   atomic.Bool // a frame was dropped: skip to the next keyframe
	dropped  atomic.Uint64
	bytesOut atomic.Uint64
	bitsOut  rateMeter
}

func (t *relayer) setState(s string) {
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

func (t *relayer) state() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st
}

// offer queues a frame for a publishing target. Frames that come while
// the target is down are not queued (it resumes on a keyframe anyway);
// frames that do not fit are dropped and counted.
func (t *relayer) offer(f media.Frame) {
	if t.state() != relayPublishing {
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

func (t *relayer) fail(err error) {
	t.mu.Lock()
	t.failures++
	t.lastErr = err.Error()
	t.mu.Unlock()
	t.rs.r.failures.Inc()
}

// run connects, publishes and reconnects with backoff until the stream
// ends (its queue is closed and drained) or it is cancelled.
func (t *relayer) run() {
	defer close(t.done)
	defer t.setState("")
	cfg := t.rs.r.cfg
	retry := backoff.Policy{Min: cfg.MinBackoff, Max: cfg.MaxBackoff}
	fails := 0 // since the last publish that got going
	for attempt := 0; ; attempt++ {
		t.setState(relayConnecting)
		rc, err := dialRelay(t.ctx, t.target, cfg.Timeout)
		if err == nil {
			if attempt > 0 {
				t.rs.r.reconnects.Inc()
			}
			t.log.Info("relay publishing")
			fails = 0
			err = t.publish(rc)
			if err == nil {
				rc.finish()
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
		t.setState(relayBackoff)
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
func (t *relayer) drainClosed() bool {
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
func (t *relayer) publish(rc *relayConn) error {
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
	t.setState(relayPublishing)
	needKey := hasVideo
	for {
		select {
		case f, ok := <-t.ch:
			if !ok {
				return nil
			}
			if t.resync.Swap(false) {
				needKey = hasVideo
			}
			if f.Type == media.FrameVideo && media.IsAVCSeqHeader(f.Payload) {
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

func (t *relayer) send(rc *relayConn, f media.Frame) error {
	var err error
	switch f.Type {
	case media.FrameAudio:
		err = rc.write(csidAudio, rc.streamID, f.Timestamp, audioMessage(f.Payload))
	case media.FrameVideo:
		err = rc.write(csidVideo, rc.streamID, f.Timestamp, videoMessage(f.Payload))
	case media.FrameData:
		err = rc.write(csidData, rc.streamID, f.Timestamp, setDataFrameMessage(f.Payload))
	default:
		return nil
	}
	if err != nil {
		return err
	}
	n := uint64(len(f.Payload))
	t.bytesOut.Add(n)
	t.bitsOut.add(time.Now(), 8*n)
	t.rs.r.bytesOut.Add(float64(n))
	return nil
}

func (t *relayer) status() RelayStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return RelayStatus{
		Target: t.display, State: t.st, Since: t.since, Failures: t.failures, LastError: t.lastErr,
		BytesOut: t.bytesOut.Load(), BitrateOut: t.bitsOut.rate(time.Now()), FramesDropped: t.dropped.Load(),
	}
}

func (r *Relay) outputStats(key string) (int, OutputStats, []RelayStatus) {
	r.mu.Lock()
	rs := r.streams[key]
	r.mu.Unlock()
	if rs == nil {
		return 0, OutputStats{}, nil
	}
	var out OutputStats
	var sts []RelayStatus
	for _, t := range rs.targets {
		s := t.status()
		out.BytesOut += s.BytesOut
		out.BitrateOut += s.BitrateOut
		sts = append(sts, s)
	}
	return 0, out, sts
}
