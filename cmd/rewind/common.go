package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/vodapi"
)

// setup makes the logger (also the default one), opens the store and a
// metrics registry with the Go and process collectors.
func (f *commonSettings) setup(ctx context.Context, stderr io.Writer) (*slog.Logger, store.Store, *prometheus.Registry, error) {
	log, err := newLogger(f.LogLevel, f.LogFormat, stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	slog.SetDefault(log)
	st, err := openStore(ctx, f.Store, f.StoreOpts)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--store: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return log, st, reg, nil
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

// metricsMux is a role's HTTP mux, serving GET /metrics from reg.
func metricsMux(reg prometheus.Gatherer) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if os.Getenv("REWIND_PPROF") == "1" {
		// Profiling for benchmarks (bench/fanout); off by default, as it
		// would hand anyone who reaches the metrics port the heap.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	}
	return mux
}

// healthz answers the liveness probe.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"status":"ok"}`)
}

// httpServer is a role's HTTP server, serving from start to shutdown.
type httpServer struct {
	srv  *http.Server
	addr string
	done chan error // Serve's result
}

func startHTTP(addr string, h http.Handler) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listen: %w", err)
	}
	s := &httpServer{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnContext: vodapi.ConnContext}, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// shutdown lets requests in flight finish for up to 5 s.
func (s *httpServer) shutdown(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
}
