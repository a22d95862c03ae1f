package collect

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newTestCollector(t *testing.T, cfg Config) (*Collector, *prometheus.Registry) {
	t.Helper()
	if cfg.CDNs == nil {
		cfg.CDNs = []string{"cdn-a", "cdn-b"}
		cfg.Regions = testRegions
	}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, reg
}

func do(h http.Handler, method, target, ctype, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.RemoteAddr = "10.1.2.3:40000"
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// waitFor polls the aggregates until cond holds; aggregation is
// asynchronous behind the queue.
func waitFor(t *testing.T, c *Collector, cond func([]Snapshot) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond(c.Aggregator().Snapshot()) {
		if time.Now().After(deadline) {
			t.Fatalf("aggregates never reached the expected state: %+v", c.Aggregator().Snapshot())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHandlerStatus(t *testing.T) {
	c, reg := newTestCollector(t, Config{})
	h := c.Handler()
	big := strings.Repeat("v=2\n", MaxEventBodyBytes/4+1)
	cases := []struct {
		name, method, target, ctype, body string
		hdr                               map[string]string
		want                              int
	}{
		{"query", "GET", "/v1/qos/cmcd?CMCD=bs%2Cd%3D4000%2Cot%3Dv%2Csid%3D%22q1%22&cdn=cdn-a", "", "", nil, 204},
		{"headers", "GET", "/v1/qos/cmcd", "", "", map[string]string{"CMCD-Status": "bs", "CMCD-Session": `sid="h1"`, "X-Rewind-CDN": "cdn-b"}, 204},
		{"post query", "POST", "/v1/qos/cmcd?CMCD=bs&cdn=cdn-a", "", "", nil, 204},
		{"event body", "POST", "/v1/qos/cmcd?cdn=cdn-a", "application/cmcd", "e=ps,bsa=2,sid=\"e1\",v=2\ne=ps,ltc=3000,sid=\"e1\",v=2\n", nil, 204},
		{"beacon", "POST", "/v1/qos/beacon", "application/json; charset=utf-8", goodBeacon, nil, 204},
		{"no cmcd", "GET", "/v1/qos/cmcd", "", "", nil, 400},
		{"bad cmcd query", "GET", "/v1/qos/cmcd?CMCD=br%3Dx", "", "", nil, 400},
		{"bad cmcd header", "GET", "/v1/qos/cmcd", "", "", map[string]string{"CMCD-Object": "br=-1"}, 400},
		{"bad query escape", "GET", "/v1/qos/cmcd?CMCD=%zz", "", "", nil, 400},
		{"bad event line", "POST", "/v1/qos/cmcd", "application/cmcd", "e=ps\nbr=x\n", nil, 400},
		{"big event body", "POST", "/v1/qos/cmcd", "application/cmcd", big, nil, 413},
		{"big header", "GET", "/v1/qos/cmcd", "", "", map[string]string{"CMCD-Session": `sid="` + strings.Repeat("a", MaxRecordBytes) + `"`}, 413},
		{"beacon not json", "POST", "/v1/qos/beacon", "application/json", "sid=1", nil, 400},
		{"beacon wrong type", "POST", "/v1/qos/beacon", "text/plain", goodBeacon, nil, 415},
		{"beacon absurd", "POST", "/v1/qos/beacon", "application/json", `{"sid":"s","events":[{"t":"latency","ts":1,"ms":-1}]}`, nil, 422},
		{"beacon unknown event", "POST", "/v1/qos/beacon", "application/json", `{"sid":"s","events":[{"t":"seek","ts":1}]}`, nil, 400},
		{"beacon too large", "POST", "/v1/qos/beacon", "application/json", `{"sid":"` + strings.Repeat("a", MaxBeaconBytes) + `"}`, nil, 413},
		{"beacon GET", "GET", "/v1/qos/beacon", "", "", nil, 405},
		{"cmcd DELETE", "DELETE", "/v1/qos/cmcd", "", "", nil, 405},
	}
	for _, tc := range cases {
		w := do(h, tc.method, tc.target, tc.ctype, tc.body, tc.hdr)
		if w.Code != tc.want {
			t.Errorf("%s: status %d, want %d (body %s)", tc.name, w.Code, tc.want, w.Body)
			continue
		}
		if w.Code >= 400 && w.Code != 405 {
			var e struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%s: error body %q (%v)", tc.name, w.Body, err)
			}
		}
	}

	waitFor(t, c, func(ss []Snapshot) bool {
		var a, b Snapshot
		for _, s := range ss {
			switch {
			case s.CDN == "cdn-a" && s.Region == "us":
				a = s
			case s.CDN == "cdn-b" && s.Region == "us":
				b = s
			}
		}
		// cdn-a/us: 1 (query) + 1 (post query) + 2 (bsa) + 1 (beacon) stalls;
		// cdn-b/us: 1 (headers) + the beacon's push section.
		return a.Stalls == 5 && a.Latency.Count == 2 && b.Stalls == 1 && b.PushFrames == 9000
	})
	for reason, want := range map[string]float64{DropMalformed: 7, DropTooLarge: 3, DropAbsurd: 1, DropUnsupported: 1, DropOverload: 0} {
		if got := metricValue(t, reg, "rewind_qos_reports_dropped_total", map[string]string{"reason": reason}); got != want {
			t.Errorf("dropped{reason=%s} = %v, want %v", reason, got, want)
		}
	}
	if got := metricValue(t, reg, "rewind_qos_reports_total", map[string]string{"format": "cmcd"}); got != 4 {
		t.Errorf("reports{cmcd} = %v, want 4", got)
	}
}

func TestHandlerCDNAndRegion(t *testing.T) {
	c, _ := newTestCollector(t, Config{ClientIPHeader: "X-Forwarded-For"})
	h := c.Handler()
	for _, hdr := range []map[string]string{
		{"CMCD-Status": "bs", "X-Rewind-CDN": "cdn-zz", "X-Forwarded-For": "10.9.9.9, 10.1.0.1"}, // other / eu
		{"CMCD-Status": "bs", "X-Rewind-CDN": "cdn-b", "X-Forwarded-For": "2001:db8::7"},         // cdn-b / ap
		{"CMCD-Status": "bs", "X-Rewind-CDN": "cdn-b", "X-Forwarded-For": "not-an-ip"},           // cdn-b / other
		{"CMCD-Status": "bs", "X-Rewind-CDN": "cdn-b"},                                           // RemoteAddr: us
	} {
		if w := do(h, "GET", "/v1/qos/cmcd", "", "", hdr); w.Code != 204 {
			t.Fatalf("%v: %d %s", hdr, w.Code, w.Body)
		}
	}
	want := map[[2]string]bool{{Other, "eu"}: true, {"cdn-b", "ap"}: true, {"cdn-b", Other}: true, {"cdn-b", "us"}: true}
	waitFor(t, c, func(ss []Snapshot) bool {
		if len(ss) != len(want) {
			return false
		}
		for _, s := range ss {
			if !want[[2]string{s.CDN, s.Region}] || s.Stalls != 1 {
				return false
			}
		}
		return true
	})
}

// TestLoadShedding holds the aggregator goroutine inside beforeApply, fills
// the queue, and checks that the overflow is answered 429 and counted,
// and that the collector's memory does not grow with the flood.
func TestLoadShedding(t *testing.T) {
	const queue = 4
	c, reg := newTestCollector(t, Config{QueueSize: queue})
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	// Set before the first report: the queue send orders it before the
	// consumer's read.
	c.beforeApply = func() {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}
	h := c.Handler()
	send := func() int { return do(h, "GET", "/v1/qos/cmcd?CMCD=bs&cdn=cdn-a", "", "", nil).Code }

	if code := send(); code != 204 {
		t.Fatalf("first report: %d", code)
	}
	<-entered // the consumer holds that report and takes no more
	for i := range queue {
		if code := send(); code != 204 {
			t.Fatalf("report %d of a free queue: %d", i, code)
		}
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const flood = 5000
	for i := range flood {
		w := do(h, "GET", "/v1/qos/cmcd?CMCD=bs&cdn=cdn-a", "", "", nil)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
			t.Fatalf("flood report %d: %d, Retry-After %q", i, w.Code, w.Header().Get("Retry-After"))
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(c.queue) != queue {
		t.Fatalf("queue holds %d, want %d", len(c.queue), queue)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 1<<20 {
		t.Fatalf("heap grew %d bytes under a shed flood", grown)
	}
	if got := metricValue(t, reg, "rewind_qos_reports_dropped_total", map[string]string{"reason": DropOverload}); got != flood {
		t.Fatalf("dropped{overload} = %v, want %d", got, flood)
	}

	close(release)
	waitFor(t, c, func(ss []Snapshot) bool { return len(ss) == 1 && ss[0].Stalls == queue+1 })
	if code := send(); code != 204 {
		t.Fatalf("after the flood: %d", code)
	}
}

func TestCloseStopsAggregator(t *testing.T) {
	c, err := New(Config{CDNs: []string{"a"}}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close() // twice is fine
	select {
	case <-c.done:
	default:
		t.Fatal("aggregator goroutine still running after Close")
	}
	reg := prometheus.NewRegistry()
	c2, err := New(Config{CDNs: []string{"a"}}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := New(Config{CDNs: []string{"a"}}, nil, reg); err == nil {
		t.Fatal("second collector on one registry: no error")
	}
	if _, err := New(Config{}, nil, prometheus.NewRegistry()); err == nil {
		t.Fatal("no CDNs: no error")
	}
}

// TestLabelsStayBounded sends reports naming a thousand CDNs from a
// thousand addresses: the series stay within the configured CDNs and
// regions plus "other".
func TestLabelsStayBounded(t *testing.T) {
	c, reg := newTestCollector(t, Config{QueueSize: 2048})
	h := c.Handler()
	for i := range 1000 {
		r := httptest.NewRequest("GET", "/v1/qos/cmcd?CMCD=bs&cdn=cdn-"+strconv.Itoa(i%7), nil)
		r.RemoteAddr = netip.AddrFrom4([4]byte{byte(i), byte(i >> 3), 1, 2}).String() + ":1000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 204 {
			t.Fatalf("report %d: %d", i, w.Code)
		}
	}
	waitFor(t, c, func(ss []Snapshot) bool {
		var stalls int64
		for _, s := range ss {
			stalls += s.Stalls
		}
		return stalls == 1000
	})
	const maxSeries = (2 + 1) * (3 + 1) // (cdn-a, cdn-b, other) x (eu, us, ap, other)
	if n := len(c.Aggregator().Snapshot()); n > maxSeries {
		t.Fatalf("%d (cdn, region) aggregates, bound %d", n, maxSeries)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "rewind_qos_stalls_total" {
			if n := len(mf.GetMetric()); n > maxSeries || n < 3 {
				t.Fatalf("%d stall series, want 3..%d", n, maxSeries)
			}
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "cdn" && lp.GetValue() != "cdn-a" && lp.GetValue() != "cdn-b" && lp.GetValue() != Other {
						t.Fatalf("unbounded cdn label %q", lp.GetValue())
					}
				}
			}
		}
	}
}
