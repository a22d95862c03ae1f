package steer

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/internal/browsertest"
	"github.com/rewind-vod/rewind/internal/mediatest"
)

// cdn is one pathway: a server of the same media playlist and segments
// under /hls/live/cam/, logging each request's host and path.
type cdn struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

type hit struct {
	host, path, query string
}

func newCDN(t *testing.T, dir string) *cdn {
	c := &cdn{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.hits = append(c.hits, hit{r.Host, r.URL.Path, r.URL.RawQuery})
		c.mu.Unlock()
		w.Header().Set("Access-Control-Allow-Origin", "*")
		file, ok := strings.CutPrefix(r.URL.Path, "/hls/live/cam/")
		if !ok || strings.Contains(file, "/") {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, filepath.Join(dir, file))
	}))
	t.Cleanup(c.Close)
	return c
}

// segments counts the segment requests whose host starts with host.
func (c *cdn) segments(host string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, h := range c.hits {
		if strings.HasSuffix(h.path, ".ts") && strings.HasPrefix(h.host, host) {
			n++
		}
	}
	return n
}

// hls.js 1.7.4 (the full build) in Debian's Chromium plays a multivariant
// playlist of two pathways, each its own local server of the same media.
// It must load the steering manifest, send _HLS_pathway, and move its
// segment requests to the other pathway soon after the Ranker's order
// flips (within TTL plus the time to need the next segment), then to a
// pathway added at run time, which it only knows as a PATHWAY-CLONE (HOST
// replaced: localhost instead of 127.0.0.1 on cdn-a's server), without a
// fatal error; and once steering is off (410 Gone), stop reloading the
// manifest and play on.
func TestHLSJSFollowsSteering(t *testing.T) {
	nm := browsertest.NodeModules(t, "hls.js/dist/hls.min.js")
	mediatest.Require(t)

	// 20 s of 1 s segments.
	dir := t.TempDir()
	args := append(mediatest.Source{Seconds: 20, FPS: 25, GOP: 25}.Args(),
		"-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "-hls_playlist_type", "vod",
		"-hls_segment_filename", filepath.Join(dir, "seg%03d.ts"), filepath.Join(dir, "index.m3u8"))
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	a, b := newCDN(t, dir), newCDN(t, dir)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	const ttl = time.Second
	rk := newRanker()
	rk.set("eu", []string{"cdn-a", "cdn-b"}, nil)
	pathways := []Pathway{{ID: "cdn-a", HLSBase: a.URL}, {ID: "cdn-b", HLSBase: b.URL}}
	var off atomic.Bool // steering turned off for the stream: 410
	s, err := New(Config{Pathways: pathways, PublicBase: public, TTL: ttl, Enabled: func(catalog.Stream) bool { return !off.Load() }}, rk,
		func(*http.Request) string { return "eu" }, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	var steerQueries []string
	front := http.NewServeMux()
	steer := s.Handler()
	front.Handle("/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/steer/manifest" {
			mu.Lock()
			steerQueries = append(steerQueries, r.URL.RawQuery)
			mu.Unlock()
		}
		steer.ServeHTTP(w, r)
	}))
	front.HandleFunc("/hls.min.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(nm, "hls.js", "dist", "hls.min.js"))
	})
	front.HandleFunc("/page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><html><body><video id="video" muted playsinline></video><script src="/hls.min.js"></script></body></html>`)
	})
	srv := httptest.NewUnstartedServer(front)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	type outcome struct {
		out []byte
		err error
	}
	browser := make(chan outcome, 1)
	go func() {
		cmd := browsertest.Command(nm, "testdata/browser/steer.cjs", public+"/page.html",
			public+"/v1/steer/hls/live/cam/index.m3u8?start=1767225600&exp=1&sig=x", "15", "60000")
		out, err := cmd.Output()
		browser <- outcome{out, err}
	}()
	waitFor := func(what string, d time.Duration, cond func() bool) time.Duration {
		t0 := time.Now()
		for time.Since(t0) < d {
			if cond() {
				return time.Since(t0)
			}
			select {
			case res := <-browser:
				t.Fatalf("browser ended before %s: %v\n%s", what, res.err, res.out)
			case <-time.After(20 * time.Millisecond):
			}
		}
		t.Fatalf("%s: not within %s (cdn-a %d, cdn-b %d segments)", what, d, a.segments(""), b.segments(""))
		return 0
	}
	aHost := strings.TrimPrefix(a.URL, "http://")

	// Phase 1: cdn-a first.
	waitFor("3 segments from cdn-a", 40*time.Second, func() bool { return a.segments(aHost) >= 3 })
	if n := b.segments(""); n != 0 {
		t.Errorf("cdn-b served %d segments while it was second", n)
	}
	// Phase 2: the order flips.
	rk.set("eu", []string{"cdn-b", "cdn-a"}, nil)
	atFlip := a.segments(aHost)
	d1 := waitFor("a segment from cdn-b after the flip", ttl+4*time.Second, func() bool { return b.segments("") > 0 })
	t.Logf("first cdn-b segment %s after the flip (TTL %s)", d1, ttl)

	// Phase 3: cdn-c, added at run time on cdn-a's server under the name
	// localhost; the session only knows it as a clone of cdn-a.
	cHost := strings.Replace(aHost, "127.0.0.1", "localhost", 1)
	if err := s.SetPathways(append(pathways, Pathway{ID: "cdn-c", HLSBase: "http://" + cHost, CloneOf: "cdn-a",
		CloneParams: map[string]string{"via": "cdn-c"}}), nil); err != nil {
		t.Fatal(err)
	}
	rk.set("eu", []string{"cdn-c", "cdn-b", "cdn-a"}, nil)
	afterFlip := a.segments(aHost)
	d2 := waitFor("a segment from the clone cdn-c", ttl+4*time.Second, func() bool { return a.segments(cHost) > 0 })
	t.Logf("first cdn-c segment %s after it was added", d2)
	// At most one cdn-a segment was already on its way at the flip.
	if afterFlip > atFlip+1 {
		t.Errorf("cdn-a served %d segments after the flip to cdn-b", afterFlip-atFlip)
	}

	// Phase 4: steering off. The next reload is a 410, after which hls.js
	// must not ask again, and plays on.
	mu.Lock()
	before := len(steerQueries)
	mu.Unlock()
	off.Store(true)
	waitFor("the manifest reload answered 410", ttl+2*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(steerQueries) > before
	})
	time.Sleep(3 * ttl)
	mu.Lock()
	if n := len(steerQueries) - before; n != 1 {
		t.Errorf("%d steering requests after steering was turned off, want the one answered 410", n)
	}
	steerQueries = steerQueries[:before+1]
	mu.Unlock()

	res := <-browser
	if res.err != nil {
		t.Fatalf("browser: %v\n%s", res.err, res.out)
	}
	var got struct {
		CurrentTime float64  `json:"currentTime"`
		Errors      []string `json:"errors"`
		Console     []string `json:"console"`
		Fatal       []string `json:"fatal"`
		NonFatal    []string `json:"nonFatal"`
		Frags       []string `json:"frags"`
		Pathways    []string `json:"pathways"`
		Manifests   []struct {
			URL      string   `json:"url"`
			Priority []string `json:"priority"`
			Clones   []string `json:"clones"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(res.out, &got); err != nil {
		t.Fatalf("browser output %q: %v", res.out, err)
	}
	t.Logf("played to %.2fs; %d steering manifests; levels updated %v; non-fatal %v", got.CurrentTime, len(got.Manifests), got.Pathways, got.NonFatal)
	for _, m := range got.Manifests {
		t.Logf("manifest %s %v %v", m.URL, m.Priority, m.Clones)
	}
	if got.CurrentTime <= 15 || len(got.Fatal) > 0 || len(got.Errors) > 0 {
		t.Errorf("played to %.2fs; fatal %v; errors %v; console %v", got.CurrentTime, got.Fatal, got.Errors, got.Console)
	}
	// The last fragments came from the clone, with its PARAMS on the
	// variant's URI only (segment URIs are relative).
	if last := got.Frags[len(got.Frags)-1]; !strings.HasPrefix(last, "http://"+cHost+"/hls/live/cam/seg") {
		t.Errorf("last fragment %s, want one from the clone", last)
	}
	a.mu.Lock()
	cloneVariant := slices.ContainsFunc(a.hits, func(h hit) bool {
		return strings.HasPrefix(h.host, "localhost") && h.path == "/hls/live/cam/index.m3u8" && strings.Contains(h.query, "via=cdn-c") && strings.Contains(h.query, "sig=x")
	})
	a.mu.Unlock()
	if !cloneVariant {
		t.Error("the clone's media playlist was not loaded with its PARAMS and the original query")
	}
	// What hls.js sent: its pathway each time, and its throughput.
	mu.Lock()
	defer mu.Unlock()
	var sent []string
	for _, q := range steerQueries {
		st, err := ParseQuery(q)
		if err != nil {
			t.Errorf("steering query %q: %v", q, err)
			continue
		}
		if !strings.Contains(q, "_HLS_throughput=") {
			t.Errorf("steering query without _HLS_throughput: %q", q)
		}
		if len(sent) == 0 || sent[len(sent)-1] != st.Pathway {
			sent = append(sent, st.Pathway)
		}
	}
	if !slices.Equal(sent, []string{"cdn-a", "cdn-b", "cdn-c"}) {
		t.Errorf("_HLS_pathway sent, in order of change: %v; want cdn-a, cdn-b, cdn-c", sent)
	}
}
