package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/promtest"
	"github.com/rewind-vod/rewind/internal/testproc"
	"github.com/rewind-vod/rewind/sched/steer"
)

// The scheduler flags A and B share. cdn-c is the cheapest CDN only once
// it is past its first MB of the month: without the bytes players report
// it is the dearest. Dwell 0 (a negative value stands for 0) and no
// switch cap, so that each scheduler's orders depend on the data it has,
// not on the path it took there: the data below puts every region's best
// at least SwitchMargin above the rest, so whatever part of the reports a
// round saw first, both converge on the same order. The test compares
// well within the 1 min span of the first report, so both windows hold
// everything fed.
var spSchedFlags = []string{
	"--cdns", "cdn-a;hls=http://a.cdn.test;push=rtmp://in.a.cdn.test/{app}/{name};billing=per_gb:*@0.02 " +
		"cdn-b;hls=http://b.cdn.test;push=rtmp://in.b.cdn.test/{app}/{name};billing=per_gb:*@0.05 " +
		"cdn-c;hls=http://c.cdn.test;push=rtmp://in.c.cdn.test/{app}/{name};billing=per_gb:0.001@0.50,*@0.01",
	"--regions", "eu=10.1.0.0/16 us=10.2.0.0/16",
	"--qos-client-ip-header", "X-Forwarded-For",
	"--sched-interval", "1s",
	"--sched-span", "1m",
	"--sched-max-age", spMaxAge.String(),
	"--sched-min-sessions", "1",
	"--sched-min-dwell", "-1s",
	"--sched-max-switches", "1000",
	"--prometheus-timeout", "1s",
	"--log-level", "debug",
}

const spMaxAge = 5 * time.Second

// A client of each region; other is outside every configured prefix.
var spClients = []struct{ region, ip string }{{"eu", "10.1.0.7"}, {"us", "10.2.0.7"}, {"other", "10.9.0.7"}}

// spStatic is the static order (--cdns order), for pull and push alike.
var spStatic = []string{"cdn-a", "cdn-b", "cdn-c"}

// spOrders are the orders one scheduler gives a client.
type spOrders struct {
	Pull, Push, Steer []string // address API pull and push, manifest PATHWAY-PRIORITY
}

func (o spOrders) equal(p spOrders) bool {
	return slices.Equal(o.Pull, p.Pull) && slices.Equal(o.Push, p.Push) && slices.Equal(o.Steer, p.Steer)
}

// spWant is what the fed data gives, by policy/doc.go with the default
// thresholds and weights over the 1 min span (composite, then value =
// composite - 0.2 x cost score; cdn-c past its first MB costs 0.01/GB,
// cdn-a 0.02, cdn-b 0.05):
//
//	eu  pull: cdn-b perfect 100 (80); cdn-c slow starts (4 s) and 1.2
//	          stalls/min 70.5 (66.5); cdn-a failed (12 errors, no
//	          session) and below the floor (latency 40 s, from its
//	          all-region aggregate)
//	    push: cdn-b 100; cdn-c 2 % dropped 85.8; cdn-a failed (12 publish
//	          errors, nothing sent)
//	us  pull: cdn-c perfect 100 (96); cdn-b slow starts (3.5 s) and 1
//	          stall/min 76.2 (56.2); cdn-a below the floor (latency 40 s)
//	    push: cdn-c 100; cdn-b 3 % dropped 78.5; cdn-a below the floor
//	          (10 % dropped)
//	other     (no data of its own: every item from the CDN's aggregate)
//	    pull: cdn-c 87 (83) over cdn-b 89.8 (69.8), by cost alone: without
//	          the bytes cdn-c would cost the most and cdn-b lead (87.8 to
//	          67)
//	    push: cdn-c 99.4, cdn-b 80.4, cdn-a below the floor
//
// Every leader is at least the SwitchMargin (10) above the next candidate.
var spWant = map[string]spOrders{
	"eu":    {Pull: []string{"cdn-b", "cdn-c", "cdn-a"}, Push: []string{"cdn-b", "cdn-c", "cdn-a"}, Steer: []string{"cdn-b", "cdn-c", "cdn-a"}},
	"us":    {Pull: []string{"cdn-c", "cdn-b", "cdn-a"}, Push: []string{"cdn-c", "cdn-b", "cdn-a"}, Steer: []string{"cdn-c", "cdn-b", "cdn-a"}},
	"other": {Pull: []string{"cdn-c", "cdn-b", "cdn-a"}, Push: []string{"cdn-c", "cdn-b", "cdn-a"}, Steer: []string{"cdn-c", "cdn-b", "cdn-a"}},
}

// TestSchedPrometheus: Prometheus (Debian's package) scrapes scheduler
// A's collector; scheduler B reads only that Prometheus. Fed the same
// beacons and CMCD a fleet sends (to A only), both give the same orders
// per region through the address API and the steering manifest, and they
// are the ones the data calls for, not the static order. Then Prometheus
// stops: B keeps answering within a second, the last orders while its
// input is stale, the static order once it is missing after
// --sched-max-age.
func TestSchedPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and Prometheus: not in -short")
	}
	a := spStartSched(t, "A")
	prom := promtest.Start(t, promtest.Config{Job: "rewind-sched", Targets: []string{a.httpAddr}, Interval: time.Second})
	b := spStartSched(t, "B", "--prometheus-url", prom.URL, "--prometheus-selector", `job="rewind-sched"`)
	baseA, baseB := "http://"+a.httpAddr, "http://"+b.httpAddr

	spFeed(t, baseA)
	prom.WaitScraped(t, time.Now())

	// Both have read past the last report within a few rounds.
	var gotA, gotB map[string]spOrders
	var errA, errB error
	deadline := time.Now().Add(20 * time.Second)
	for {
		gotA, errA = spAllOrders(baseA, 5*time.Second)
		gotB, errB = spAllOrders(baseB, 5*time.Second)
		if errA == nil && errB == nil && spAllEqual(gotA, spWant) && spAllEqual(gotB, spWant) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orders never settled on the data's\nin process (A): %+v (%v)\nprometheus (B): %+v (%v)\nwant:           %+v",
				gotA, errA, gotB, errB, spWant)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("orders of both: %+v", gotB)
	for _, c := range spClients {
		if !gotA[c.region].equal(gotB[c.region]) {
			t.Errorf("%s: in process %+v, prometheus %+v", c.region, gotA[c.region], gotB[c.region])
		}
		if slices.Equal(gotB[c.region].Pull, spStatic) || slices.Equal(gotB[c.region].Push, spStatic) {
			t.Errorf("%s: %+v is the static order: the inputs were not used", c.region, gotB[c.region])
		}
	}
	// Behind the orders, the same scores and failures: the policy's
	// gauges of both are equal, series for series.
	decA, decB := spDecision(t, baseA), spDecision(t, baseB)
	for k, va := range decA {
		if vb, ok := decB[k]; !ok || math.Abs(va-vb) > 1e-6 {
			t.Errorf("%s: in process %v, prometheus %v (present %v)", k, va, vb, ok)
		}
	}
	for k, vb := range decB {
		if _, ok := decA[k]; !ok {
			t.Errorf("%s: only prometheus has it (%v)", k, vb)
		}
	}
	for _, k := range []string{`rewind_sched_cdn_failed{cdn="cdn-a",region="eu"}`, `rewind_sched_push_cdn_failed{cdn="cdn-a",region="eu"}`} {
		if decB[k] != 1 {
			t.Errorf("%s = %v, want 1", k, decB[k])
		}
	}
	// cdn-c is past its dear first MB on both meters: the bytes counted.
	for name, base := range map[string]string{"in process": baseA, "prometheus": baseB} {
		if v := spGauges(t, base, "rewind_sched_marginal_cost_per_gb")[`rewind_sched_marginal_cost_per_gb{cdn="cdn-c"}`]; v != 0.01 {
			t.Errorf("%s: cdn-c's marginal cost %v, want 0.01 per GB", name, v)
		}
	}

	if st, err := spInputState(baseB, "prometheus", time.Second); err != nil || st != "fresh" {
		t.Fatalf("B's prometheus input is %q (%v), want fresh", st, err)
	}
	if st, err := spInputState(baseA, "inprocess", time.Second); err != nil || st != "fresh" {
		t.Fatalf("A's in-process input is %q (%v), want fresh", st, err)
	}

	// Prometheus gone: every answer of B within a second, never an error;
	// the last orders while stale, the static order once missing.
	prom.Stop()
	stopped := time.Now()
	static := spOrders{Pull: spStatic, Push: spStatic, Steer: spStatic}
	sawStale := false
	deadline = stopped.Add(spMaxAge + 15*time.Second)
	for {
		before, err := spInputState(baseB, "prometheus", time.Second)
		if err != nil {
			t.Fatalf("B's metrics with Prometheus stopped: %v", err)
		}
		got, err := spAllOrders(baseB, time.Second)
		if err != nil {
			t.Fatalf("B with Prometheus stopped (%s): %v", before, err)
		}
		after, err := spInputState(baseB, "prometheus", time.Second)
		if err != nil {
			t.Fatalf("B's metrics with Prometheus stopped: %v", err)
		}
		if before == after { // else it changed under the requests: look again
			switch before {
			case "fresh", "stale":
				if !spAllEqual(got, spWant) {
					t.Fatalf("input %s %v after Prometheus stopped: orders %+v, want the last ones %+v", before, time.Since(stopped), got, spWant)
				}
				if before == "stale" && !sawStale {
					t.Logf("stale %v after Prometheus stopped: the last orders", time.Since(stopped))
				}
				sawStale = sawStale || before == "stale"
			case "missing":
				for _, c := range spClients {
					if !got[c.region].equal(static) {
						t.Fatalf("input missing: %s orders %+v, want the static order %v", c.region, got[c.region], spStatic)
					}
				}
				if !sawStale {
					t.Fatal("input went missing without being stale first")
				}
				// The last good read was at most one round before the stop.
				if since := time.Since(stopped); since < spMaxAge-1500*time.Millisecond {
					t.Fatalf("input missing %v after Prometheus stopped, before --sched-max-age %v", since, spMaxAge)
				}
				t.Logf("missing %v after Prometheus stopped: the static order", time.Since(stopped))
				return
			default:
				t.Fatalf("B's prometheus input state %q", before)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's input still %s %v after Prometheus stopped (max age %v)", after, time.Since(stopped), spMaxAge)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// spStartSched runs `rewind sched` with the shared flags, its own store
// and its own address as the steering server's public URL.
func spStartSched(t *testing.T, name string, extra ...string) *proc {
	t.Helper()
	n := &proc{t: t, httpAddr: freeAddr(t), log: &testproc.Buffer{}}
	n.args = append([]string{"sched", "--http-addr", n.httpAddr, "--store", "file://" + t.TempDir(),
		"--steer-public-url", "http://" + n.httpAddr}, spSchedFlags...)
	n.args = append(n.args, extra...)
	n.cmd = exec.Command(binPath, n.args...)
	n.cmd.Env = os.Environ()
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func() { n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("rewind sched %s log:\n%s", name, n.log.String())
		}
	})
	// sched has no /healthz; its /metrics answers once it serves.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _, _, err := spDo("GET", "http://"+n.httpAddr+"/metrics", "", "", "", time.Second); err == nil && code == 200 {
			return n
		}
		select {
		case <-n.exited:
			t.Fatalf("rewind sched %s exited at start:\n%s", name, n.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("rewind sched %s does not answer:\n%s", name, n.log.String())
		}
	}
}

// spDo makes one request from client ip (X-Forwarded-For, as a trusted
// proxy in front would) within timeout, with more headers as name, value
// pairs; it returns the status, the body and how long it took.
func spDo(method, u, ip, ctype, body string, timeout time.Duration, hdr ...string) (int, string, time.Duration, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return 0, "", 0, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	start := time.Now()
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), time.Since(start), err
}

// spGet is spDo for an answer that must be 200.
func spGet(u, ip string, timeout time.Duration) (string, error) {
	code, body, took, err := spDo("GET", u, ip, "", "", timeout)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w (after %v)", u, err, took)
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d %s", u, code, body)
	}
	return body, nil
}

var spServerURI = regexp.MustCompile(`#EXT-X-CONTENT-STEERING:SERVER-URI="([^"]+)"`)

// spOrdersOf asks base for client ip's orders: the address API's pull and
// push lists, and the PATHWAY-PRIORITY of the steering manifest its
// multivariant playlist points to.
func spOrdersOf(base, ip string, timeout time.Duration) (spOrders, error) {
	var o spOrders
	body, err := spGet(base+"/v1/addresses/live/cam", ip, timeout)
	if err != nil {
		return o, err
	}
	var addrs steer.Addresses
	if err := json.Unmarshal([]byte(body), &addrs); err != nil {
		return o, fmt.Errorf("addresses: %w: %s", err, body)
	}
	o.Pull, o.Push = []string{}, []string{}
	for _, p := range addrs.Pull {
		o.Pull = append(o.Pull, p.CDN)
	}
	for _, p := range addrs.Push {
		o.Push = append(o.Push, p.CDN)
	}
	mv, err := spGet(base+"/v1/steer/hls/live/cam/index.m3u8?from=2026-12-01T00:00:00Z&to=2026-12-01T00:01:00Z", ip, timeout)
	if err != nil {
		return o, err
	}
	m := spServerURI.FindStringSubmatch(mv)
	if m == nil || !strings.HasPrefix(m[1], base+"/") {
		return o, fmt.Errorf("no SERVER-URI on %s in the multivariant playlist:\n%s", base, mv)
	}
	body, err = spGet(m[1]+"&_HLS_pathway=cdn-a&_HLS_throughput=5000000", ip, timeout)
	if err != nil {
		return o, err
	}
	var man steer.Manifest
	if err := json.Unmarshal([]byte(body), &man); err != nil {
		return o, fmt.Errorf("steering manifest: %w: %s", err, body)
	}
	o.Steer = man.Priority
	return o, nil
}

func spAllOrders(base string, timeout time.Duration) (map[string]spOrders, error) {
	out := map[string]spOrders{}
	for _, c := range spClients {
		o, err := spOrdersOf(base, c.ip, timeout)
		if err != nil {
			return out, fmt.Errorf("%s: %w", c.region, err)
		}
		out[c.region] = o
	}
	return out, nil
}

func spAllEqual(got, want map[string]spOrders) bool {
	for _, c := range spClients {
		if !got[c.region].equal(want[c.region]) {
			return false
		}
	}
	return true
}

// spInputState is the state rewind_sched_input_state says source is in.
func spInputState(base, source string, timeout time.Duration) (string, error) {
	body, err := spGet(base+"/metrics", "", timeout)
	if err != nil {
		return "", err
	}
	re := regexp.MustCompile(`(?m)^rewind_sched_input_state\{source="` + regexp.QuoteMeta(source) + `",state="(\w+)"\} 1$`)
	ms := re.FindAllStringSubmatch(body, -1)
	if len(ms) != 1 {
		return "", fmt.Errorf("%d states at 1 for source %s", len(ms), source)
	}
	return ms[0][1], nil
}

// spGauges are base's series of the metrics named (series -> value).
func spGauges(t *testing.T, base string, names ...string) map[string]float64 {
	t.Helper()
	body, err := spGet(base+"/metrics", "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		series, val, ok := strings.Cut(line, " ")
		name, _, _ := strings.Cut(series, "{")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", base, line, err)
		}
		out[series] = v
	}
	return out
}

// spDecision is the policy's view: scores per item, ranks and failures
// of every CDN in every region, pull and push.
func spDecision(t *testing.T, base string) map[string]float64 {
	t.Helper()
	g := spGauges(t, base, "rewind_sched_score", "rewind_sched_priority", "rewind_sched_push_priority",
		"rewind_sched_cdn_failed", "rewind_sched_push_cdn_failed")
	if len(g) < 3*3*4 {
		t.Fatalf("%s: only %d policy series: %v", base, len(g), g)
	}
	return g
}

// spFeed sends base what a fleet's players and streamer SDKs would: JSON
// beacons, CMCD v1 request data in the query, and CMCD v2 event bodies
// (application/cmcd), from clients in eu (10.1/16) and us (10.2/16), ten
// sessions per CDN and region (2 min watched each), so that every item is
// known in the region it was measured in.
func spFeed(t *testing.T, base string) {
	t.Helper()
	post := func(path, ip, ctype, body string) {
		t.Helper()
		code, resp, _, err := spDo("POST", base+path, ip, ctype, body, 5*time.Second)
		if err != nil || code != http.StatusNoContent {
			t.Fatalf("POST %s from %s: %d %s %v\n%s", path, ip, code, resp, err, body)
		}
	}
	cmcdQuery := func(cdn, ip, rec string) {
		t.Helper()
		u := base + "/v1/qos/cmcd?" + url.Values{"cdn": {cdn}, "CMCD": {rec}}.Encode()
		code, resp, _, err := spDo("GET", u, ip, "", "", 5*time.Second)
		if err != nil || code != http.StatusNoContent {
			t.Fatalf("GET %s from %s: %d %s %v", u, ip, code, resp, err)
		}
	}
	beacon := func(ip string, b map[string]any) {
		t.Helper()
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		post("/v1/qos/beacon", ip, "application/json", string(js))
	}
	ts := time.Now().Add(-3 * time.Minute).UnixMilli() // the sessions started before their reports
	ev := func(typ string, off int64, kv ...any) map[string]any {
		e := map[string]any{"t": typ, "ts": ts + off}
		for i := 0; i+1 < len(kv); i += 2 {
			e[kv[i].(string)] = kv[i+1]
		}
		return e
	}
	ip := func(region string, i int) string {
		if region == "eu" {
			return fmt.Sprintf("10.1.1.%d", i+1)
		}
		return fmt.Sprintf("10.2.1.%d", i+1)
	}
	const sessions = 10

	// eu, cdn-a: every attempt fails; no session ever starts. Six errors
	// in CMCD v2 event bodies (the CDN named by the header a CDN adds),
	// six in beacons; its streamers' publishes all fail.
	var lines []string
	for i := range 6 {
		lines = append(lines, fmt.Sprintf(`e=e,ec=("NET-503"),sid="eu-a-%d",ts=%d,v=2`, i, ts+int64(i)*1000))
	}
	cmcdBody := strings.Join(lines, "\n") + "\n"
	if code, resp, _, err := spDo("POST", base+"/v1/qos/cmcd", ip("eu", 0), "application/cmcd", cmcdBody, 5*time.Second,
		"X-Rewind-CDN", "cdn-a"); err != nil || code != http.StatusNoContent {
		t.Fatalf("cmcd event body with X-Rewind-CDN: %d %s %v", code, resp, err)
	}
	var errs []any
	for i := range 6 {
		errs = append(errs, ev("error", int64(i)*1000, "code", "MEDIA_ERR_NETWORK"))
	}
	beacon(ip("eu", 1), map[string]any{"sid": "eu-a-b", "cdn": "cdn-a", "stream": "live/cam", "events": errs,
		"push": map[string]any{"cdn": "cdn-a", "publish_errors": 12, "frames_dropped": 0, "frames_sent": 0}})

	// eu, cdn-b: perfect sessions in CMCD v2 event bodies (msd the first
	// frame, ltc the latency, ts gaps the watched time), segment
	// requests' CMCD in the query (bytes); its streamer drops nothing.
	for i := range sessions {
		sid := fmt.Sprintf("eu-b-%d", i)
		body := fmt.Sprintf("e=ps,sta=p,msd=800,ts=%d,sid=%q,v=2\ne=t,ltc=4000,ts=%d,sid=%q,v=2\ne=t,ts=%d,sid=%q,v=2\n",
			ts, sid, ts+60_000, sid, ts+120_000, sid)
		post("/v1/qos/cmcd?cdn=cdn-b", ip("eu", i), "application/cmcd", body)
		cmcdQuery("cdn-b", ip("eu", i), fmt.Sprintf(`br=3000,d=4000,ot=a,sid=%q`, sid))
	}
	beacon(ip("eu", 0), map[string]any{"sid": "eu-b-push", "cdn": "cdn-b", "stream": "live/cam", "events": []any{},
		"push": map[string]any{"frames_sent": 3000, "frames_dropped": 0, "publish_errors": 0}})

	// eu, cdn-c: slow starts (4 s) and 24 stalls of 1.5 s in 20 minutes
	// watched, 20 in beacons and 4 as bs in segment requests' CMCD;
	// 45 MB a session; its streamer drops 2 % of frames.
	for i := range sessions {
		sid := fmt.Sprintf("eu-c-%d", i)
		events := []any{ev("start", 0, "first_frame_ms", 4000), ev("latency", 30_000, "ms", 4000),
			ev("stall", 40_000, "duration_ms", 1500), ev("stall", 80_000, "duration_ms", 1500),
			ev("heartbeat", 120_000, "watched_ms", 120_000, "bytes", 45_000_000)}
		b := map[string]any{"sid": sid, "cdn": "cdn-c", "stream": "live/cam", "events": events}
		if i == 0 {
			b["push"] = map[string]any{"frames_sent": 3000, "frames_dropped": 60, "publish_errors": 0}
		}
		beacon(ip("eu", i), b)
		if i < 4 {
			cmcdQuery("cdn-c", ip("eu", i), fmt.Sprintf(`bs,br=3000,d=4000,ot=a,sid=%q`, sid))
		}
	}

	// us, cdn-a: good starts, but 40 s behind live; its streamer drops
	// 10 % of frames.
	for i := range sessions {
		events := []any{ev("start", 0, "first_frame_ms", 800), ev("latency", 30_000, "ms", 40_000),
			ev("heartbeat", 120_000, "watched_ms", 120_000, "bytes", 45_000_000)}
		b := map[string]any{"sid": fmt.Sprintf("us-a-%d", i), "cdn": "cdn-a", "stream": "live/cam", "events": events}
		if i == 0 {
			b["push"] = map[string]any{"frames_sent": 9000, "frames_dropped": 1000, "publish_errors": 0}
		}
		beacon(ip("us", i), b)
	}

	// us, cdn-b: slow starts (3.5 s) and two stalls of 1.2 s a session,
	// as CMCD v2 absolute counters (bsa, bsd); its streamer drops 3 %.
	for i := range sessions {
		sid := fmt.Sprintf("us-b-%d", i)
		body := fmt.Sprintf("e=ps,sta=p,msd=3500,ts=%d,sid=%q,v=2\n"+
			"e=t,ltc=4000,bsa=1,bsd=1200,ts=%d,sid=%q,v=2\n"+
			"e=t,bsa=2,bsd=2400,ts=%d,sid=%q,v=2\n", ts, sid, ts+60_000, sid, ts+120_000, sid)
		post("/v1/qos/cmcd?cdn=cdn-b", ip("us", i), "application/cmcd", body)
	}
	beacon(ip("us", 0), map[string]any{"sid": "us-b-push", "cdn": "cdn-b", "stream": "live/cam", "events": []any{},
		"push": map[string]any{"frames_sent": 30000, "frames_dropped": 900, "publish_errors": 0}})

	// us, cdn-c: perfect, 45 MB a session; its streamer drops nothing.
	for i := range sessions {
		events := []any{ev("start", 0, "first_frame_ms", 800), ev("latency", 30_000, "ms", 4000),
			ev("heartbeat", 120_000, "watched_ms", 120_000, "bytes", 45_000_000)}
		b := map[string]any{"sid": fmt.Sprintf("us-c-%d", i), "cdn": "cdn-c", "stream": "live/cam", "events": events}
		if i == 0 {
			b["push"] = map[string]any{"frames_sent": 30000, "frames_dropped": 0, "publish_errors": 0}
		}
		beacon(ip("us", i), b)
	}
}
