package source

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/rewind-vod/rewind/internal/testproc"
	"github.com/rewind-vod/rewind/sched/qos"
)

// startPrometheus runs a private Prometheus (Debian's package, never its
// service) scraping target every second, with its data in a temp dir, and
// returns its URL once it is ready. It skips the test when the binary is
// missing; the process is killed at the test's end.
func startPrometheus(t *testing.T, target string) (string, *testproc.Proc) {
	t.Helper()
	bin := os.Getenv("REWIND_PROMETHEUS")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("prometheus"); err != nil {
			t.Skip("prometheus not installed (make deps installs Debian's prometheus package; or set REWIND_PROMETHEUS)")
		}
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: collect
    static_configs:
      - targets: [%q]
`, target)
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := testproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin,
		"--config.file="+confPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	proc, err := testproc.Start(cmd, 30*time.Second, testproc.HTTPCheck("http://"+addr+"/-/ready", func(s int) bool { return s == 200 }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		proc.Kill()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", proc.Output())
		}
	})
	return "http://" + addr, proc
}

// waitScraped waits until Prometheus has scraped the collector after
// since, so that everything fed before since is in its storage.
func waitScraped(t *testing.T, promURL string, since time.Time) {
	t.Helper()
	client, err := api.NewClient(api.Config{Address: promURL})
	if err != nil {
		t.Fatal(err)
	}
	papi := v1.NewAPI(client)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		// timestamp() of the selector itself: of any other expression it
		// is the evaluation time.
		val, _, err := papi.Query(ctx, `timestamp(up{job="collect"})`, time.Now())
		cancel()
		if vec, ok := val.(model.Vector); err == nil && ok && len(vec) == 1 &&
			float64(vec[0].Value) > float64(since.UnixMilli())/1000 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus has not scraped the collector since %v (last answer %v, %v)", since, val, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPrometheusMatchesInProcess feeds the same reports to a collector
// that a real Prometheus scrapes and that InProcess readers sample, and
// checks that the Prometheus reader's windows equal the in-process ones:
// over a minute (series new in the window count from 0), and over 4 s
// that start after the first reports (the offset subtracts them); after a
// collector restart, a counter reset counts from 0. Then Prometheus is
// stopped: the runner goes Stale within its deadline,
// carrying the last good windows.
func TestPrometheusMatchesInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("real Prometheus: not in -short")
	}
	reg := prometheus.NewRegistry()
	c := newCollector(t, reg)
	// The target serves one collector's metrics, then (a restart) another's.
	var served atomic.Pointer[http.Handler]
	serve := func(reg *prometheus.Registry) {
		h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		served.Store(&h)
	}
	serve(reg)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*served.Load()).ServeHTTP(w, r) }))
	t.Cleanup(target.Close)
	promURL, proc := startPrometheus(t, target.Listener.Addr().String())

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	newIn := func(span time.Duration) *InProcess {
		p, err := NewInProcess(c.Aggregator(), InProcessConfig{Span: span, Interval: 250 * time.Millisecond, Regions: testRegions})
		if err != nil {
			t.Fatal(err)
		}
		go p.Run(ctx)
		return p
	}
	newProm := func(span time.Duration) *Prometheus {
		p, err := NewPrometheus(PrometheusConfig{URL: promURL, Span: span, Timeout: 5 * time.Second,
			Selector: `job="collect"`, Regions: testRegions}, quietLog(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	inLong, inShort := newIn(time.Minute), newIn(4*time.Second)
	promLong, promShort := newProm(time.Minute), newProm(4*time.Second)
	compare := func(what string, in *InProcess, pr *Prometheus, want map[qos.Key]qos.Window) {
		t.Helper()
		a, err := in.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := pr.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Source != "prometheus" || b.State != qos.Fresh || b.Span != pr.Span() {
			t.Errorf("%s: prometheus snapshot header %+v", what, b)
		}
		assertWindows(t, what+": prometheus vs inprocess", b.Windows, a.Windows)
		assertWindows(t, what+": inprocess vs expected", a.Windows, want)
	}

	feedPhase1(t, c)
	fed1 := time.Now()
	waitScraped(t, promURL, fed1)
	scraped1 := time.Now()
	compare("phase 1, 1m", inLong, promLong, map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: with(phase1, func(w *qos.Window) { w.RelayConnectFailures = 1 }),
	})

	// A quiet gap longer than the short span, so that its window starts
	// after phase 1 on both sides (Prometheus's base is the scrape at or
	// before the start, the in-process one the sample at or after it).
	time.Sleep(time.Until(scraped1.Add(5 * time.Second)))
	feedPhase2(t, c)
	waitScraped(t, promURL, time.Now())
	scraped2 := time.Now()

	relayC := qos.Window{RelayReconnects: 2, RelayDroppedFrames: 7}
	push := qos.Window{PushPublishErrors: 1, PushDroppedFrames: 3, PushFrames: 600}
	relayA := func(n float64) func(*qos.Window) { return func(w *qos.Window) { w.RelayConnectFailures = n } }
	compare("phase 2, 4s", inShort, promShort, map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: with(qos.Window{}, relayA(1)),
		{CDN: "cdn-a", Region: "us"}: with(push, relayA(1)),
		{CDN: "cdn-b", Region: "us"}: phase2,
		{CDN: "cdn-c", Region: "eu"}: relayC,
		{CDN: "cdn-c", Region: "us"}: relayC,
	})
	full := map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: with(phase1, relayA(2)),
		{CDN: "cdn-a", Region: "us"}: with(push, relayA(2)),
		{CDN: "cdn-b", Region: "us"}: phase2,
		{CDN: "cdn-c", Region: "eu"}: relayC,
		{CDN: "cdn-c", Region: "us"}: relayC,
	}
	compare("phases 1 and 2, 1m", inLong, promLong, full)

	// The collector restarts (its counters from 0) and counts less than
	// before within the short span: a reset counts what the series holds
	// now; series the new collector does not have are gone.
	time.Sleep(time.Until(scraped2.Add(5 * time.Second)))
	reg2 := prometheus.NewRegistry()
	c2 := newCollector(t, reg2)
	c2.Aggregator().AddCMCD("cdn-a", "eu", parseCMCD(t, `br=3200,bs,d=4000,ot=v,sid="s9"`))
	serve(reg2)
	waitScraped(t, promURL, time.Now())
	after, err := promShort.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertWindows(t, "after a restart, 4s", after.Windows, map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: {Stalls: 1, WatchedSeconds: 4, Bytes: 1_600_000},
	})

	// Prometheus stopped: Stale within the deadline, the last good data
	// carried.
	clk := newFakeClock()
	var got []qos.Snapshot
	rn, err := NewRunner(promLong, nil, func(s qos.Snapshot) { got = append(got, s) },
		RunnerConfig{Interval: 10 * time.Second, Timeout: 2 * time.Second, MaxAge: time.Minute, Now: clk.Now}, quietLog(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	good := rn.Round(ctx)
	if good.State != qos.Fresh || len(good.Windows) == 0 {
		t.Fatalf("before the stop: %s with %d windows", good.State, len(good.Windows))
	}
	proc.Kill()
	clk.Advance(10 * time.Second)
	start := time.Now()
	s := rn.Round(ctx)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("round took %v with Prometheus stopped, deadline 2s", took)
	}
	if s.State != qos.Stale {
		t.Fatalf("Prometheus stopped: %s, want stale", s.State)
	}
	assertWindows(t, "stale", s.Windows, good.Windows)
	if len(got) != 2 {
		t.Fatalf("update called %d times, want 2", len(got))
	}
}
