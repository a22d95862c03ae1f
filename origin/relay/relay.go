// Package relay re-pushes live streams to RTMP targets (CDN ingest), per
// rule: --relay match=rtmp://host/app/{name}.
//
// A Relay is an origin.Sink: the origin hands it the frames of every
// publish. Every target of every stream is isolated: its own bounded queue
// and goroutine, reconnects with backoff, drops counted; a failing target
// never touches ingest, the other sinks or the other targets. It reports
// its targets to /v1/live as an origin.OutputReporter.
//
// It is a package of its own, outside origin, so that it can grow
// (multi-CDN scheduling will pick and switch the targets of a stream)
// against the Sink contract alone, never against the origin's internals.
package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin"
)

// Config configures re-push to CDNs.
type Config struct {
	Rules []Rule
	// Queue is how many frames a target may fall behind before frames are
	// dropped for it (default 1024); after a drop it resumes on a keyframe.
	Queue int
	// Timeout bounds the connect and each send (default 10 s).
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnects
	// (default 1 s and 30 s; doubled per failure, with jitter).
	MinBackoff, MaxBackoff time.Duration
	// Results, when set, is told each target's faults as they happen, by
	// the target's host:port (each relay target is a CDN's ingest, so the
	// scheduler counts them against that CDN). It must not block: it runs
	// on the push's goroutine (drops are told in batches, as the push
	// resumes after them and when it ends).
	Results func(addr string, r Result) `json:"-"`
}

// Result is one fault of a relay target.
type Result struct {
	Failures   int64 // a connect, publish or send that failed
	Reconnects int64 // a publish started again after a failure
	Dropped    int64 // frames dropped because the target fell behind
}

// Relay is a Sink that re-pushes live streams to the RTMP targets of the
// rules that match them.
type Relay struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	streams map[string]*stream // by app/name

	states     *prometheus.GaugeVec
	failures   prometheus.Counter
	drops      prometheus.Counter
	bytesOut   prometheus.Counter
	reconnects prometheus.Counter
}

var (
	_ origin.Sink           = (*Relay)(nil)
	_ origin.OutputReporter = (*Relay)(nil)
)

// DefaultConfig is what New gives zero fields, and what the command line
// starts from.
func DefaultConfig() Config {
	return Config{Queue: 1024, Timeout: 10 * time.Second, MinBackoff: time.Second, MaxBackoff: 30 * time.Second}
}

// New checks the rules and makes the relay sink; its metrics are
// registered on reg (which may be nil) whether or not there are rules.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Relay, error) {
	for _, r := range cfg.Rules {
		if err := r.check(); err != nil {
			return nil, err
		}
	}
	d := DefaultConfig()
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
		streams: map[string]*stream{},
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
	for _, s := range states {
		r.states.WithLabelValues(s)
	}
	return r, nil
}

// Name labels this sink in metrics.
func (r *Relay) Name() string { return "relay" }

// Open starts a push to every target whose rule matches the stream.
func (r *Relay) Open(info media.StreamInfo) (origin.SinkStream, error) {
	rs := &stream{r: r, key: info.App + "/" + info.Name}
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
		t, err := parseTarget(raw)
		if err != nil {
			// A name that makes the URL invalid: skip this target only.
			r.log.Warn("relay target skipped", "stream", rs.key, "err", err)
			continue
		}
		// Each push lives until the stream's Close ends or cancels it.
		ctx, cancel := context.WithCancel(context.Background())
		p := &pusher{
			rs: rs, target: t, display: redact(raw),
			ch: make(chan media.Frame, r.cfg.Queue), ctx: ctx, cancel: cancel, done: make(chan struct{}),
			log: r.log.With("stream", rs.key, "run", info.Run, "target", redact(raw)),
		}
		p.setState(stateConnecting)
		rs.targets = append(rs.targets, p)
		go p.run()
	}
	if len(rs.targets) > 0 {
		r.mu.Lock()
		r.streams[rs.key] = rs
		r.mu.Unlock()
	}
	return rs, nil
}

// Outputs reports what the targets of a live stream were sent and their
// state (origin.OutputReporter); a relay has no players.
func (r *Relay) Outputs(app, name string) (int, origin.OutputStats, []origin.RelayStatus) {
	r.mu.Lock()
	rs := r.streams[app+"/"+name]
	r.mu.Unlock()
	if rs == nil {
		return 0, origin.OutputStats{}, nil
	}
	var out origin.OutputStats
	var sts []origin.RelayStatus
	for _, t := range rs.targets {
		s := t.status()
		out.BytesOut += s.BytesOut
		out.BitrateOut += s.BitrateOut
		sts = append(sts, s)
	}
	return 0, out, sts
}

// stream is one publish and its targets.
type stream struct {
	r       *Relay
	key     string
	targets []*pusher

	mu       sync.Mutex // the headers a (re)connected target starts with
	meta     *media.Frame
	avcHdr   *media.Frame
	aacHdr   *media.Frame
	hasVideo bool
}

// WriteFrame keeps the headers and offers the frame to every target; it
// never blocks.
func (rs *stream) WriteFrame(f media.Frame) {
	if len(rs.targets) == 0 {
		return
	}
	rs.mu.Lock()
	switch {
	case f.Type == media.FrameData:
		rs.meta = &f
	case f.Type == media.FrameVideo && media.IsVideoSeqHeader(f.Payload):
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
func (rs *stream) headers() (hs []media.Frame, hasVideo bool) {
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
func (rs *stream) Close() {
	rs.r.mu.Lock()
	if rs.r.streams[rs.key] == rs {
		delete(rs.r.streams, rs.key)
	}
	rs.r.mu.Unlock()
	for _, t := range rs.targets {
		close(t.ch)
		if t.state() != statePublishing {
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
