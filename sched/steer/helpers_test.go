package steer

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeRanker answers from per-region orders the test changes; block makes
// it wait for its context, fail makes it error.
type fakeRanker struct {
	mu    sync.Mutex
	pull  map[string][]string
	push  map[string][]string
	block bool
	fail  bool
	calls int
}

func (f *fakeRanker) set(region string, pull, push []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pull[region], f.push[region] = pull, push
}

func (f *fakeRanker) mode(block, fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.block, f.fail = block, fail
}

func (f *fakeRanker) answer(ctx context.Context, m map[string][]string, region string) ([]string, error) {
	f.mu.Lock()
	f.calls++
	block, fail, o := f.block, f.fail, m[region]
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if fail {
		return nil, errors.New("policy down")
	}
	return o, nil
}

func (f *fakeRanker) Pull(ctx context.Context, region string) ([]string, error) {
	return f.answer(ctx, f.pull, region)
}

func (f *fakeRanker) Push(ctx context.Context, region string) ([]string, error) {
	return f.answer(ctx, f.push, region)
}

func newRanker() *fakeRanker {
	return &fakeRanker{pull: map[string][]string{}, push: map[string][]string{}}
}

// regionHeader is the test's region mapping: the X-Region header.
func regionHeader(r *http.Request) string { return r.Header.Get("X-Region") }

func testConfig() Config {
	return Config{
		PublicBase: "https://steer.example.net/",
		Pathways: []Pathway{
			{ID: "cdn-a", HLSBase: "https://a.example.net", FLV: "https://a.example.net/{app}/{name}.flv",
				RTMP: "rtmp://a.example.net/{app}/{name}", Push: "rtmp://push-a.example.net/{app}/{name}"},
			{ID: "cdn-b", HLSBase: "https://b.example.net/rw/", Push: "rtmps://push-b.example.net:443/live/{app}/{name}"},
			{ID: "cdn.c_1", HLSBase: "https://c.example.net", RTMP: "rtmp://c.example.net/{app}/{name}"},
		},
		StaticOrder: []string{"cdn-b"},
	}
}

type testServer struct {
	s   *Server
	h   http.Handler
	reg *prometheus.Registry
	rk  *fakeRanker
}

func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	rk := newRanker()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, rk, regionHeader, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testServer{s: s, h: s.Handler(), reg: reg, rk: rk}
}

func (ts *testServer) get(t *testing.T, target, region string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	if region != "" {
		r.Header.Set("X-Region", region)
	}
	w := httptest.NewRecorder()
	ts.h.ServeHTTP(w, r)
	return w
}

func (ts *testServer) answers(src string) float64 {
	return testutil.ToFloat64(ts.s.m.answers.WithLabelValues(src))
}

func (ts *testServer) requests(route, code string) float64 {
	return testutil.ToFloat64(ts.s.m.requests.WithLabelValues(route, code))
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	body := w.Body.Bytes()
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return v
}

// playlistAttrs reads a multivariant playlist by hand: the steering tag's
// attributes and each variant's attributes and URI.
type variant struct {
	attrs map[string]string
	uri   string
}

func parseMultivariant(t *testing.T, body string) (map[string]string, []variant) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if lines[0] != "#EXTM3U" {
		t.Fatalf("first line %q", lines[0])
	}
	var steering map[string]string
	var vs []variant
	for i := 1; i < len(lines); i++ {
		tag, rest, _ := strings.Cut(lines[i], ":")
		switch tag {
		case "#EXT-X-CONTENT-STEERING":
			if steering != nil {
				t.Fatal("two EXT-X-CONTENT-STEERING tags")
			}
			steering = parseAttrs(t, rest)
		case "#EXT-X-STREAM-INF":
			if i+1 >= len(lines) || strings.HasPrefix(lines[i+1], "#") {
				t.Fatalf("EXT-X-STREAM-INF without a URI line at %d", i)
			}
			vs = append(vs, variant{parseAttrs(t, rest), lines[i+1]})
			i++
		default:
			t.Fatalf("unexpected line %q", lines[i])
		}
	}
	return steering, vs
}

// parseAttrs reads an attribute list (RFC 8216 4.2): quoted strings keep
// their quotes so the test sees the type written.
func parseAttrs(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			t.Fatalf("attribute without '=' in %q", s)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				t.Fatalf("unterminated quoted string in %q", s)
			}
			v, rest = rest[:end+2], rest[end+2:]
		} else {
			v, rest, _ = strings.Cut(rest, ",")
			rest = "," + rest
			if rest == "," {
				rest = ""
			}
		}
		if _, dup := out[k]; dup {
			t.Fatalf("attribute %s twice", k)
		}
		out[k] = v
		rest = strings.TrimPrefix(rest, ",")
		s = rest
	}
	return out
}

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}
