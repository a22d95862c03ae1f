// Package origin is the RTMP ingest server: it accepts publishes
// (rtmp://host/{app}/{name}?query) on github.com/yutopp/go-rtmp, checks the
// stream name and the publish auth (signed query and/or HTTP hook), applies
// the takeover policy and the connection limits, and fans every frame out to
// the configured sinks (the recorder) through bounded per-sink queues.
package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/yutopp/go-rtmp"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// Takeover policies.
const (
	TakeoverReject  = "reject"  // a second publisher of a live stream is refused
	TakeoverReplace = "replace" // the live publisher is disconnected and the newcomer takes over
)

// Defaults applied by New to zero Config fields.
const (
	DefaultAddr           = "127.0.0.1:1935"
	DefaultHookTimeout    = 3 * time.Second
	DefaultMaxConns       = 1000
	DefaultMaxPublishers  = 500
	DefaultMaxMessageSize = 8 << 20
	DefaultReadTimeout    = 10 * time.Second
	DefaultSetupTimeout   = 10 * time.Second
	// DefaultPublishReadPause: see Config.PublishReadPause.
	DefaultPublishReadPause = 20 * time.Millisecond
	DefaultSinkQueue        = 4096
	DefaultStreamSeries     = 100
)

// DefaultConfig is the configuration New gives zero fields: what the
// command line starts from, so each default is written once.
func DefaultConfig() Config {
	return Config{
		Addr:             DefaultAddr,
		Node:             defaultNode(),
		Auth:             AuthConfig{HookTimeout: DefaultHookTimeout},
		Takeover:         TakeoverReject,
		MaxConns:         DefaultMaxConns,
		MaxPublishers:    DefaultMaxPublishers,
		MaxMessageSize:   DefaultMaxMessageSize,
		ReadTimeout:      DefaultReadTimeout,
		SetupTimeout:     DefaultSetupTimeout,
		PublishReadPause: DefaultPublishReadPause,
		SinkQueue:        DefaultSinkQueue,
		MaxStreamSeries:  DefaultStreamSeries,

		HeartbeatInterval: DefaultHeartbeatInterval,
		RecentWindow:      DefaultRecentWindow,
	}
}

// defaultNode is the host name as a node name.
func defaultNode() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown"
	}
	return catalog.SanitizeNode(h)
}

// Config configures the origin. Zero values take the defaults above.
type Config struct {
	Addr string // listen address for ListenAndServe
	// AdminCORSOrigins are the web origins (scheme://host[:port], or "*")
	// whose pages may call the live API from a browser: the operator
	// console when the replay API serves it from another host.
	AdminCORSOrigins []string
	Node             string // node name, in media.StreamInfo and run ids (default: host name)
	Auth             AuthConfig
	// Takeover is TakeoverReject (default) or TakeoverReplace. With
	// replace the stream's live players stay connected and go on with the
	// new publisher (Players, playerswait.go); the recording starts a new
	// run.
	Takeover string
	// MaxConns bounds open connections; extra ones are closed at accept.
	MaxConns int
	// MaxPublishers bounds live publishers; extra publishes are refused.
	MaxPublishers int
	// MaxMessageSize (bytes) bounds an audio, video or data message; a
	// connection sending a larger one is dropped.
	MaxMessageSize int
	// ReadTimeout drops a connection that sends nothing for that long (idle
	// before publishing, or a stalled publisher).
	ReadTimeout time.Duration
	// SetupTimeout bounds the time from accept until a publish or play is
	// accepted (handshake, connect, createStream, publish/play): a peer
	// that trickles bytes never trips ReadTimeout, this it does.
	SetupTimeout time.Duration
	// PublishReadPause batches a publisher's socket reads: its reader wakes
	// once 32 KiB are waiting (SO_RCVLOWAT), when the peer closes, or this
	// long after its last read, so one read takes several messages
	// (trackedConn.readBatched). It saves most of the per-message wake-ups
	// and system calls, and adds up to this much latency to live play.
	// Negative: a read per arrival.
	PublishReadPause time.Duration
	// SinkQueue is how many frames are buffered per sink per stream before
	// frames are dropped for that sink.
	SinkQueue int
	// Players answers RTMP plays (nil: they are refused). It gets the live
	// frames as a sink: New adds it to the sinks when it is not among them.
	Players *Players
	// MaxStreamSeries bounds the per-stream metrics (bit rate, fps): the
	// oldest live streams up to this many get series, the rest are only
	// counted (default 100), so label cardinality stays bounded.
	MaxStreamSeries int

	// Registry, when set, gets the node's heartbeat (a *catalog.Registry):
	// how the proxies and the other nodes find the node and its streams.
	// Nil: no heartbeat.
	Registry NodeRegistry
	// AdvertiseRTMP and AdvertiseHTTP are the host:port at which the
	// proxies and the other nodes reach this node (it may bind 0.0.0.0).
	// Default: the RTMP listen address, and HTTPAddr, when they are
	// concrete IPs; with Registry set, New fails without them.
	AdvertiseRTMP string
	AdvertiseHTTP string
	// HTTPAddr is the node's HTTP listen address (HTTP-FLV, API), which
	// the caller serves; the origin only derives AdvertiseHTTP from it.
	HTTPAddr string
	// HeartbeatInterval is how often the heartbeat is written (default
	// 2s); it is also written at once when the live streams change and on
	// Drain.
	HeartbeatInterval time.Duration
	// RecentWindow is how long an ended stream stays in the heartbeat's
	// Recent list (default 60s), so a returning publisher is routed back.
	RecentWindow time.Duration

	// Recorder is the recorder's sink (nil: none). New wraps it in a
	// RecordControl, so RecordPolicy decides which publishes it records
	// and the admin API can stop and start it on a live stream.
	Recorder Sink
	// RecordPolicy: which streams are recorded, with which segment
	// duration (the recorder reads the durations from its own Config).
	RecordPolicy RecordPolicy
}

// AuthConfig configures publish auth. With no secrets and no hook, any
// valid stream name may publish.
type AuthConfig struct {
	// Secrets are the HMAC secrets for signed publish queries (catalog.SignToken, purpose publish);
	// any one may match, so a new secret can be added before the old one is
	// removed. Empty: no signature required.
	Secrets []string
	// HookURL, if set, is POSTed a HookRequest for every publish; 2xx
	// allows it.
	HookURL string
	// HookTimeout bounds the hook call (default 3s).
	HookTimeout time.Duration
	// HookFailOpen allows the publish when the hook cannot be reached or
	// times out (a non-2xx answer still refuses).
	HookFailOpen bool
}

// Server is an RTMP ingest server. Create it with New and run it with Serve
// or ListenAndServe; a Server serves once.
type Server struct {
	cfg   Config
	sinks []namedSink
	log   *slog.Logger
	m     *metrics
	hook  *hookClient

	// ctx is cancelled when Serve begins shutting down; set before any
	// connection exists.
	ctx    context.Context
	cancel context.CancelFunc
	fatal  chan error

	mu      sync.Mutex
	served  bool
	closing bool
	// draining: new publishes are refused, live ones go on (see Drain).
	draining atomic.Bool
	addr     net.Addr
	conns    map[*trackedConn]struct{}
	lastMax  time.Time // last "max connections" log line

	hub hub
	wg  sync.WaitGroup // connections and sink goroutines
	hb  *heartbeat     // nil without cfg.Registry
	rec *RecordControl // nil without cfg.Recorder
}

// New checks cfg, applies the defaults and registers the metrics on reg
// (nil: not registered).
func New(cfg Config, sinks []Sink, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := normalize(&cfg); err != nil {
		return nil, err
	}
	for i, s := range sinks {
		if s == nil {
			return nil, fmt.Errorf("origin: sink %d is nil", i)
		}
	}
	if err := cfg.RecordPolicy.check(); err != nil {
		return nil, fmt.Errorf("origin: %w", err)
	}
	var rec *RecordControl
	if cfg.Recorder != nil {
		rec = newRecordControl(cfg.Recorder, cfg.RecordPolicy, logger, reg)
		sinks = append([]Sink{rec}, sinks...)
	}
	if cfg.Players != nil && !slices.Contains(sinks, Sink(cfg.Players)) {
		sinks = append(slices.Clip(sinks), cfg.Players)
	}
	named := sinkNames(sinks)
	names := make([]string, len(named))
	for i, n := range named {
		names[i] = n.name
	}
	m := newMetrics(reg, names)
	s := &Server{
		cfg:   cfg,
		sinks: named,
		log:   logger,
		m:     m,
		fatal: make(chan error, 1),
		conns: map[*trackedConn]struct{}{},
		hub:   hub{slots: map[string]*slot{}, live: map[*publication]struct{}{}},
		rec:   rec,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if reg != nil {
		reg.MustRegister(&streamCollector{s: s})
	}
	if cfg.Auth.HookURL != "" {
		s.hook = newHookClient(cfg.Auth.HookURL, cfg.Auth.HookTimeout)
	}
	if cfg.Registry != nil {
		s.hb = newHeartbeat(s, reg)
	}
	return s, nil
}

func normalize(cfg *Config) error {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Node == "" {
		cfg.Node = defaultNode()
	}
	// The name becomes part of storage keys (run ids, the heartbeat): a
	// host name's '-' and '.' become '_', as in run ids.
	cfg.Node = catalog.SanitizeNode(cfg.Node)
	switch cfg.Takeover {
	case "":
		cfg.Takeover = TakeoverReject
	case TakeoverReject, TakeoverReplace:
	default:
		return fmt.Errorf("origin: takeover policy %q: want %q or %q", cfg.Takeover, TakeoverReject, TakeoverReplace)
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxConns", &cfg.MaxConns, DefaultMaxConns},
		{"MaxPublishers", &cfg.MaxPublishers, DefaultMaxPublishers},
		{"MaxMessageSize", &cfg.MaxMessageSize, DefaultMaxMessageSize},
		{"SinkQueue", &cfg.SinkQueue, DefaultSinkQueue},
		{"MaxStreamSeries", &cfg.MaxStreamSeries, DefaultStreamSeries},
	} {
		if *f.v < 0 {
			return fmt.Errorf("origin: %s is negative (%d)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ReadTimeout", &cfg.ReadTimeout, DefaultReadTimeout},
		{"SetupTimeout", &cfg.SetupTimeout, DefaultSetupTimeout},
		{"Auth.HookTimeout", &cfg.Auth.HookTimeout, DefaultHookTimeout},
	} {
		if *f.v < 0 {
			return fmt.Errorf("origin: %s is negative (%s)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.PublishReadPause == 0 {
		cfg.PublishReadPause = DefaultPublishReadPause
	}
	cfg.Auth.Secrets = slices.Clone(cfg.Auth.Secrets)
	for i, sec := range cfg.Auth.Secrets {
		if sec == "" {
			return fmt.Errorf("origin: auth secret %d is empty", i)
		}
	}
	if cfg.Auth.HookURL != "" {
		u, err := url.Parse(cfg.Auth.HookURL)
		if err != nil {
			return fmt.Errorf("origin: auth hook URL: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("origin: auth hook URL %q: want http(s)://host/...", cfg.Auth.HookURL)
		}
	}
	return normalizeCluster(cfg)
}

// ListenAndServe listens on cfg.Addr and serves until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("origin: listen %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts RTMP connections on ln until ctx is done. It then closes
// the listener and every connection, waits until every publish has ended
// and every sink stream is closed, and returns nil. It returns an error if
// the listener fails for good (it shuts down the same way first).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.served {
		s.mu.Unlock()
		return errors.New("origin: Serve called twice")
	}
	s.served = true
	s.addr = ln.Addr()
	s.mu.Unlock()
	if err := s.hb.listening(ln.Addr()); err != nil {
		s.cancel()
		_ = ln.Close()
		return err
	}

	s.log.Info("rtmp origin listening", "addr", ln.Addr().String(), "node", s.cfg.Node,
		"takeover", s.cfg.Takeover, "signed", len(s.cfg.Auth.Secrets) > 0, "hook", s.cfg.Auth.HookURL != "")

	s.hb.start(s.ctx)
	rs := rtmp.NewServer(&rtmp.ServerConfig{OnConnect: s.onConnect})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = rs.Serve(&trackedListener{Listener: ln, srv: s}) // returns rtmp.ErrClosed once rs.Close is called
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-s.fatal:
		err = fmt.Errorf("origin: accept: %w", err)
	}

	s.mu.Lock()
	s.closing = true
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.log.Info("rtmp origin shutting down", "connections", len(conns))
	s.stopWaiting() // players waiting for a publisher end with the node

	s.cancel() // hooks, hand-over waits and the heartbeat give up
	_ = rs.Close()
	_ = ln.Close() // rs.Close misses it if go-rtmp had not registered it yet
	<-served
	s.hb.stop() // the others forget the node now, not after the dead-node timeout
	for _, c := range conns {
		c.kill("shutdown")
	}
	s.wg.Wait()
	s.log.Info("rtmp origin stopped")
	return err
}

// Addr returns the listening address, or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// fail reports a fatal listener error to Serve.
func (s *Server) fail(err error) {
	select {
	case s.fatal <- err:
	default:
	}
}

// track registers an accepted connection, or closes it when the server is
// full or shutting down.
func (s *Server) track(nc net.Conn) *trackedConn {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = nc.Close()
		return nil
	}
	if len(s.conns) >= s.cfg.MaxConns {
		logIt := time.Since(s.lastMax) >= time.Second
		if logIt {
			s.lastMax = time.Now()
		}
		s.mu.Unlock()
		s.m.rejected.WithLabelValues(reasonMaxConns).Inc() // before the close: whoever sees it sees the count
		_ = nc.Close()
		if logIt {
			s.log.Warn("too many connections, refusing", "client", nc.RemoteAddr().String(), "max", s.cfg.MaxConns)
		}
		return nil
	}
	remote := nc.RemoteAddr().String()
	now := time.Now()
	c := &trackedConn{
		Conn:          nc,
		srv:           s,
		remote:        remote,
		opened:        now,
		timeout:       s.cfg.ReadTimeout,
		setupTimeout:  s.cfg.SetupTimeout,
		setupDeadline: now.Add(s.cfg.SetupTimeout),
		log:           s.log.With("client", remote),
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.m.conns.Inc()
	s.m.connsTotal.Inc()
	c.log.Debug("rtmp connection opened")
	return c
}

// untrack runs once go-rtmp has closed the connection: it logs how the
// connection ended and releases it.
func (s *Server) untrack(c *trackedConn) {
	reason, cause, rejected := c.endReason()
	if rejected {
		s.m.rejected.WithLabelValues(reason).Inc()
	}
	attrs := []any{"reason", reason, "duration", time.Since(c.opened).Round(time.Millisecond), "bytes_in", c.bytesIn.Load()}
	if cause != "" {
		attrs = append(attrs, "err", cause)
	}
	if rejected {
		c.log.Warn("rtmp connection dropped", attrs...)
	} else {
		c.log.Info("rtmp connection closed", attrs...)
	}
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.m.conns.Dec()
	s.wg.Done()
}

// onConnect is go-rtmp's per-connection setup, on the connection's goroutine.
func (s *Server) onConnect(nc net.Conn) (io.ReadWriteCloser, *rtmp.ConnConfig) {
	c := nc.(*trackedConn) // trackedListener hands out only these
	h := &connHandler{s: s, c: c, log: c.log}
	c.wire = rtmpwire.NewConn(c, s.setupLimits())
	h.wire = newWireConn(c.wire, c)
	return h.wire, &rtmp.ConnConfig{
		Handler: h,
		// Our wire layer did the real handshake; go-rtmp gets a synthetic
		// one that it must not check.
		SkipHandshakeVerification: true,
		ControlState: rtmp.StreamControlStateConfig{
			// go-rtmp allows 2^32 of each by default. It only ever sees
			// chunk streams 2 and 3 from our wire layer; the bound stays as
			// a backstop.
			MaxChunkStreams:   64,
			MaxMessageStreams: 16,
		},
		Logger: newRTMPLogger(c),
	}
}

// Memory a connection may hold in unfinished messages. Before its publish
// or play is accepted a peer has sent nothing that needs much: commands are
// small, so a connection that never gets that far costs little.
const (
	setupMaxMessage  = 64 << 10
	setupMaxBuffered = 256 << 10
	// liveBufferMargin is what a publisher may hold past one maximal
	// message: audio and metadata interleaved with a big keyframe.
	liveBufferMargin = 1 << 20
)

func (s *Server) setupLimits() rtmpwire.Limits {
	return rtmpwire.Limits{
		MaxMessageSize: min(setupMaxMessage, s.cfg.MaxMessageSize),
		MaxBuffered:    setupMaxBuffered,
	}
}

func (s *Server) publishLimits() rtmpwire.Limits {
	return rtmpwire.Limits{
		MaxMessageSize: s.cfg.MaxMessageSize,
		MaxBuffered:    s.cfg.MaxMessageSize + liveBufferMargin,
	}
}

// authorize runs the publish auth: the signed query first (cheap), then the
// hook; both must pass when both are configured.
func (s *Server) authorize(st catalog.Stream, rawQuery, remote string) error {
	if len(s.cfg.Auth.Secrets) > 0 {
		q, _ := url.ParseQuery(rawQuery) // keeps what parses; a mangled query fails the check below
		if err := VerifySignature(s.cfg.Auth.Secrets, st, q, time.Now()); err != nil {
			return &refusal{reason: signatureReason(err), err: err}
		}
	}
	if s.hook == nil {
		return nil
	}
	err := s.hook.check(s.ctx, HookRequest{
		App:        st.App,
		Name:       st.Name,
		Query:      rawQuery,
		ClientAddr: remote,
		Node:       s.cfg.Node,
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errHookDenied):
		return &refusal{reason: reasonHookDenied, err: err}
	case s.cfg.Auth.HookFailOpen && s.ctx.Err() == nil:
		s.log.Warn("publish hook failed, allowing (fail-open)", "client", remote, "stream", st.String(), "err", err)
		return nil
	default:
		return &refusal{reason: reasonHookError, err: err}
	}
}

// countRefusal counts a refused publish under the right metric.
func (s *Server) countRefusal(reason string) {
	if slices.Contains(authReasons, reason) {
		s.m.authDenied.WithLabelValues(reason).Inc()
		return
	}
	s.m.rejected.WithLabelValues(reason).Inc()
}
