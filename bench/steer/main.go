// Command steer is the content steering benchmark (`make bench`): the
// steering server (sched/steer) in-process on a loopback listener, with a
// Ranker that answers from memory, under concurrent keep-alive load. It
// reports the throughput and p50/p99 latency of the steering manifest (what
// every player reloads every TTL), and for comparison of the multivariant
// playlist and the address API, with clients spread over four regions and a
// session of four pathways, one of which is offered as a clone.
//
// The server and the load generator share this machine's CPUs.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/sched/steer"
)

var regions = []string{"eu", "us", "asia", "sa"}

func main() {
	dur := flag.Duration("duration", 10*time.Second, "load time per route")
	conns := flag.Int("conns", 64, "concurrent keep-alive connections")
	flag.Parse()
	if *conns <= 0 || *dur <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -conns and -duration must be positive")
		os.Exit(2)
	}
	if err := run(*dur, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// memRanker answers from memory, a fixed order per region.
type memRanker map[string][]string

func (m memRanker) Pull(_ context.Context, region string) ([]string, error) { return m[region], nil }
func (m memRanker) Push(_ context.Context, region string) ([]string, error) { return m[region], nil }

func run(dur time.Duration, conns int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	cfg := steer.Config{
		PublicBase: base,
		Pathways: []steer.Pathway{
			{ID: "cdn-a", HLSBase: "https://a.example.net", FLV: "https://a.example.net/{app}/{name}.flv", Push: "rtmp://push-a.example.net/{app}/{name}"},
			{ID: "cdn-b", HLSBase: "https://b.example.net", RTMP: "rtmp://b.example.net/{app}/{name}", Push: "rtmp://push-b.example.net/{app}/{name}"},
			{ID: "cdn-c", HLSBase: "https://c.example.net"},
			{ID: "cdn-d", HLSBase: "https://d.example.net"},
			{ID: "cdn-e", HLSBase: "https://e.example.net", CloneOf: "cdn-a", CloneParams: map[string]string{"cdn": "e"}},
		},
	}
	rk := memRanker{
		"eu": {"cdn-a", "cdn-e", "cdn-b", "cdn-c", "cdn-d"}, "us": {"cdn-b", "cdn-a", "cdn-d"},
		"asia": {"cdn-e", "cdn-c", "cdn-a"}, "sa": {"cdn-d", "cdn-b"},
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := steer.New(cfg, rk, func(r *http.Request) string { return r.Header.Get("X-Region") }, logger, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer s.Close()
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	// The session's pathways lack cdn-e: each answer also builds a clone.
	state := "v=1&stream=live/cam&pathways=cdn-a,cdn-b,cdn-c,cdn-d&session=6e2fb550c45711e9bb970800200c9a66"
	routes := []struct {
		name, url, want string
	}{
		{"steering manifest", base + "/v1/steer/manifest?" + state + "&_HLS_pathway=cdn-a&_HLS_throughput=5000000", `"PATHWAY-PRIORITY"`},
		{"multivariant playlist", base + "/v1/steer/hls/live/cam/index.m3u8?start=1767225600&exp=1767229200&sig=abcdef", "#EXT-X-CONTENT-STEERING"},
		{"address API", base + "/v1/addresses/live/cam", `"pull"`},
	}
	fmt.Printf("steering benchmark: in-process sched/steer, Ranker from memory, %d pathways (one a clone), %d regions; %d CPUs; %d keep-alive conns x %s per route\n",
		len(cfg.Pathways), len(regions), runtime.NumCPU(), conns, dur)
	fmt.Printf("  %-24s %10s %9s %9s %9s %7s\n", "route", "req/s", "p50 ms", "p99 ms", "requests", "bytes")
	for _, r := range routes {
		res, err := load(r.url, r.want, conns, dur)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		fmt.Printf("  %-24s %10.0f %9.3f %9.3f %9d %7d\n", r.name, res.rps, ms(res.p50), ms(res.p99), res.n, res.size)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type loadResult struct {
	n, size  int
	rps      float64
	p50, p99 time.Duration
}

// load runs conns goroutines, each on its own keep-alive connection and
// region, looping GET url for dur; every answer must be 200 and hold want.
func load(url, want string, conns int, dur time.Duration) (loadResult, error) {
	c := &http.Client{
		Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute},
		Timeout:   30 * time.Second,
	}
	defer c.CloseIdleConnections()
	do := func(req *http.Request, buf *bytes.Buffer) error {
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			return err
		case resp.StatusCode != http.StatusOK:
			return fmt.Errorf("status %s: %.200s", resp.Status, buf.String())
		case !strings.Contains(buf.String(), want):
			return fmt.Errorf("answer without %s: %.200s", want, buf.String())
		}
		return nil
	}
	newReq := func(i int) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("X-Region", regions[i%len(regions)])
		return req
	}
	// One request per connection first, so the timed part is keep-alive only.
	var wg sync.WaitGroup
	size := 0
	var mu sync.Mutex
	for i := range conns {
		wg.Go(func() {
			var buf bytes.Buffer
			if do(newReq(i), &buf) == nil {
				mu.Lock()
				size = max(size, buf.Len())
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	lats := make([][]time.Duration, conns)
	errs := make([]error, conns)
	t0 := time.Now()
	deadline := t0.Add(dur)
	for i := range conns {
		wg.Go(func() {
			var buf bytes.Buffer
			req := newReq(i)
			for time.Now().Before(deadline) {
				s := time.Now()
				if errs[i] = do(req, &buf); errs[i] != nil {
					return
				}
				lats[i] = append(lats[i], time.Since(s))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if err := errors.Join(errs...); err != nil {
		return loadResult{}, err
	}
	all := slices.Concat(lats...)
	if len(all) == 0 {
		return loadResult{}, errors.New("no request completed")
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return benchkit.Quantile(all, p) }
	return loadResult{n: len(all), size: size, rps: float64(len(all)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99)}, nil
}
