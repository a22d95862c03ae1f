package relay

// The few helpers of origin's test harness (origin/helpers_test.go) the
// relay's tests need: a recording sink, a real origin on a loopback
// listener, a real ffmpeg publisher and waitFor.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin"
)

// runRec is what a testSink saw of one run.
type runRec struct {
	info       media.StreamInfo
	frames     map[media.FrameType]int
	firstVideo []byte
	firstAudio []byte
	firstData  []byte
	// firstPicture is the first video frame that is not a sequence header.
	firstPicture []byte
	closed       bool
}

// testSink records the runs it is given (a recorder stand-in) and the
// contract violations it sees.
type testSink struct {
	name string

	mu         sync.Mutex
	runs       map[string]*runRec
	order      []string // run ids in Open order
	violations []string
}

func newTestSink(name string) *testSink { return &testSink{name: name, runs: map[string]*runRec{}} }

func (s *testSink) Name() string { return s.name }

func (s *testSink) Open(info media.StreamInfo) (origin.SinkStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.runs[info.Run]; dup {
		s.violations = append(s.violations, "run id opened twice: "+info.Run)
	}
	for _, r := range s.runs {
		if r.info.App == info.App && r.info.Name == info.Name && !r.closed {
			s.violations = append(s.violations, fmt.Sprintf("%s/%s: run %s opened while run %s was still open", info.App, info.Name, info.Run, r.info.Run))
		}
	}
	s.runs[info.Run] = &runRec{info: info, frames: map[media.FrameType]int{}}
	s.order = append(s.order, info.Run)
	return &testStream{s: s, run: info.Run}, nil
}

type testStream struct {
	s   *testSink
	run string
}

func (ts *testStream) WriteFrame(f media.Frame) {
	ts.s.mu.Lock()
	defer ts.s.mu.Unlock()
	r := ts.s.runs[ts.run]
	if r.closed {
		ts.s.violations = append(ts.s.violations, "WriteFrame after Close")
	}
	r.frames[f.Type]++
	switch {
	case f.Type == media.FrameVideo && r.firstVideo == nil:
		r.firstVideo = f.Payload
	case f.Type == media.FrameAudio && r.firstAudio == nil:
		r.firstAudio = f.Payload
	case f.Type == media.FrameData && r.firstData == nil:
		r.firstData = f.Payload
	}
	if f.Type == media.FrameVideo && r.firstPicture == nil && !media.IsAVCSeqHeader(f.Payload) {
		r.firstPicture = f.Payload
	}
}

func (ts *testStream) Close() {
	ts.s.mu.Lock()
	defer ts.s.mu.Unlock()
	if r := ts.s.runs[ts.run]; r.closed {
		ts.s.violations = append(ts.s.violations, "Close called twice")
	} else {
		r.closed = true
	}
}

// runsFor returns copies of the runs of stream app/name, in Open order.
func (s *testSink) runsFor(app, name string) []runRec {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []runRec
	for _, id := range s.order {
		if r := *s.runs[id]; r.info.App == app && r.info.Name == name {
			fr := make(map[media.FrameType]int, len(r.frames))
			for k, v := range r.frames {
				fr[k] = v
			}
			r.frames = fr
			out = append(out, r)
		}
	}
	return out
}

// testServer is a real origin serving on a loopback listener.
type testServer struct {
	srv  *origin.Server
	reg  *prometheus.Registry
	addr string
	stop func() // shuts the server down and waits for Serve
}

func startServer(t *testing.T, cfg origin.Config, sinks ...origin.Sink) *testServer {
	t.Helper()
	return startServerAt(t, "127.0.0.1:0", cfg, sinks...)
}

// startServerAt runs an origin on addr until the test ends; then every run
// of its test sinks must have been closed, one run per stream at a time.
func startServerAt(t *testing.T, addr string, cfg origin.Config, sinks ...origin.Sink) *testServer {
	t.Helper()
	if cfg.Node == "" {
		cfg.Node = "test-node"
	}
	reg := prometheus.NewRegistry()
	srv, err := origin.New(cfg, sinks, testLogger(t), reg)
	if err != nil {
		t.Fatalf("origin.New: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Serve did not return within 15s of cancel")
			}
		})
	}
	t.Cleanup(func() {
		stop()
		for _, sk := range sinks {
			s, ok := sk.(*testSink)
			if !ok {
				continue
			}
			s.mu.Lock()
			for _, v := range s.violations {
				t.Errorf("sink %s: %s", s.name, v)
			}
			for id, r := range s.runs {
				if !r.closed {
					t.Errorf("sink %s: run %s not closed after Serve returned", s.name, id)
				}
			}
			s.mu.Unlock()
		}
	})
	return &testServer{srv: srv, reg: reg, addr: ln.Addr().String(), stop: stop}
}

func (ts *testServer) url(path string) string { return "rtmp://" + ts.addr + "/" + path }

// metric returns the value of an unlabelled counter or gauge, 0 if absent.
func (ts *testServer) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return 0
}

// testLogger logs through t.Log so that output shows with -v or on failure.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ffmpeg starts a real publisher: testsrc2 + sine, H.264 + AAC, in real time.
func ffmpeg(t *testing.T, url string, seconds float64) *ffmpegProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", fmt.Sprint(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-bf", "2",
		"-c:a", "aac", "-f", "flv", url)
	p := &ffmpegProc{done: make(chan struct{}), start: time.Now()}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start ffmpeg: %v", err)
	}
	go func() {
		p.err = cmd.Wait()
		p.end = time.Now()
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

type ffmpegProc struct {
	stderr     bytes.Buffer
	done       chan struct{}
	err        error
	start, end time.Time
}

// wait waits for ffmpeg to exit and returns its error.
func (p *ffmpegProc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("ffmpeg did not exit")
	}
	if p.err != nil {
		return fmt.Errorf("%w: %s", p.err, strings.TrimSpace(p.stderr.String()))
	}
	return nil
}

func (p *ffmpegProc) duration() time.Duration { return p.end.Sub(p.start) }

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
