package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rewind-vod/rewind/media"
)

// --- test sink ---------------------------------------------------------

type sinkEvent struct {
	kind string // "open" or "close"
	run  string
	at   time.Time
}

type runRec struct {
	info       media.StreamInfo
	frames     map[media.FrameType]int
	bytes      int
	firstVideo []byte
	firstAudio []byte
	firstData  []byte
	// firstPicture is the first video frame that is not a sequence header.
	firstPicture []byte
	closed       bool
	lastTS       map[media.FrameType]uint32
}

// testSink records every StreamInfo, counts frames per type and keeps the
// order of Open and Close calls.
type testSink struct {
	name       string
	delay      time.Duration // per WriteFrame, to simulate a slow sink
	closeDelay time.Duration // in Close, to simulate a flush
	openErr    error
	panicAt    int // WriteFrame panics on this frame number (1-based), 0: never

	written    int
	violations []string // Open of a stream that still had an open run

	mu     sync.Mutex
	events []sinkEvent
	runs   map[string]*runRec
	order  []string // run ids in Open order
}

func newTestSink(name string) *testSink {
	return &testSink{name: name, runs: map[string]*runRec{}}
}

func (s *testSink) Name() string { return s.name }

func (s *testSink) Open(info media.StreamInfo) (SinkStream, error) {
	if s.openErr != nil {
		return nil, s.openErr
	}
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
	s.runs[info.Run] = &runRec{info: info, frames: map[media.FrameType]int{}, lastTS: map[media.FrameType]uint32{}}
	s.order = append(s.order, info.Run)
	s.events = append(s.events, sinkEvent{kind: "open", run: info.Run, at: time.Now()})
	return &testStream{s: s, run: info.Run}, nil
}

type testStream struct {
	s   *testSink
	run string
}

func (ts *testStream) WriteFrame(f media.Frame) {
	if ts.s.delay > 0 {
		time.Sleep(ts.s.delay)
	}
	ts.s.mu.Lock()
	defer ts.s.mu.Unlock()
	ts.s.written++
	if ts.s.written == ts.s.panicAt {
		panic("test sink panics as asked")
	}
	r := ts.s.runs[ts.run]
	if r.closed {
		ts.s.violations = append(ts.s.violations, "WriteFrame after Close")
	}
	r.frames[f.Type]++
	r.bytes += len(f.Payload)
	switch {
	case f.Type == media.FrameVideo && r.firstVideo == nil:
		r.firstVideo = f.Payload
	case f.Type == media.FrameAudio && r.firstAudio == nil:
		r.firstAudio = f.Payload
	case f.Type == media.FrameData && r.firstData == nil:
		r.firstData = f.Payload
	}
	if f.Type == media.FrameVideo && r.firstPicture == nil && !isSeqHeader(f) {
		r.firstPicture = f.Payload
	}
	r.lastTS[f.Type] = f.Timestamp
}

func (ts *testStream) Close() {
	if ts.s.closeDelay > 0 {
		time.Sleep(ts.s.closeDelay)
	}
	ts.s.mu.Lock()
	defer ts.s.mu.Unlock()
	r := ts.s.runs[ts.run]
	if r.closed {
		ts.s.violations = append(ts.s.violations, "Close called twice")
	}
	r.closed = true
	ts.s.events = append(ts.s.events, sinkEvent{kind: "close", run: ts.run, at: time.Now()})
}

// snapshot returns copies of the runs in Open order and the events.
func (s *testSink) snapshot() ([]runRec, []sinkEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	runs := make([]runRec, 0, len(s.order))
	for _, id := range s.order {
		r := *s.runs[id]
		r.frames = copyMap(r.frames)
		runs = append(runs, r)
	}
	return runs, append([]sinkEvent(nil), s.events...)
}

// runsFor returns the runs of stream app/name.
func (s *testSink) runsFor(app, name string) []runRec {
	runs, _ := s.snapshot()
	var out []runRec
	for _, r := range runs {
		if r.info.App == app && r.info.Name == name {
			out = append(out, r)
		}
	}
	return out
}

func copyMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// --- server ------------------------------------------------------------

type testServer struct {
	srv  *Server
	reg  *prometheus.Registry
	addr string
	stop func() // shuts the server down and waits for Serve
}

// startServer runs an origin on 127.0.0.1:0 until the test ends.
func startServer(t *testing.T, cfg Config, sinks ...Sink) *testServer {
	t.Helper()
	return startServerAt(t, "127.0.0.1:0", cfg, sinks...)
}

// startServerAt runs an origin on addr until the test ends.
func startServerAt(t *testing.T, addr string, cfg Config, sinks ...Sink) *testServer {
	t.Helper()
	if cfg.Node == "" {
		cfg.Node = "test-node"
	}
	for _, sk := range sinks {
		if p, ok := sk.(*Players); ok {
			cfg.Players = p
		}
	}
	reg := prometheus.NewRegistry()
	srv, err := New(cfg, sinks, testLogger(t), reg)
	if err != nil {
		t.Fatalf("New: %v", err)
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
		// Every sink stream is closed once Serve has returned, and no
		// stream ever had two runs open at once.
		for _, sk := range sinks {
			if s, ok := sk.(*testSink); ok {
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
		}
	})
	return &testServer{srv: srv, reg: reg, addr: ln.Addr().String(), stop: stop}
}

func (ts *testServer) url(path string) string { return "rtmp://" + ts.addr + "/" + path }

// metric returns the value of a counter or gauge, 0 if absent.
func (ts *testServer) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsMatch(m, labels) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
		}
	}
	return 0
}

func labelsMatch(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == kv[i] && lp.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
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

// --- publishers ----------------------------------------------------------

// ffmpeg starts a real publisher: testsrc2 + sine, H.264 + AAC, in real time.
func ffmpeg(t *testing.T, url string, seconds float64) *ffmpegProc {
	t.Helper()
	return ffmpegSize(t, url, seconds, "320x240")
}

// ffmpegSize is ffmpeg with the picture size (WxH) given.
func ffmpegSize(t *testing.T, url string, seconds float64, size string) *ffmpegProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-re", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", fmt.Sprint(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-bf", "2",
		"-c:a", "aac", "-f", "flv", url)
	p := &ffmpegProc{cmd: cmd, done: make(chan struct{}), start: time.Now()}
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
	cmd        *exec.Cmd
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

// expectDropped reads from c until the server closes it; it fails the test
// if the connection is still open after timeout.
func expectDropped(t *testing.T, c net.Conn, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(timeout))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s", timeout)
	}
	return time.Since(start)
}

// rtmpHandshake performs the client side of the RTMP simple handshake.
func rtmpHandshake(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	c0c1 := make([]byte, 1+1536)
	c0c1[0] = 3
	for i := 9; i < len(c0c1); i++ {
		c0c1[i] = byte(i * 7)
	}
	if _, err := c.Write(c0c1); err != nil {
		t.Fatalf("write C0C1: %v", err)
	}
	s := make([]byte, 1+1536+1536)
	if _, err := io.ReadFull(c, s); err != nil {
		t.Fatalf("read S0S1S2: %v", err)
	}
	if s[0] != 3 {
		t.Fatalf("S0 = %d, want 3", s[0])
	}
	// C2 echoes S1 (time, time2 and the random bytes).
	if _, err := c.Write(s[1 : 1+1536]); err != nil {
		t.Fatalf("write C2: %v", err)
	}
}
