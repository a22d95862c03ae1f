package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/internal/backoff"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultDialTimeout    = 3 * time.Second
	DefaultSetupTimeout   = 10 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultMaxConns       = 10000
	DefaultMaxMessageSize = 64 << 10
	DefaultMaxAttempts    = 3
)

// DefaultConfig is what New gives zero fields (Directory aside), and what
// the command line starts from.
func DefaultConfig() Config {
	return Config{
		DialTimeout:    DefaultDialTimeout,
		SetupTimeout:   DefaultSetupTimeout,
		WriteTimeout:   DefaultWriteTimeout,
		MaxConns:       DefaultMaxConns,
		MaxMessageSize: DefaultMaxMessageSize,
		MaxAttempts:    DefaultMaxAttempts,
	}
}

// Config configures a Proxy. Zero values take the defaults above.
type Config struct {
	// Directory is the node registry (catalog.Directory); required.
	Directory Directory
	// DialTimeout bounds each step towards a node: the registry lookup,
	// then TCP connect plus RTMP handshake (or the HTTP-FLV response
	// headers).
	DialTimeout time.Duration
	// SetupTimeout bounds everything a client does before its session is
	// routed: handshake, connect, createStream, publish or play. A peer
	// that trickles bytes is dropped when it runs out.
	SetupTimeout time.Duration
	// WriteTimeout drops a client that takes nothing the node sends it for
	// that long (a stalled player).
	WriteTimeout time.Duration
	// MaxConns bounds open RTMP client connections; more are closed at
	// accept.
	MaxConns int
	// MaxMessageSize bounds one client message before routing (commands
	// are small); the client may send at most four times that before its
	// publish or play. After routing the node's own limits apply.
	MaxMessageSize int
	// MaxAttempts is how many nodes a publish tries, in routing order,
	// when one cannot be reached. A play has one place to go.
	MaxAttempts int
}

func normalize(cfg *Config) error {
	if cfg.Directory == nil {
		return errors.New("proxy: Config.Directory is required")
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"DialTimeout", &cfg.DialTimeout, DefaultDialTimeout},
		{"SetupTimeout", &cfg.SetupTimeout, DefaultSetupTimeout},
		{"WriteTimeout", &cfg.WriteTimeout, DefaultWriteTimeout},
	} {
		if *f.v < 0 {
			return fmt.Errorf("proxy: %s is negative (%s)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxConns", &cfg.MaxConns, DefaultMaxConns},
		{"MaxMessageSize", &cfg.MaxMessageSize, DefaultMaxMessageSize},
		{"MaxAttempts", &cfg.MaxAttempts, DefaultMaxAttempts},
	} {
		if *f.v < 0 {
			return fmt.Errorf("proxy: %s is negative (%d)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.MaxMessageSize < 4096 {
		return fmt.Errorf("proxy: MaxMessageSize %d is below 4096 (a connect may be that large)", cfg.MaxMessageSize)
	}
	return nil
}

// Proxy is the RTMP and HTTP-FLV proxy. Create it with New; serve RTMP with
// Serve and HTTP with Handler. A Proxy serves once.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	router *Router
	flv    http.Handler

	// ctx ends when Serve shuts down: routing, dials and HTTP-FLV
	// sessions give up.
	ctx    context.Context
	cancel context.CancelFunc

	draining atomic.Bool
	sessions atomic.Int64

	mu      sync.Mutex
	served  bool
	closing bool
	conns   map[net.Conn]struct{}
	lastMax time.Time // last "too many connections" log line
	wg      sync.WaitGroup
}

// New checks cfg, applies the defaults and registers the metrics on reg
// (nil: not registered).
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Proxy, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := normalize(&cfg); err != nil {
		return nil, err
	}
	p := &Proxy{
		cfg:    cfg,
		log:    logger,
		m:      newMetrics(reg),
		router: NewRouter(cfg.Directory),
		conns:  map[net.Conn]struct{}{},
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.flv = p.newFLVProxy()
	return p, nil
}

// Drain takes the proxy out of the balancer: /readyz answers 503 from now
// on. Sessions in flight go on, and connections that still arrive are
// served (every proxy routes them alike, so refusing them would only fail
// the client); cancelling Serve's context ends them all.
func (p *Proxy) Drain() { p.draining.Store(true) }

// Ready reports whether the proxy should get new connections: not
// draining, not shutting down, and at least one alive node known.
func (p *Proxy) Ready() bool {
	return !p.draining.Load() && p.ctx.Err() == nil && len(p.cfg.Directory.Nodes()) > 0
}

// Sessions is how many sessions (RTMP and HTTP-FLV) are being relayed now,
// for a drain that waits for them.
func (p *Proxy) Sessions() int { return int(p.sessions.Load()) }

// Serve accepts RTMP connections on ln until ctx is done, then closes the
// listener and every connection, waits for every session to end and
// returns nil. It returns an error if the listener fails for good.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	p.mu.Lock()
	if p.served {
		p.mu.Unlock()
		return errors.New("proxy: Serve called twice")
	}
	p.served = true
	p.mu.Unlock()
	p.log.Info("rtmp proxy listening", "addr", ln.Addr().String())

	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	err := p.accept(ctx, ln)
	_ = ln.Close()

	p.mu.Lock()
	p.closing = true
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	p.log.Info("rtmp proxy shutting down", "connections", len(conns))
	p.cancel()
	for _, c := range conns {
		_ = c.Close()
	}
	p.wg.Wait()
	p.log.Info("rtmp proxy stopped")
	return err
}

func (p *Proxy) accept(ctx context.Context, ln net.Listener) error {
	retry := backoff.Policy{Min: 5 * time.Millisecond, Max: time.Second}
	fails := 0
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("proxy: accept: %w", err)
			}
			fails++
			wait := retry.Wait(fails)
			p.log.Warn("rtmp accept failed, retrying", "err", err, "backoff", wait)
			if !backoff.Sleep(ctx, wait) {
				return nil
			}
			continue
		}
		fails = 0
		if p.track(c) {
			go p.serveConn(c)
		}
	}
}

// track registers a connection, or closes it when the proxy is full or
// shutting down.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		_ = c.Close()
		return false
	}
	if len(p.conns) >= p.cfg.MaxConns {
		logIt := time.Since(p.lastMax) >= time.Second
		if logIt {
			p.lastMax = time.Now()
		}
		p.mu.Unlock()
		// Counted before the close: whoever sees the close sees the count.
		p.m.rejected.WithLabelValues(rejectMaxConns).Inc()
		_ = c.Close()
		if logIt {
			p.log.Warn("too many connections, refusing", "client", c.RemoteAddr().String(), "max", p.cfg.MaxConns)
		}
		return false
	}
	p.conns[c] = struct{}{}
	p.wg.Add(1)
	p.mu.Unlock()
	p.m.conns.Inc()
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	p.m.conns.Dec()
	p.wg.Done()
}

func (p *Proxy) setupLimits() setupLimits {
	return setupLimits{
		MaxMessage:  p.cfg.MaxMessageSize,
		MaxBuffered: 2 * p.cfg.MaxMessageSize,
		MaxRecorded: 4 * p.cfg.MaxMessageSize,
	}
}
