package proxy

import (
	"github.com/rewind-vod/rewind/internal/nginxtest"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin"
)

// The real servers behind the proxy in these tests: nginx-rtmp, and the
// rewind origin (RTMP plus HTTP-FLV from its Players).

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func nodeDoc(name, rtmpAddr, httpAddr string) catalog.Node {
	return catalog.Node{
		Version: catalog.NodeVersion, Name: name, RTMP: rtmpAddr, HTTP: httpAddr,
		State: catalog.NodeReady, Time: time.Now(), Load: catalog.NodeLoad{MaxPublishers: 100},
	}
}

// countSink counts the frames each publish brought to an origin.
type countSink struct {
	mu   sync.Mutex
	runs map[string]*runCount // by stream
}

type runCount struct {
	runs   int
	frames map[media.FrameType]int
	bytes  int
}

func (s *countSink) Name() string { return "count" }

func (s *countSink) Open(info media.StreamInfo) (origin.SinkStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs == nil {
		s.runs = map[string]*runCount{}
	}
	key := info.App + "/" + info.Name
	r := s.runs[key]
	if r == nil {
		r = &runCount{frames: map[media.FrameType]int{}}
		s.runs[key] = r
	}
	r.runs++
	return &countStream{s: s, r: r}, nil
}

// get is a copy of what a stream brought.
func (s *countSink) get(stream string) runCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[stream]
	if r == nil {
		return runCount{}
	}
	out := *r
	out.frames = map[media.FrameType]int{}
	for k, v := range r.frames {
		out.frames[k] = v
	}
	return out
}

type countStream struct {
	s *countSink
	r *runCount
}

func (c *countStream) WriteFrame(f media.Frame) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.r.frames[f.Type]++
	c.r.bytes += len(f.Payload)
}

func (c *countStream) Close() {}

// testOrigin is a rewind origin on loopback.
type testOrigin struct {
	srv  *origin.Server
	reg  *prometheus.Registry
	sink *countSink
	node catalog.Node
}

func (o *testOrigin) live() []string {
	var out []string
	for _, ls := range o.srv.Live() {
		out = append(out, ls.App+"/"+ls.Name)
	}
	return out
}

// startOrigin runs an origin node until the test ends: RTMP with the given
// publish secrets, live play over RTMP and HTTP-FLV.
func startOrigin(t *testing.T, name string, secrets ...string) *testOrigin {
	t.Helper()
	log := testLogger(t).With("node", name)
	reg := prometheus.NewRegistry()
	players := origin.NewPlayers(origin.PlayersConfig{}, log, reg)
	sink := &countSink{}
	srv, err := origin.New(origin.Config{Node: name, Players: players, Auth: origin.AuthConfig{Secrets: secrets}},
		[]origin.Sink{sink}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, rl) }()
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !players.ServeFLV(w, r) {
			http.NotFound(w, r)
		}
	})}
	go hs.Serve(hl)
	t.Cleanup(func() {
		cancel()
		hs.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("origin %s: Serve: %v", name, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("origin %s did not stop", name)
		}
	})
	return &testOrigin{srv: srv, reg: reg, sink: sink, node: nodeDoc(name, rl.Addr().String(), hl.Addr().String())}
}

// metric is a counter or gauge of reg with the given labels, 0 if absent.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
		}
	}
	return 0
}

// startNginx runs a private nginx-rtmp on a free loopback port with an
// "app" application that relays live streams and starts players on a
// keyframe, as a node named name.
func startNginx(t *testing.T, name string) catalog.Node {
	t.Helper()
	addr := nginxtest.Start(t, func(addr string) string {
		return fmt.Sprintf(`  server {
    listen %s;
    application app {
      live on;
      wait_key on;
      wait_video on;
    }
  }`, addr)
	})
	return nodeDoc(name, addr, "")
}

// testProxy is a Proxy serving RTMP and HTTP on loopback.
type testProxy struct {
	p        *Proxy
	reg      *prometheus.Registry
	rtmpAddr string
	httpAddr string
	stop     func() error // cancels Serve and returns its error
}

func startProxy(t *testing.T, cfg Config) *testProxy {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := New(cfg, testLogger(t).With("component", "proxy"), reg)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, rl) }()
	hs := &http.Server{Handler: p.Handler()}
	go hs.Serve(hl)
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(10 * time.Second):
				serveErr = errors.New("Serve did not return within 10s of cancel")
			}
			hs.Close()
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("proxy Serve: %v", err)
		}
		if n := metric(t, reg, "rewind_proxy_panics_total"); n != 0 {
			t.Errorf("%v sessions panicked", n)
		}
	})
	return &testProxy{p: p, reg: reg, rtmpAddr: rl.Addr().String(), httpAddr: hl.Addr().String(), stop: stop}
}

func (tp *testProxy) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return metric(t, tp.reg, name, labels...)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
