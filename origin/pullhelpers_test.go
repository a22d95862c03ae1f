package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
)

// locatorFixture answers Live from a fixed table: the registry as the test
// sets it up.
type locatorFixture struct {
	mu    sync.Mutex
	nodes map[string]catalog.Node // by stream
	calls atomic.Int32
}

func newLocator(stream string, n catalog.Node) *locatorFixture {
	return &locatorFixture{nodes: map[string]catalog.Node{stream: n}}
}

func (l *locatorFixture) Live(_ context.Context, stream string) (catalog.Node, bool) {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.nodes[stream]
	return n, ok
}

// node is a catalog entry for a node reached at httpAddr.
func testNode(name, httpAddr string) catalog.Node {
	return catalog.Node{Version: catalog.NodeVersion, Name: name, RTMP: "127.0.0.1:1935", HTTP: httpAddr, State: catalog.NodeReady, Time: time.Now()}
}

// flvNode serves p's HTTP-FLV on a loopback server and counts the
// requests that are pulls (carry PullHeader), and the last pull's query.
type flvNode struct {
	url   string
	addr  string // host:port
	pulls atomic.Int32
	mu    sync.Mutex
	peer  string
	query string
}

func serveFLVNode(t *testing.T, p *Players) *flvNode {
	t.Helper()
	n := &flvNode{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if peer := r.Header.Get(PullHeader); peer != "" {
			n.pulls.Add(1)
			n.mu.Lock()
			n.peer, n.query = peer, r.URL.RawQuery
			n.mu.Unlock()
		}
		if !p.ServeFLV(w, r) {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	n.url = hs.URL
	n.addr = strings.TrimPrefix(hs.URL, "http://")
	return n
}

func (n *flvNode) lastPull() (peer, query string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peer, n.query
}

// Synthetic FLV tag bodies: enough for Players, which looks at the tag
// headers only.
var (
	synthMeta    = []byte{media.AMF0String, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', media.AMF0Object, 0, 0, media.AMF0ObjectEnd}
	synthAVCHdr  = []byte{0x17, media.AVCSeqHeader, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 0}
	synthAACHdr  = []byte{0xaf, media.AACSeqHeader, 0x12, 0x10}
	synthKey     = []byte{0x17, media.AVCNALU, 0, 0, 0, 0, 0, 0, 1, 0x65}
	synthInter   = []byte{0x27, media.AVCNALU, 0, 0, 0, 0, 0, 0, 1, 0x41}
	synthAACData = []byte{0xaf, media.AACRaw, 1, 2, 3, 4}
)

// synthPublish publishes a synthetic stream into p through the Sink
// contract (as the origin does): metadata, sequence headers, then video
// at 50 fps with a keyframe every 10 frames, and audio, until stop (or
// the test's end). stop closes the stream and waits.
func synthPublish(t *testing.T, p *Players, app, name string) (stop func()) {
	t.Helper()
	return synthPublishHdr(t, p, app, name, synthAVCHdr)
}

// synthPublishHdr is synthPublish with the AVC sequence header given.
func synthPublishHdr(t *testing.T, p *Players, app, name string, avcHdr []byte) (stop func()) {
	t.Helper()
	ss, err := p.Open(media.StreamInfo{App: app, Name: name, Run: "run", Node: "synth", StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer ss.Close()
		ss.WriteFrame(media.Frame{Type: media.FrameData, Payload: synthMeta})
		ss.WriteFrame(media.Frame{Type: media.FrameVideo, Payload: avcHdr})
		ss.WriteFrame(media.Frame{Type: media.FrameAudio, Payload: synthAACHdr})
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			ts := uint32(i * 20)
			v := synthInter
			if i%10 == 0 {
				v = synthKey
			}
			ss.WriteFrame(media.Frame{Type: media.FrameVideo, Timestamp: ts, Payload: v})
			ss.WriteFrame(media.Frame{Type: media.FrameAudio, Timestamp: ts, Payload: synthAACData})
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(quit)
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// flvPlayer is an HTTP-FLV player that reads frames in the background.
type flvPlayer struct {
	resp   *http.Response
	mu     sync.Mutex
	frames []media.Frame
	err    error // why reading ended
	done   chan struct{}

	closeOnce sync.Once
}

// playFLV GETs url (with optional headers as name, value pairs) and
// starts reading its frames; it fails the test unless the answer is 200.
func playFLV(t *testing.T, url string, hdr ...string) *flvPlayer {
	t.Helper()
	pl, err := startFLV(url, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pl.close)
	return pl
}

// startFLV is playFLV for any goroutine: the caller closes the player.
func startFLV(url string, hdr ...string) (*flvPlayer, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	pl := &flvPlayer{resp: resp, done: make(chan struct{})}
	go func() {
		defer close(pl.done)
		fr := newFLVReader(resp.Body, MaxPullTagSize)
		err := fr.readHeader()
		for err == nil {
			var f media.Frame
			if f, err = fr.next(); err == nil {
				pl.mu.Lock()
				pl.frames = append(pl.frames, f)
				pl.mu.Unlock()
			}
		}
		pl.mu.Lock()
		pl.err = err
		pl.mu.Unlock()
	}()
	return pl, nil
}

func (pl *flvPlayer) close() {
	pl.closeOnce.Do(func() { pl.resp.Body.Close() })
	<-pl.done
}

func (pl *flvPlayer) snapshot() []media.Frame {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return append([]media.Frame(nil), pl.frames...)
}

// waitFrames waits until the player has at least n frames.
func (pl *flvPlayer) waitFrames(t *testing.T, n int) []media.Frame {
	t.Helper()
	waitFor(t, 10*time.Second, "player frames", func() bool { return len(pl.snapshot()) >= n })
	return pl.snapshot()
}

// waitEnded waits until the server ends the stream; it returns the read
// error (io.EOF for a clean end).
func (pl *flvPlayer) waitEnded(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-pl.done:
	case <-time.After(timeout):
		t.Fatalf("the player's stream did not end within %s", timeout)
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.err
}

// checkStartsOnKeyframe checks that the first picture (video frame that is
// not a sequence header) is a keyframe, and that the sequence header came
// before it.
func checkStartsOnKeyframe(t *testing.T, frames []media.Frame) {
	t.Helper()
	hdr := false
	for _, f := range frames {
		if f.Type != media.FrameVideo {
			continue
		}
		if media.IsAVCSeqHeader(f.Payload) {
			hdr = true
			continue
		}
		if !hdr {
			t.Errorf("a picture came before the AVC sequence header")
		}
		if !media.IsVideoKeyframe(f.Payload) {
			t.Errorf("the first picture is not a keyframe: % x", f.Payload[:min(len(f.Payload), 4)])
		}
		return
	}
	t.Errorf("no picture among %d frames", len(frames))
}

// getStatus GETs url with optional headers and returns the status and body.
func getStatus(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// pullNode is a node that pulls: its Players with a metrics registry, and
// its HTTP-FLV server.
type pullNode struct {
	players *Players
	reg     *prometheus.Registry
	http    *flvNode
}

func newPullNode(t *testing.T, cfg PlayersConfig) *pullNode {
	t.Helper()
	reg := prometheus.NewRegistry()
	p := NewPlayers(cfg, testLogger(t), reg)
	t.Cleanup(p.Close)
	return &pullNode{players: p, reg: reg, http: serveFLVNode(t, p)}
}

// metric is a counter or gauge of the node, 0 if absent.
func (n *pullNode) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return (&testServer{reg: n.reg}).metric(t, name, labels...)
}

// flvPlayers is how many HTTP-FLV players p serves now.
func flvPlayers(p *Players) float64 {
	return testutil.ToFloat64(p.players.WithLabelValues(protoFLV))
}
