package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/sched/collect"
)

// parseRaw reads a prebuilt request back as the server would.
func parseRaw(t *testing.T, raw []byte) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("request does not parse: %v\n%s", err, raw)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r
}

// TestExpectMatchesCollector serves every kind of request the bench sends
// to an in-process collector configured like the bench's server and
// compares what it aggregated with the sum of the requests' expect: the
// bench's "counted" check is only as good as these figures.
func TestExpectMatchesCollector(t *testing.T) {
	flood := func(host string, w, n int) request {
		return cmcdEvents(host, cdns[w%2], func(line int) string { return sidOf(w, n*16+line) }, 1764638400000+int64(n)*40000, n)
	}
	kinds := map[string]struct {
		build func(host string, w, n int) request
		chk   checked
	}{"flood": {flood, checked{latency: true, errors: true}}}
	for name, rd := range rounds {
		if rd.format == "" {
			continue // the floor never reaches the collector
		}
		kinds[name] = struct {
			build func(host string, w, n int) request
			chk   checked
		}{rd.build, rd.chk}
	}
	for name, k := range kinds {
		t.Run(name, func(t *testing.T) {
			c, err := collect.New(collect.Config{CDNs: cdns, QueueSize: 1 << 14, Regions: map[netip.Prefix]string{
				netip.MustParsePrefix("127.0.0.0/24"): "eu", netip.MustParsePrefix("127.0.1.0/24"): "us"}},
				slog.New(slog.DiscardHandler), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			h := c.Handler()
			var want expect
			for w := range 6 {
				for n := range 2 * ring64 {
					req := k.build("127.0.0.1:8084", w, n)
					r := parseRaw(t, req.raw)
					r.RemoteAddr = localAddr(w) + ":40000"
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, r)
					if rec.Code != http.StatusNoContent {
						t.Fatalf("w=%d n=%d: status %d: %s\n%s", w, n, rec.Code, rec.Body, req.raw)
					}
					want.add(req.exp)
				}
			}
			if want.reports == 0 {
				t.Fatal("no reports")
			}
			var got expect
			var regions map[string]bool
			deadline := time.Now().Add(5 * time.Second)
			for {
				got, regions = expect{}, map[string]bool{}
				for _, s := range c.Aggregator().Snapshot() {
					got.bytes += s.Bytes
					got.stalls += s.Stalls
					got.latency += int64(s.Latency.Count)
					got.firstFrame += int64(s.FirstFrame.Count)
					got.errors += s.Errors
					got.pushFrames += s.PushFrames
					regions[s.Region] = true
					if s.CDN == collect.Other {
						t.Fatalf("reports under CDN %q", s.CDN)
					}
				}
				if match(got, want, k.chk) || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !match(got, want, k.chk) {
				t.Fatalf("aggregated %+v, the requests expect %+v (compared: %+v)", got, want, k.chk)
			}
			if !regions["eu"] || !regions["us"] || regions[collect.Other] {
				t.Fatalf("regions %v, want eu and us only", regions)
			}
		})
	}
}

func match(got, want expect, chk checked) bool {
	return (!chk.bytes || got.bytes == want.bytes) && (!chk.stalls || got.stalls == want.stalls) &&
		(!chk.latency || got.latency == want.latency) && (!chk.firstFrame || got.firstFrame == want.firstFrame) &&
		(!chk.errors || got.errors == want.errors) && (!chk.pushFrames || got.pushFrames == want.pushFrames)
}

// TestHeadersCarryTheQueryRecord: the same record split over CMCD-*
// headers reads back as in the query, so the headers round sends what the
// query round does.
func TestHeadersCarryTheQueryRecord(t *testing.T) {
	for n := range 16 {
		q, _, err := collect.ReportFromRequest(parseRaw(t, cmcdQuery("h", "cdn-a", sidOf(1, 2), n).raw))
		if err != nil {
			t.Fatal(err)
		}
		r := parseRaw(t, cmcdHeaders("h", "cdn-a", sidOf(1, 2), n).raw)
		for _, h := range []string{"CMCD-Request", "CMCD-Object", "CMCD-Status", "CMCD-Session"} {
			if v := r.Header.Get(h); strings.Contains(v, "CMCD") {
				t.Fatalf("%s: %q", h, v)
			}
		}
		hd, ok, err := collect.ReportFromRequest(r)
		if err != nil || !ok {
			t.Fatalf("n=%d: headers: ok=%v %v", n, ok, err)
		}
		if !reflect.DeepEqual(q, hd) {
			t.Fatalf("n=%d: query %+v, headers %+v", n, q, hd)
		}
		if q.SessionID != sidOf(1, 2) || (n%8 >= 4) != (q.Version == 2) {
			t.Fatalf("n=%d: %+v", n, q)
		}
	}
}

// TestPoolCountsAndRedials drives a server that sheds every third request
// and closes every fifth connection: every answer is counted once, as
// accepted or shed, and a closed connection is dialed again.
func TestPoolCountsAndRedials(t *testing.T) {
	var n, conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		i := n.Add(1)
		if i%5 == 0 {
			w.Header().Set("Connection", "close")
		}
		if i%3 == 0 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	src := func(w, i int) request {
		return cmcdEvents(addr, "cdn-a", func(int) string { return "s" }, 1764638400000, i)
	}
	ctx := context.Background()
	p, warm, err := newPool(ctx, addr, 4, src)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	res, err := p.run(ctx, src, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	sent := warm.sent + res.sent
	if sent != n.Load() || res.accepted+res.shed != res.sent || warm.accepted+warm.shed != warm.sent {
		t.Fatalf("server saw %d, pool counted %d (warm %+v, run %d/%d/%d)", n.Load(), sent, warm, res.sent, res.accepted, res.shed)
	}
	if res.shed == 0 || res.accepted == 0 || int64(len(res.lats)) != res.sent {
		t.Fatalf("run: %d sent, %d accepted, %d shed, %d latencies", res.sent, res.accepted, res.shed, len(res.lats))
	}
	if want := sent / 5; conns.Load() < want {
		t.Fatalf("%d connections for %d requests, every fifth closed: no redial", conns.Load(), sent)
	}
	if res.exp.reports != 10*res.accepted {
		t.Fatalf("%d reports for %d accepted bodies", res.exp.reports, res.accepted)
	}
}
