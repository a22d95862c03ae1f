// Command replay is the replay benchmark (`make bench`): a synthetic 24 h run
// of 2 s segments (43,200 index entries) in a fresh local FS store, served by
// the replay API in-process on a loopback listener. It reports the cold build
// time of the 24 h VOD playlist, its size under each content coding, and the
// warm throughput and latency of the cached gzip playlist under concurrent
// keep-alive load, next to nginx serving the very same bytes as static files
// (gzip_static) with the same Go client.
//
// Both servers and the load generator share this machine's CPUs: rewind's Go
// server runs on all of them (GOMAXPROCS), so nginx gets `worker_processes
// auto` (one worker per CPU) to make the comparison even.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/vodapi"
)

const (
	segments   = 43200 // 24 h of 2 s segments
	coldRuns   = 5
	streamName = "bench/day"
)

func main() {
	dur := flag.Duration("duration", 10*time.Second, "warm load time per server")
	conns := flag.Int("conns", 64, "concurrent connections of the warm load")
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

func run(dur time.Duration, conns int) error {
	nginxBin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			return errors.New("nginx not found (Debian package nginx; `make bench` installs it)")
		}
		nginxBin = "/usr/sbin/nginx"
	}

	tmp, err := os.MkdirTemp("", "rewind-replay-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()

	// 1. The synthetic run, through the catalog writer.
	st, err := fsstore.New(filepath.Join(tmp, "store"))
	if err != nil {
		return err
	}
	start := time.Now().Add(-25 * time.Hour).Truncate(time.Second)
	chunks, err := writeRun(ctx, st, start)
	if err != nil {
		return err
	}
	path := fmt.Sprintf("/hls/%s/index.m3u8?start=%d&end=%d", streamName, start.Unix(), start.Add(24*time.Hour).Unix())

	fmt.Printf("replay benchmark: 24 h run of 2 s segments (%d index entries, %d chunks) in a local FS store; %d CPUs; warm load %d conns x %s\n",
		segments, chunks, runtime.NumCPU(), conns, dur)

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// 3. Cold builds: a new Server (empty caches) and listener each time.
	var colds []time.Duration
	for range coldRuns {
		api, err := startAPI(st, logger)
		if err != nil {
			return err
		}
		c := newClient(1)
		t0 := time.Now()
		body, hdr, err := get(c, api.url+path, "gzip")
		d := time.Since(t0)
		c.CloseIdleConnections()
		api.close()
		if err != nil {
			return fmt.Errorf("cold build: %w", err)
		}
		if hdr.Get("Content-Encoding") != "gzip" || len(body) == 0 {
			return fmt.Errorf("cold build: Content-Encoding %q, %d bytes", hdr.Get("Content-Encoding"), len(body))
		}
		colds = append(colds, d)
	}
	slices.Sort(colds)

	// 4. Sizes per coding, from the server the warm load then uses.
	api, err := startAPI(st, logger)
	if err != nil {
		return err
	}
	defer api.close()
	c := newClient(conns)
	defer c.CloseIdleConnections()
	bodies := map[string][]byte{}
	codings := []string{"identity", "gzip", "br", "zstd"}
	for _, coding := range codings {
		body, hdr, err := get(c, api.url+path, coding)
		if err != nil {
			return fmt.Errorf("%s: %w", coding, err)
		}
		want := coding
		if coding == "identity" {
			want = ""
		}
		if got := hdr.Get("Content-Encoding"); got != want {
			return fmt.Errorf("%s: answered with Content-Encoding %q", coding, got)
		}
		bodies[coding] = body
	}
	segs := bytes.Count(bodies["identity"], []byte("#EXTINF:"))
	if !bytes.Contains(bodies["identity"], []byte("#EXT-X-ENDLIST")) {
		return errors.New("the 24 h playlist has no ENDLIST: the window is not closed")
	}

	fmt.Printf("%-34s %10.1f ms  (median of %d, min %.1f, max %.1f; fresh vodapi.Server each)\n",
		fmt.Sprintf("cold build (24h, %d segs)", segs), ms(colds[len(colds)/2]), coldRuns, ms(colds[0]), ms(colds[len(colds)-1]))
	for _, coding := range codings {
		n := len(bodies[coding])
		fmt.Printf("%-34s %10d B   (%5.1f%%, %.2f B/seg)\n", "size "+coding, n,
			100*float64(n)/float64(len(bodies["identity"])), float64(n)/float64(segs))
	}

	// 5. Warm load on rewind.
	gz := bodies["gzip"]
	rw, err := load(c, api.url+path, gz, conns, dur)
	if err != nil {
		return fmt.Errorf("rewind warm load: %w", err)
	}

	// 6. The same bytes as static files behind nginx.
	ng, version, err := nginxPeer(nginxBin, tmp, bodies["identity"], gz, conns, dur)
	if err != nil {
		return fmt.Errorf("nginx: %w", err)
	}

	fmt.Printf("warm load (Accept-Encoding: gzip, %d B body, %d conns, %s; nginx worker_processes auto)\n", len(gz), conns, dur)
	fmt.Printf("  %-32s %10s %9s %9s %9s\n", "server", "req/s", "p50 ms", "p99 ms", "requests")
	fmt.Printf("  %-32s %10.0f %9.3f %9.3f %9d\n", "rewind vodapi (cached)", rw.rps, ms(rw.p50), ms(rw.p99), rw.n)
	fmt.Printf("  %-32s %10.0f %9.3f %9.3f %9d\n", version+" gzip_static", ng.rps, ms(ng.p50), ms(ng.p99), ng.n)
	fmt.Printf("  %-32s %10.2fx\n", "rewind/nginx (req/s)", rw.rps/ng.rps)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writeRun writes a 24 h ended run of 2 s segments starting at start: the
// index chunks through catalog.IndexWriter and the manifest. It returns the
// number of chunks.
func writeRun(ctx context.Context, st store.Store, start time.Time) (int, error) {
	stream, err := catalog.ParseStream(streamName)
	if err != nil {
		return 0, err
	}
	run := catalog.NewRunID(start, "bench")
	rng := rand.New(rand.NewPCG(1, 2))
	entries := make([]catalog.Entry, segments)
	t := start.UnixMilli()
	for i := range entries {
		// A few ms of jitter, in pairs that cancel out: the run is exactly 24 h.
		j := int64(i/2%7) - 3
		if i%2 == 1 {
			j = -j
		}
		d := uint32(2*catalog.TicksPerSecond + j*catalog.TicksPerSecond/1000)
		size := 625_000 + rng.IntN(62_501) - 31_250 // 2.5 Mbit/s, ±5 %
		entries[i] = catalog.Entry{Seq: uint64(i), StartMS: t, Duration: d, Size: uint32(size), Flags: catalog.FlagIndependent}
		t = entries[i].EndMS()
	}
	w := catalog.NewIndexWriter(nil)
	writes, err := w.Append(entries...)
	if err != nil {
		return 0, err
	}
	for _, cw := range writes {
		if err := st.Put(ctx, catalog.IndexChunkKey(stream, run, cw.Number), cw.Data, "application/octet-stream"); err != nil {
			return 0, err
		}
	}
	end := time.UnixMilli(t).UTC()
	m := catalog.Manifest{
		Version:          catalog.ManifestVersion,
		Stream:           streamName,
		Run:              run,
		Node:             "bench",
		StartedAt:        start.UTC(),
		EndedAt:          &end,
		State:            catalog.StateEnded,
		TargetDurationMS: 2000,
	}
	if err := catalog.WriteManifest(ctx, st, m); err != nil {
		return 0, err
	}
	return len(writes), nil
}

// api is an in-process replay API on a loopback listener.
type api struct {
	url string
	srv *vodapi.Server
	hs  *http.Server
}

func startAPI(st store.Store, logger *slog.Logger) (*api, error) {
	srv, err := vodapi.New(vodapi.Config{TargetDuration: 2 * time.Second}, st, logger, prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return &api{url: "http://" + ln.Addr().String(), srv: srv, hs: hs}, nil
}

func (a *api) close() {
	_ = a.hs.Close()
	a.srv.Close()
}

// newClient is the HTTP client for every measurement: keep-alive, no
// transparent decompression (raw body bytes are read and compared).
func newClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DisableCompression:  true,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
		},
		Timeout: 30 * time.Second,
	}
}

func get(c *http.Client, url, coding string) ([]byte, http.Header, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept-Encoding", coding)
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
	}
	return body, resp.Header, nil
}

type loadResult struct {
	n        int
	rps      float64
	p50, p99 time.Duration
}

// load runs conns goroutines, each looping GET url with Accept-Encoding: gzip
// and reading the whole body, for dur. Every answer must be 200, gzip and
// len(want) bytes long.
func load(c *http.Client, url string, want []byte, conns int, dur time.Duration) (loadResult, error) {
	// One request per connection first, so the timed part is keep-alive only.
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() { _, _, _ = get(c, url, "gzip") })
	}
	wg.Wait()

	lats := make([][]time.Duration, conns)
	errs := make([]error, conns)
	t0 := time.Now()
	deadline := t0.Add(dur)
	for i := range conns {
		wg.Go(func() {
			buf := bytes.NewBuffer(make([]byte, 0, len(want)+512))
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			for time.Now().Before(deadline) {
				s := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					errs[i] = err
					return
				}
				buf.Reset()
				_, err = buf.ReadFrom(resp.Body)
				resp.Body.Close()
				lats[i] = append(lats[i], time.Since(s))
				switch {
				case err != nil:
					errs[i] = err
				case resp.StatusCode != http.StatusOK:
					errs[i] = fmt.Errorf("status %s", resp.Status)
				case resp.Header.Get("Content-Encoding") != "gzip":
					errs[i] = fmt.Errorf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
				case buf.Len() != len(want):
					errs[i] = fmt.Errorf("body %d bytes, want %d", buf.Len(), len(want))
				}
				if errs[i] != nil {
					return
				}
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
	return loadResult{n: len(all), rps: float64(len(all)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99)}, nil
}

// nginxPeer serves identity and gz as index.m3u8 and index.m3u8.gz from a
// temp docroot with gzip_static and runs the same warm load against it.
func nginxPeer(bin, tmp string, identity, gz []byte, conns int, dur time.Duration) (loadResult, string, error) {
	var res loadResult
	version := "nginx"
	if out, err := exec.Command(bin, "-v").CombinedOutput(); err == nil {
		if _, v, ok := strings.Cut(strings.TrimSpace(string(out)), "nginx version: "); ok {
			version = v
		}
	}
	prefix := filepath.Join(tmp, "nginx")
	root := filepath.Join(prefix, "www")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return res, version, err
	}
	// Workers drop to an unprivileged user when started as root: the temp
	// folders and files must be world-readable (no `user root;` needed).
	for _, d := range []string{tmp, prefix, root} {
		if err := os.Chmod(d, 0o755); err != nil {
			return res, version, err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "index.m3u8"), identity, 0o644); err != nil {
		return res, version, err
	}
	if err := os.WriteFile(filepath.Join(root, "index.m3u8.gz"), gz, 0o644); err != nil {
		return res, version, err
	}
	port, err := freePort()
	if err != nil {
		return res, version, err
	}
	// `daemon off;` comes from -g (repeating it here would be a duplicate).
	conf := fmt.Sprintf(`worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    types { application/vnd.apple.mpegurl m3u8; }
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000000;
    gzip_static on;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen 127.0.0.1:%[2]d;
        root %[3]s;
    }
}
`, prefix, port, root)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return res, version, err
	}
	cmd := exec.Command(bin, "-p", prefix+"/", "-e", filepath.Join(prefix, "error.log"), "-c", confPath, "-g", "daemon off;")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	// If the bench dies, the master gets SIGTERM and takes its workers down.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return res, version, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	logTail := func() string {
		b, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
		return strings.TrimSpace(stderr.String() + "\n" + string(b))
	}

	url := fmt.Sprintf("http://127.0.0.1:%d/index.m3u8", port)
	c := newClient(conns)
	defer c.CloseIdleConnections()
	var body []byte
	var hdr http.Header
	for wait := time.Now().Add(5 * time.Second); ; {
		select {
		case err := <-exited:
			exited <- err
			return res, version, fmt.Errorf("exited (%v): %s", err, logTail())
		default:
		}
		body, hdr, err = get(c, url, "gzip")
		if err == nil {
			break
		}
		if time.Now().After(wait) {
			return res, version, fmt.Errorf("no answer on port %d: %v: %s", port, err, logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ce := hdr.Get("Content-Encoding"); ce != "gzip" {
		return res, version, fmt.Errorf("answered with Content-Encoding %q, want gzip (gzip_static)", ce)
	}
	if !bytes.Equal(body, gz) {
		return res, version, fmt.Errorf("gzip body differs from rewind's (%d vs %d bytes)", len(body), len(gz))
	}
	if ct := hdr.Get("Content-Type"); ct != "application/vnd.apple.mpegurl" {
		return res, version, fmt.Errorf("Content-Type %q", ct)
	}
	res, err = load(c, url, gz, conns, dur)
	return res, version, err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
