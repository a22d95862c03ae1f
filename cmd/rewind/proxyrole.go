package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/origin"
	"github.com/rewind-vod/rewind/proxy"
)

// proxySettings are the settings of `rewind proxy`.
type proxySettings struct {
	commonSettings
	RTMPAddr     string
	HTTPAddr     string
	DrainTimeout time.Duration
	Proxy        proxy.Config
	Directory    catalog.DirectoryConfig
}

func newProxySettings(fs *flag.FlagSet) (*proxySettings, *binder) {
	s := &proxySettings{
		RTMPAddr:     origin.DefaultAddr,
		HTTPAddr:     defaultHTTPAddr,
		DrainTimeout: 30 * time.Second,
		Proxy:        proxy.DefaultConfig(),
		Directory:    catalog.DefaultDirectoryConfig(),
	}
	b := newBinder(fs)
	s.commonSettings.bind(b)
	p, d := &s.Proxy, &s.Directory
	bind(b, "rtmp-addr", "RTMP listen address (publish and play)", &s.RTMPAddr)
	bind(b, "http-addr", "HTTP listen address (HTTP-FLV play, health, metrics)", &s.HTTPAddr)
	bind(b, "drain-timeout", "on SIGTERM: how long relayed sessions may go on after the proxy stops taking new ones", &s.DrainTimeout)
	bind(b, "dial-timeout", "bound on each step towards a node: registry lookup, then connect and handshake", &p.DialTimeout)
	bind(b, "setup-timeout", "drop a client that has not started a publish or play this long after connecting", &p.SetupTimeout)
	bind(b, "write-timeout", "drop a player that takes nothing for this long", &p.WriteTimeout)
	bind(b, "max-conns", "maximum RTMP client connections", &p.MaxConns)
	bind(b, "max-message-size", "maximum client message before routing, in bytes (commands are small)", &p.MaxMessageSize)
	bind(b, "max-attempts", "nodes a publish tries, in routing order, when one cannot be reached", &p.MaxAttempts)
	bind(b, "node-timeout", "a node whose heartbeat is older than this is dead", &d.Timeout)
	bind(b, "registry-refresh", "how often the node registry is reread", &d.Refresh)
	return s, b
}

// serveProxy runs the stateless proxy tier: it reads only the node
// registry in the store, so any number of copies can run behind one L4
// balancer. SIGINT or SIGTERM drains: /readyz fails, so the balancer sends
// it nothing new, while the relayed sessions go on for up to
// --drain-timeout.
func serveProxy(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f, _ := newProxySettings(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, st, reg, err := f.setup(ctx, stderr)
	if err != nil {
		return err
	}
	dir, err := catalog.NewDirectory(st, f.Directory, log, reg)
	if err != nil {
		return err
	}
	if err := dir.Refresh(ctx); err != nil {
		log.Warn("node registry not readable yet; retrying in the background", "err", err)
	}
	cfg := f.Proxy
	cfg.Directory = dir
	px, err := proxy.New(cfg, log, reg)
	if err != nil {
		return err
	}
	rtmpLn, err := net.Listen("tcp", f.RTMPAddr)
	if err != nil {
		return fmt.Errorf("rtmp listen: %w", err)
	}
	mux := metricsMux(reg)
	mux.Handle("/", px.Handler())
	hs, err := startHTTP(f.HTTPAddr, mux)
	if err != nil {
		rtmpLn.Close()
		return err
	}

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	dirDone := make(chan error, 1)
	go func() { dirDone <- dir.Run(runCtx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- px.Serve(runCtx, rtmpLn) }()
	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("rewind proxy started", "rtmp", rtmpLn.Addr().String(), "http", hs.addr, "store", redactURL(f.Store))

	var runErr error
	select {
	case err := <-serveDone:
		runErr = fmt.Errorf("rtmp: %w", err)
		serveDone <- nil
	case err := <-hs.done:
		runErr = fmt.Errorf("http: %w", err)
	case <-sigCtx.Done():
		log.Info("shutting down: draining", "sessions", px.Sessions(), "drain_timeout", f.DrainTimeout)
	}
	px.Drain()
	deadline := time.Now().Add(f.DrainTimeout)
	for px.Sessions() > 0 && time.Now().Before(deadline) && runErr == nil {
		time.Sleep(100 * time.Millisecond)
	}
	stopRun() // ends what is left, RTMP and HTTP-FLV sessions alike
	<-serveDone
	<-dirDone
	hs.shutdown(log)
	log.Info("stopped")
	return runErr
}
