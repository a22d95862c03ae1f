package admin

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/sched/policy"
	"github.com/rewind-vod/rewind/sched/qos"
)

const testToken = "s3cret-admin-token"

var t0 = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

// logBuf is a concurrency-safe log sink the tests read.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type fixture struct {
	eng    *policy.Engine
	admin  *Admin
	ts     *httptest.Server
	log    *logBuf
	mu     sync.Mutex
	inputs map[string]qos.State
}

func (f *fixture) setInput(name string, s qos.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inputs[name] = s
}

// healthy is a minute of good viewing with firstFrame s to first frame.
func healthy(firstFrame float64) qos.Window {
	return qos.Window{Sessions: 50, FirstFrameSum: 50 * firstFrame, LatencyCount: 50, LatencySum: 150,
		WatchedSeconds: 3000, ProbeSuccesses: 6, PushFrames: 1800, Bytes: 2e9}
}

// newFixture runs the admin API over a real engine for CDNs a, b, c in
// regions eu, us (c billed per GB), fed one Fresh snapshot where a starts
// fastest, then b, then c.
func newFixture(t testing.TB, token string) *fixture {
	t.Helper()
	f := &fixture{log: &logBuf{}, inputs: map[string]qos.State{"inprocess": qos.Fresh, "prometheus": qos.Stale}}
	log := slog.New(slog.NewTextHandler(f.log, nil))
	eng, err := policy.New(policy.Config{CDNs: []string{"a", "b", "c"}, Regions: []string{"eu", "us"},
		Billing: map[string]policy.Billing{"c": {Model: policy.PerGB, Tiers: []policy.Tier{{UpToGB: 0, PricePerGB: 0.05}}}}},
		log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ws := map[qos.Key]qos.Window{}
	for _, r := range []string{"eu", "us", policy.Other} {
		ws[qos.Key{CDN: "a", Region: r}] = healthy(0.5)
		ws[qos.Key{CDN: "b", Region: r}] = healthy(1.5)
		ws[qos.Key{CDN: "c", Region: r}] = healthy(2.5)
	}
	eng.Update(qos.Snapshot{Source: "inprocess", At: t0, Span: time.Minute, State: qos.Fresh, Windows: ws}, t0)
	f.eng = eng
	f.admin, err = New(Config{Token: token,
		Inputs: func() map[string]qos.State {
			f.mu.Lock()
			defer f.mu.Unlock()
			out := map[string]qos.State{}
			for k, v := range f.inputs {
				out[k] = v
			}
			return out
		},
		Now: func() time.Time { return t0.Add(time.Minute) }}, eng, log)
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(f.admin.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

// do sends a request with token as the bearer ("" none) and returns the
// status, headers and body.
func (f *fixture) do(t testing.TB, method, path, token, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}
