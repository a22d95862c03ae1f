package sched

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/sched/policy"
	"github.com/rewind-vod/rewind/sched/steer"
)

func testConfig(t *testing.T) Config {
	cdns, err := ParseCDNs("cdn-a;hls=http://a.example;push=rtmp://in.a.example/{app}/{name};billing=per_gb:*@0.01 " +
		"cdn-b;hls=http://b.example;push=rtmp://in.b.example/{app}/{name};billing=per_gb:*@0.05")
	if err != nil {
		t.Fatal(err)
	}
	regions, err := ParseRegions("eu=10.1.0.0/16 us=10.2.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.CDNs, cfg.Regions = cdns, regions
	cfg.Steer.PublicBase = "http://sched.example"
	cfg.InProcess.Span, cfg.InProcess.Interval = 3*time.Second, 20*time.Millisecond
	cfg.Runner.Interval, cfg.Runner.Timeout = 50*time.Millisecond, 50*time.Millisecond
	cfg.Policy.MinSessions, cfg.Policy.MinAttempts = 1, 3
	cfg.SaveInterval = 50 * time.Millisecond
	return cfg
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve starts svc's loops and its handler; the returned stop waits for
// the loops (and the last save) to end.
func serve(t *testing.T, svc *Service) (*httptest.Server, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	srv := httptest.NewServer(svc.Handler())
	stop := func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	return srv, stop
}

func do(t *testing.T, method, url, ctype, xff, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// pullOrder is the address API's pull order for a client address.
func pullOrder(t *testing.T, base, xff string) []string {
	code, body, _ := do(t, "GET", base+"/v1/addresses/live/cam", "", xff, "")
	if code != 200 {
		t.Fatalf("addresses: %d %s", code, body)
	}
	var a steer.Addresses
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range a.Pull {
		out = append(out, p.CDN)
	}
	return out
}

// steeringPriority follows a multivariant playlist's SERVER-URI (on base)
// and returns the manifest's PATHWAY-PRIORITY.
func steeringPriority(t *testing.T, base, xff string) []string {
	code, body, _ := do(t, "GET", base+"/v1/steer/hls/live/cam/index.m3u8?from=2026-12-01T00:00:00Z&to=2026-12-01T00:01:00Z", "", xff, "")
	if code != 200 {
		t.Fatalf("multivariant: %d %s", code, body)
	}
	m := regexp.MustCompile(`SERVER-URI="http://sched.example([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no SERVER-URI in\n%s", body)
	}
	code, body, _ = do(t, "GET", base+m[1]+"&_HLS_pathway=cdn-a&_HLS_throughput=5000000", "", xff, "")
	if code != 200 {
		t.Fatalf("manifest: %d %s", code, body)
	}
	var man steer.Manifest
	if err := json.Unmarshal([]byte(body), &man); err != nil {
		t.Fatal(err)
	}
	return man.Priority
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The assembled scheduler: reports in, orders out through the steering
// manifest and the address API per region; an override and the meter
// outlive a restart through the store.
func TestServiceEndToEnd(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Collect.ClientIPHeader = "X-Forwarded-For"
	svc, err := New(context.Background(), cfg, st, quiet(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv, stop := serve(t, svc)

	// Before any report: the static order, cdn-a first.
	if got := pullOrder(t, srv.URL, "10.1.0.5"); !slices.Equal(got, []string{"cdn-a", "cdn-b"}) {
		t.Fatalf("static pull order %v", got)
	}
	// In eu, cdn-a fails every attempt while cdn-b plays; us plays on both.
	now := time.Now().UnixMilli()
	beacon := func(xff, sid, cdn, events string) {
		body := fmt.Sprintf(`{"sid":%q,"cdn":%q,"stream":"live/cam","events":[%s]}`, sid, cdn, events)
		if code, b, _ := do(t, "POST", srv.URL+"/v1/qos/beacon", "application/json", xff, body); code != 204 {
			t.Fatalf("beacon: %d %s", code, b)
		}
	}
	for i := range 5 {
		beacon("10.1.0.5", fmt.Sprint("eu-a", i), "cdn-a", fmt.Sprintf(`{"t":"error","ts":%d,"code":"NET"}`, now))
		beacon("10.1.0.6", fmt.Sprint("eu-b", i), "cdn-b", fmt.Sprintf(`{"t":"start","ts":%d,"first_frame_ms":800},{"t":"heartbeat","ts":%d,"watched_ms":30000}`, now, now))
		for _, cdn := range []string{"cdn-a", "cdn-b"} {
			beacon("10.2.0.5", fmt.Sprint("us-", cdn, i), cdn, fmt.Sprintf(`{"t":"start","ts":%d,"first_frame_ms":700},{"t":"heartbeat","ts":%d,"watched_ms":30000,"bytes":30000000}`, now, now))
		}
	}
	waitFor(t, "eu to move to cdn-b", func() bool { return slices.Equal(pullOrder(t, srv.URL, "10.1.0.5"), []string{"cdn-b", "cdn-a"}) })
	if got := steeringPriority(t, srv.URL, "10.1.0.5"); !slices.Equal(got, []string{"cdn-b", "cdn-a"}) {
		t.Errorf("eu steering priority %v, want cdn-b first", got)
	}
	// us: equal quality, cdn-a is cheaper.
	if got := steeringPriority(t, srv.URL, "10.2.0.5"); !slices.Equal(got, []string{"cdn-a", "cdn-b"}) {
		t.Errorf("us steering priority %v, want cdn-a first", got)
	}
	if st := svc.Inputs()["inprocess"]; st != "fresh" {
		t.Errorf("input state %q", st)
	}
	waitFor(t, "the meter to see the us traffic", func() bool {
		return svc.Engine().Meter().MonthToDate("cdn-a", time.Now()) > 0
	})

	// An operator pins cdn-b everywhere; it survives a restart.
	if err := svc.Engine().Pin("cdn-b", "", "ops@example", "cdn-a maintenance", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pin", func() bool { return slices.Equal(pullOrder(t, srv.URL, "10.2.0.5"), []string{"cdn-b", "cdn-a"}) })
	bytesBefore := svc.Engine().Meter().MonthToDate("cdn-a", time.Now())
	stop()

	svc2, err := New(context.Background(), cfg, st, quiet(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv2, stop2 := serve(t, svc2)
	defer stop2()
	if got := pullOrder(t, srv2.URL, "10.2.0.5"); !slices.Equal(got, []string{"cdn-b", "cdn-a"}) {
		t.Errorf("after restart: pull order %v, want the pin to hold", got)
	}
	rep := svc2.Engine().Report(time.Now())
	if len(rep.Overrides) != 1 || rep.Overrides[0].Action != policy.ActionPin || rep.Overrides[0].CDN != "cdn-b" {
		t.Errorf("after restart: overrides %+v", rep.Overrides)
	}
	if got := svc2.Engine().Meter().MonthToDate("cdn-a", time.Now()); got != bytesBefore || got == 0 {
		t.Errorf("after restart: cdn-a month-to-date %v bytes, had %v", got, bytesBefore)
	}

	// Browsers post reports from the page's origin.
	code, _, h := do(t, "OPTIONS", srv2.URL+"/v1/qos/beacon", "", "", "")
	if code != 204 || h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("preflight: %d %v", code, h)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	cfg := testConfig(t)
	cfg.CDNs = nil
	if _, err := New(context.Background(), cfg, nil, quiet(), prometheus.NewRegistry()); err == nil {
		t.Error("no CDN: no error")
	}
	cfg = testConfig(t)
	cfg.CDNs[1].Name = "bad name!"
	if _, err := New(context.Background(), cfg, nil, quiet(), prometheus.NewRegistry()); err == nil {
		t.Error("bad CDN name: no error")
	}
	cfg = testConfig(t)
	cfg.Steer.PublicBase = ""
	if _, err := New(context.Background(), cfg, nil, quiet(), prometheus.NewRegistry()); err == nil {
		t.Error("no steering base: no error")
	}
}

func TestParseCDNsAndRegions(t *testing.T) {
	cdns, err := ParseCDNs(" a;hls=https://a.example;billing=p95:price=1.75,commit=100;probe=https://a.example/ok\n b;hls=https://b.example;clone-of=a ")
	if err != nil {
		t.Fatal(err)
	}
	if len(cdns) != 2 || cdns[0].Billing.Model != policy.P95 || cdns[0].Probe != "https://a.example/ok" || cdns[1].CloneOf != "a" {
		t.Errorf("parsed %+v", cdns)
	}
	again, err := ParseCDNs(FormatCDNs(cdns))
	if err != nil || !slices.EqualFunc(again, cdns, func(x, y CDN) bool { return FormatCDNs([]CDN{x}) == FormatCDNs([]CDN{y}) }) {
		t.Errorf("round trip: %v %+v", err, again)
	}
	for _, bad := range []string{"a", "a;hls", "a;hls=", "=x;hls=y", "a;hls=x;hls=y", "a;hls=x a;hls=y", "a;hls=x;color=red", "a;hls=x;billing=per_gb:cheap"} {
		if _, err := ParseCDNs(bad); err == nil {
			t.Errorf("ParseCDNs(%q): no error", bad)
		}
	}
	regions, err := ParseRegions("eu=10.1.0.0/16,2001:db8::/32 us=10.2.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	if regions[netip.MustParsePrefix("2001:db8::/32")] != "eu" || len(regions) != 3 {
		t.Errorf("parsed %v", regions)
	}
	if again, err := ParseRegions(FormatRegions(regions)); err != nil || len(again) != 3 {
		t.Errorf("round trip: %v %v", err, again)
	}
	for _, bad := range []string{"eu", "eu=", "=10.0.0.0/8", "eu=10.0.0.1/8", "eu=banana", "eu=10.0.0.0/8 us=10.0.0.0/8"} {
		if _, err := ParseRegions(bad); err == nil {
			t.Errorf("ParseRegions(%q): no error", bad)
		}
	}
}

func FuzzParseCDNs(f *testing.F) {
	f.Add("cdn-a;hls=https://a.example;billing=per_gb:10000@0.085,*@0.06 cdn-b;hls=https://b.example;push=rtmp://in.b/{app}/{name}")
	f.Fuzz(func(t *testing.T, s string) {
		cdns, err := ParseCDNs(s)
		if err != nil {
			return
		}
		again, err := ParseCDNs(FormatCDNs(cdns))
		if err != nil || len(again) != len(cdns) {
			t.Fatalf("%q: formatted %q does not parse back: %v", s, FormatCDNs(cdns), err)
		}
	})
}

func FuzzParseRegions(f *testing.F) {
	f.Add("eu=10.1.0.0/16,2001:db8::/32 us=10.2.0.0/16")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseRegions(s)
		if err != nil {
			return
		}
		again, err := ParseRegions(FormatRegions(m))
		if err != nil || len(again) != len(m) {
			t.Fatalf("%q: formatted %q does not parse back: %v", s, FormatRegions(m), err)
		}
	})
}

func TestPushAddrs(t *testing.T) {
	cdns, err := ParseCDNs("a;hls=http://a;push=rtmp://in.a.example/{app}/{name} b;hls=http://b;push=rtmp://10.0.0.2:1936/live/{name} c;hls=http://c d;hls=http://d;push=rtmp://{app}.d.example/x/{name}")
	if err != nil {
		t.Fatal(err)
	}
	got := PushAddrs(cdns)
	want := map[string]string{"in.a.example:1935": "a", "10.0.0.2:1936": "b"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("PushAddrs = %v, want %v", got, want)
	}
}
