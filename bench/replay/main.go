// Command replay is the replay benchmark (`make bench`): a synthetic 24 h run
// of 2 s segments (43,200 index entries) in a fresh local FS store, served by
// the replay API in-process on a loopback listener. It reports the cold build
// time of the 24 h VOD playlist under each content coding (in a fresh
// process, over a store with no stored playlist fragments and over one where
// an earlier process left them, next to a fresh process's 10 s window as the
// floor; and as a new URL on a server whose fragments are warm), its size under
// each coding, the warm throughput and latency of the cached gzip playlist
// under concurrent keep-alive load next to nginx serving the very same bytes
// as static files (gzip_static) with the same Go client, and a live EVENT
// playlist's refresh as segments are appended (cold ms per coding, and its
// load while it grows next to the sealed playlist's).
//
// Both servers and the load generator share this machine's CPUs: rewind's Go
// server runs on all of them (GOMAXPROCS), so nginx gets `worker_processes
// auto` (one worker per CPU) to make the comparison even. rewind is loaded
// both in-process and in a process of its own (this program with -serve),
// as nginx is: in-process it shares the load generator's scheduler and GC.
package main

import (
	"bufio"
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
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/replaywarm"
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
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	coldOnly := flag.Bool("cold-only", false, "stop after the cold builds and sizes (no warm loads, no nginx, no live playlist)")
	flag.StringVar(&childProfiles, "childprofiles", "", "write a CPU profile of each fresh server process (-serve child) to this folder: a cold answer is too short for one profile, merge them with go tool pprof")
	flag.BoolVar(&childWarm, "warm-up", true, "fresh server processes warm up before serving, as rewind vodapi does (--warm-up): internal/replaywarm")
	serve := flag.String("serve", "", "internal: serve the FS store in this folder on a loopback port, print its URL, until stdin closes (the warm-load peer in its own process)")
	flag.Parse()
	if *conns <= 0 || *dur <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -conns and -duration must be positive")
		os.Exit(2)
	}
	if *cpuProfile != "" { // with -serve: of that process alone
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if *serve != "" {
		if err := serveChild(*serve); err != nil {
			pprof.StopCPUProfile()
			fmt.Fprintln(os.Stderr, "bench -serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*dur, *conns, *coldOnly); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(dur time.Duration, conns int, coldOnly bool) error {
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

	codings := []string{"identity", "gzip", "zstd", "br", browser}

	// 3. Cold builds in a fresh process (this program with -serve: empty
	// caches, a new heap and runtime), first over a store with no stored
	// fragments (those a previous process left are removed before each
	// run), then over one where an earlier process left them.
	fresh, freshCPU := map[string][]time.Duration{}, map[string][]time.Duration{}
	stored, storedCPU := map[string][]time.Duration{}, map[string][]time.Duration{}
	coldRow := func(path string, durs, cpus map[string][]time.Duration, clear bool) error {
		for _, coding := range codings {
			for range coldRuns {
				if clear {
					if err := removeFragments(ctx, st); err != nil {
						return err
					}
				}
				child, err := startChild(filepath.Join(tmp, "store"))
				if err != nil {
					return fmt.Errorf("fresh process: %w", err)
				}
				c := newClient(1)
				c0, err := child.cpu()
				t0 := time.Now()
				if err == nil {
					_, _, err = getCoded(c, child.url+path, coding)
				}
				d := time.Since(t0)
				c1, cerr := child.cpu()
				c.CloseIdleConnections()
				child.stop()
				if err = errors.Join(err, cerr); err != nil {
					return fmt.Errorf("cold build: %w", err)
				}
				durs[coding] = append(durs[coding], d)
				cpus[coding] = append(cpus[coding], c1-c0)
			}
		}
		return nil
	}
	if err := coldRow(path, fresh, freshCPU, true); err != nil {
		return err
	}
	// An earlier process's fragments: one server asks the playlist once
	// and stores them before it closes.
	if err := removeFragments(ctx, st); err != nil {
		return err
	}
	{
		api, err := startAPI(st, logger, 2*time.Second)
		if err != nil {
			return err
		}
		c := newClient(1)
		_, _, err = getCoded(c, api.url+path, "identity")
		c.CloseIdleConnections()
		api.srv.WaitBackground()
		api.close()
		if err != nil {
			return err
		}
	}
	if err := coldRow(path, stored, storedCPU, false); err != nil {
		return err
	}
	// The floor of a fresh process's first answer: a 10 s window (one
	// index chunk, a few lines), what no playlist can go under.
	floor, floorCPU := map[string][]time.Duration{}, map[string][]time.Duration{}
	small := fmt.Sprintf("/hls/%s/index.m3u8?start=%d&end=%d", streamName, start.Unix(), start.Add(10*time.Second).Unix())
	if err := coldRow(small, floor, floorCPU, false); err != nil {
		return err
	}

	// 4. Sizes per coding, from the server the warm load then uses; these
	// requests also fill its fragment caches.
	api, err := startAPI(st, logger, 2*time.Second)
	if err != nil {
		return err
	}
	defer api.close()
	c := newClient(conns)
	defer c.CloseIdleConnections()
	bodies := map[string][]byte{}
	for _, coding := range codings[:4] {
		body, _, err := getCoded(c, api.url+path, coding)
		if err != nil {
			return err
		}
		bodies[coding] = body
	}
	segs := bytes.Count(bodies["identity"], []byte("#EXTINF:"))
	if !bytes.Contains(bodies["identity"], []byte("#EXT-X-ENDLIST")) {
		return errors.New("the 24 h playlist has no ENDLIST: the window is not closed")
	}

	// 4b. Cold builds of new URLs on that warm server: windows starting one
	// segment later each (a new header, a cut first chunk, whole sealed
	// chunks from the fragment cache), each URL asked once.
	// And new URLs over the very same segments (the window's end moved by
	// milliseconds inside the last segment): new cache keys, the same
	// sealed prefix.
	newURL, samePrefix := map[string][]time.Duration{}, map[string][]time.Duration{}
	newURLCPU, samePrefixCPU := map[string][]time.Duration{}, map[string][]time.Duration{}
	served := map[string]map[string]int{}
	k := 0
	for _, coding := range codings {
		served[coding] = map[string]int{}
		for range coldRuns {
			k++
			for _, u := range []string{
				fmt.Sprintf("%s/hls/%s/index.m3u8?start=%d&end=%d", api.url, streamName, start.Unix()+int64(2*k), start.Add(24*time.Hour).Unix()),
				fmt.Sprintf("%s/hls/%s/index.m3u8?start=%d&end=%d.%03d", api.url, streamName, start.Unix(), start.Add(24*time.Hour).Unix()-1, 1000-k),
			} {
				t0, c0 := time.Now(), cpuTime()
				_, hdr, err := getCoded(c, u, coding)
				d, cpu := time.Since(t0), cpuTime()-c0
				if err != nil {
					return fmt.Errorf("new URL: %w", err)
				}
				if strings.Contains(u, fmt.Sprintf("start=%d&", start.Unix())) {
					samePrefix[coding] = append(samePrefix[coding], d)
					samePrefixCPU[coding] = append(samePrefixCPU[coding], cpu)
				} else {
					newURL[coding] = append(newURL[coding], d)
					newURLCPU[coding] = append(newURLCPU[coding], cpu)
					served[coding][hdr.Get("Content-Encoding")]++
				}
			}
		}
	}
	api.srv.WaitBackground()

	fmt.Printf("cold build, 24 h VOD window (%d segs): wall ms, median of %d (min-max); cpu: CPU ms, median (fresh process: the server's; else this process's, server and client)\n", segs, coldRuns)
	fmt.Printf("  %-30s", "")
	for _, coding := range codings {
		fmt.Printf(" %20s", coding)
	}
	fmt.Println()
	for _, row := range []struct {
		name string
		d    map[string][]time.Duration
	}{{"fresh process, none stored", fresh}, {"  cpu", freshCPU}, {"fresh process, stored frags", stored}, {"  cpu", storedCPU},
		{"fresh process, 10 s window", floor}, {"  cpu", floorCPU},
		{"new window, fragments warm", newURL}, {"  cpu", newURLCPU},
		{"new URL, same sealed prefix", samePrefix}, {"  cpu", samePrefixCPU}} {
		fmt.Printf("  %-30s", row.name)
		for _, coding := range codings {
			if row.name == "  cpu" {
				fmt.Printf(" %20.1f", ms(median(row.d[coding])))
				continue
			}
			fmt.Printf(" %20s", medianMinMax(row.d[coding]))
		}
		fmt.Println()
	}
	fmt.Printf("  (%s: a client accepting br, zstd and gzip; new windows were served as %v)\n", browser, served[browser])
	for _, coding := range codings[:4] {
		n := len(bodies[coding])
		fmt.Printf("%-34s %10d B   (%5.1f%%, %.2f B/seg)\n", "size "+coding, n,
			100*float64(n)/float64(len(bodies["identity"])), float64(n)/float64(segs))
	}

	if coldOnly {
		return nil
	}

	// 5. Warm load on rewind: in this process (sharing its scheduler and
	// GC with the load generator), and in a process of its own, as nginx.
	gz := bodies["gzip"]
	rw, err := load(c, api.url+path, len(gz), conns, dur)
	if err != nil {
		return fmt.Errorf("rewind warm load: %w", err)
	}
	child, err := startChild(filepath.Join(tmp, "store"))
	if err != nil {
		return fmt.Errorf("rewind in its own process: %w", err)
	}
	rwc, rwcCPU, err := loadCPU(c, child.url+path, len(gz), conns, dur, func() (float64, error) {
		return benchkit.CPUSeconds(strconv.Itoa(child.pid))
	})
	child.stop()
	if err != nil {
		return fmt.Errorf("rewind (own process) warm load: %w", err)
	}

	// 6. The same bytes as static files behind nginx.
	ng, ngCPU, version, err := nginxPeer(nginxBin, tmp, bodies["identity"], gz, conns, dur)
	if err != nil {
		return fmt.Errorf("nginx: %w", err)
	}

	// Server CPU per request (its process, or nginx's master and workers;
	// the kernel's loopback work charged to them included) is steadier
	// than req/s on a shared machine, where the load generator competes
	// for the same CPUs.
	fmt.Printf("warm load (Accept-Encoding: gzip, %d B body, %d conns, %s; nginx worker_processes auto)\n", len(gz), conns, dur)
	fmt.Printf("  %-36s %10s %9s %9s %9s %14s\n", "server", "req/s", "p50 ms", "p99 ms", "requests", "srv cpu µs/req")
	fmt.Printf("  %-36s %10.0f %9.3f %9.3f %9d %14s\n", "rewind vodapi (cached, in-process)", rw.rps, ms(rw.p50), ms(rw.p99), rw.n, "-")
	fmt.Printf("  %-36s %10.0f %9.3f %9.3f %9d %14.1f\n", "rewind vodapi (cached, own process)", rwc.rps, ms(rwc.p50), ms(rwc.p99), rwc.n, rwcCPU)
	fmt.Printf("  %-36s %10.0f %9.3f %9.3f %9d %14.1f\n", version+" gzip_static", ng.rps, ms(ng.p50), ms(ng.p99), ng.n, ngCPU)
	fmt.Printf("  %-36s %10.2fx\n", "rewind/nginx in-process (req/s)", rw.rps/ng.rps)
	fmt.Printf("  %-36s %10.2fx\n", "rewind/nginx own process (req/s)", rwc.rps/ng.rps)
	fmt.Printf("  %-36s %10.2fx\n", "rewind/nginx own process (cpu/req)", rwcCPU/ngCPU)

	// 7. A live EVENT playlist as segments are appended.
	return liveRefresh(ctx, st, logger, c, api, rw, conns, dur)
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Sorted(slices.Values(ds))
	return ds[len(ds)/2]
}

// cpuTime is the CPU time this process has used (user and system): less
// disturbed than wall time by other work on the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// medianMinMax formats durations as "median (min-max)" in ms.
func medianMinMax(ds []time.Duration) string {
	ds = slices.Sorted(slices.Values(ds))
	return fmt.Sprintf("%.1f (%.1f-%.1f)", ms(ds[len(ds)/2]), ms(ds[0]), ms(ds[len(ds)-1]))
}

// browser is a client's Accept-Encoding that takes brotli first, zstd and
// gzip too: it may be answered in br or zstd.
const browser = "br, zstd, gzip"

// getCoded GETs url with Accept-Encoding coding ("identity": none) and
// checks the answer's Content-Encoding.
func getCoded(c *http.Client, url, coding string) ([]byte, http.Header, error) {
	body, hdr, err := get(c, url, coding)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", coding, err)
	}
	want := coding
	if coding == "identity" {
		want = ""
	}
	got := hdr.Get("Content-Encoding")
	if coding == browser && (got == "br" || got == "zstd") {
		want = got
	}
	if got != want || len(body) == 0 {
		return nil, nil, fmt.Errorf("%s: answered with Content-Encoding %q, %d bytes", coding, got, len(body))
	}
	return body, hdr, nil
}

// liveSegments is the live run's length when the refreshes start: 24 h,
// its last chunk open.
const liveSegments = segments

// sealAt is the refresh of each series that seals a chunk.
const sealAt = 4

// liveRefresh measures a live EVENT playlist (a run still recording, no
// ENDLIST) re-requested as segments are appended: each refresh appends one
// segment to the index and asks the run playlist once, cold (its caches of
// the open chunk and the playlist have lapsed: a server with a 20 ms target
// duration keeps them 10 ms); then a warm load on the 2 s server while a
// segment is appended every 2 s, next to the sealed playlist's load.
func liveRefresh(ctx context.Context, st store.Store, logger *slog.Logger, c *http.Client, sealed *api, sealedRes loadResult, conns int, dur time.Duration) error {
	stream, err := catalog.ParseStream(liveName)
	if err != nil {
		return err
	}
	start := time.Now().Add(-liveSegments * 2 * time.Second).Truncate(time.Second)
	lw, err := writeLive(ctx, st, stream, start)
	if err != nil {
		return err
	}
	url := fmt.Sprintf("/hls/%s/runs/%s/index.m3u8", liveName, lw.run)

	fast, err := startAPI(st, logger, 20*time.Millisecond)
	if err != nil {
		return err
	}
	defer fast.close()
	const refreshes = 8
	codings := []string{"identity", "gzip", "zstd", "br", browser}
	res := map[string][]time.Duration{}
	liveServed := map[string]int{}
	resCPU := map[string][]time.Duration{}
	for _, coding := range codings {
		// The first request fills the fragment caches, as the playlist's
		// earlier refreshes would have.
		// The open chunk is brought to sealAt segments short of full, so
		// that the sealAt-th refresh of the series seals it (the max).
		short := catalog.EntriesPerChunk - lw.w.Len()%catalog.EntriesPerChunk
		if err := lw.appendN(ctx, st, (short-sealAt+catalog.EntriesPerChunk)%catalog.EntriesPerChunk); err != nil {
			return err
		}
		time.Sleep(25 * time.Millisecond)
		if _, _, err := getCoded(c, fast.url+url, coding); err != nil {
			return fmt.Errorf("live: %w", err)
		}
		for range refreshes {
			if err := lw.append(ctx, st); err != nil {
				return err
			}
			time.Sleep(25 * time.Millisecond)
			t0, c0 := time.Now(), cpuTime()
			body, hdr, err := getCoded(c, fast.url+url, coding)
			d := time.Since(t0)
			resCPU[coding] = append(resCPU[coding], cpuTime()-c0)
			if coding == browser {
				liveServed[hdr.Get("Content-Encoding")]++
			}
			if err != nil {
				return fmt.Errorf("live: %w", err)
			}
			if coding == "identity" {
				if n := bytes.Count(body, []byte("#EXTINF:")); n != lw.w.Len() || bytes.Contains(body, []byte("#EXT-X-ENDLIST")) {
					return fmt.Errorf("live: %d segments (ENDLIST %v) where %d are indexed", n, bytes.Contains(body, []byte("#EXT-X-ENDLIST")), lw.w.Len())
				}
			}
			res[coding] = append(res[coding], d)
		}
	}
	fmt.Printf("live EVENT refresh (run playlist, %d+ segs, one segment appended before each; %d refreshes per coding, the %dth seals a chunk): wall ms median (min-max), cpu ms median (min-max)\n", liveSegments, refreshes, sealAt)
	for _, coding := range codings {
		fmt.Printf("  %-32s %-22s %s\n", coding, medianMinMax(res[coding]), medianMinMax(resCPU[coding]))
	}
	fmt.Printf("  (%s was served as %v)\n", browser, liveServed)
	fast.srv.WaitBackground()

	// Warm: the 2 s server, a segment appended every 2 s meanwhile.
	loadCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var appendErr error
	wg.Go(func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-t.C:
				if err := lw.append(loadCtx, st); err != nil && loadCtx.Err() == nil {
					appendErr = err
					return
				}
			}
		}
	})
	lr, err := load(c, sealed.url+url, 0, conns, dur)
	cancel()
	wg.Wait()
	if err = errors.Join(err, appendErr); err != nil {
		return fmt.Errorf("live warm load: %w", err)
	}
	fmt.Printf("live EVENT warm load (Accept-Encoding: gzip, %d conns, %s, a segment appended every 2 s)\n", conns, dur)
	fmt.Printf("  %-32s %10s %9s %9s %9s\n", "playlist", "req/s", "p50 ms", "p99 ms", "requests")
	fmt.Printf("  %-32s %10.0f %9.3f %9.3f %9d\n", "live EVENT (growing)", lr.rps, ms(lr.p50), ms(lr.p99), lr.n)
	fmt.Printf("  %-32s %10.0f %9.3f %9.3f %9d\n", "sealed 24 h VOD (above)", sealedRes.rps, ms(sealedRes.p50), ms(sealedRes.p99), sealedRes.n)
	fmt.Printf("  %-32s %10.2fx\n", "live/sealed (req/s)", lr.rps/sealedRes.rps)
	return nil
}

const liveName = "bench/live"

// liveWriter appends to the live run's index as a recorder does.
type liveWriter struct {
	stream catalog.Stream
	run    string
	w      *catalog.IndexWriter
}

func (l *liveWriter) append(ctx context.Context, st store.Store) error { return l.appendN(ctx, st, 1) }

// appendN appends n 2 s segments (their time is not checked against the
// clock: only the index grows).
func (l *liveWriter) appendN(ctx context.Context, st store.Store, n int) error {
	last, _ := l.w.Last()
	var es []catalog.Entry
	for range n {
		e := catalog.Entry{Seq: last.Seq + 1, StartMS: last.EndMS(), Duration: 2 * catalog.TicksPerSecond, Size: 625_000, Flags: catalog.FlagIndependent}
		es = append(es, e)
		last = e
	}
	writes, err := l.w.Append(es...)
	if err != nil {
		return err
	}
	for _, cw := range writes {
		if err := st.Put(ctx, catalog.IndexChunkKey(l.stream, l.run, cw.Number), cw.Data, "application/octet-stream"); err != nil {
			return err
		}
	}
	return nil
}

// writeLive writes a live run of liveSegments 2 s segments ending now.
func writeLive(ctx context.Context, st store.Store, stream catalog.Stream, start time.Time) (*liveWriter, error) {
	lw := &liveWriter{stream: stream, run: catalog.NewRunID(start, "bench"), w: catalog.NewIndexWriter(nil)}
	entries := make([]catalog.Entry, liveSegments)
	t := start.UnixMilli()
	for i := range entries {
		entries[i] = catalog.Entry{Seq: uint64(i), StartMS: t, Duration: 2 * catalog.TicksPerSecond, Size: 625_000, Flags: catalog.FlagIndependent}
		t = entries[i].EndMS()
	}
	writes, err := lw.w.Append(entries...)
	if err != nil {
		return nil, err
	}
	for _, cw := range writes {
		if err := st.Put(ctx, catalog.IndexChunkKey(stream, lw.run, cw.Number), cw.Data, "application/octet-stream"); err != nil {
			return nil, err
		}
	}
	m := catalog.Manifest{
		Version:          catalog.ManifestVersion,
		Stream:           liveName,
		Run:              lw.run,
		Node:             "bench",
		StartedAt:        start.UTC(),
		State:            catalog.StateLive,
		TargetDurationMS: 2000,
	}
	if err := catalog.WriteManifest(ctx, st, m); err != nil {
		return nil, err
	}
	return lw, nil
}

// serveChild is the -serve mode: the API over the FS store in dir until
// stdin closes (the parent ends or closes it). Each line read from stdin
// is answered with this process's CPU time so far, in ns.
func serveChild(dir string) error {
	st, err := fsstore.New(dir)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if childWarm {
		if err := replaywarm.Run(context.Background()); err != nil {
			return err
		}
	}
	api, err := startAPI(st, logger, 2*time.Second)
	if err != nil {
		return err
	}
	defer api.close()
	fmt.Println(api.url)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Println(int64(cpuTime()))
	}
	return nil
}

// child is this program with -serve in a process of its own.
type child struct {
	url  string
	pid  int
	out  *bufio.Reader
	in   io.WriteCloser
	stop func()
}

// cpu is the child's CPU time so far.
func (c *child) cpu() (time.Duration, error) {
	if _, err := io.WriteString(c.in, "cpu\n"); err != nil {
		return 0, err
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("no CPU time from the child: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	return time.Duration(n), err
}

// startChild runs this program with -serve over the store in dir.
// childProfiles: see -childprofiles; childWarm: see -warm-up.
var (
	childProfiles string
	childWarm     bool
)

func startChild(dir string) (*child, error) {
	args := []string{"-serve", dir, fmt.Sprintf("-warm-up=%t", childWarm)}
	if childProfiles != "" {
		f, err := os.CreateTemp(childProfiles, "child-*.prof")
		if err != nil {
			return nil, fmt.Errorf("child profile: %w", err)
		}
		_ = f.Close()
		args = append(args, "-cpuprofile", f.Name())
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil {
		stop()
		return nil, fmt.Errorf("no URL from the child: %w", err)
	}
	return &child{url: strings.TrimSpace(line), pid: cmd.Process.Pid, out: out, in: stdin, stop: stop}, nil
}

// removeFragments deletes the stored playlist fragments of the 24 h run.
func removeFragments(ctx context.Context, st store.Store) error {
	stream, err := catalog.ParseStream(streamName)
	if err != nil {
		return err
	}
	runs, err := catalog.ListRuns(ctx, st, stream)
	if err != nil {
		return err
	}
	for _, run := range runs {
		res, err := st.List(ctx, catalog.FragmentPrefix(stream, run), store.ListOptions{})
		if err != nil {
			return err
		}
		for _, o := range res.Objects {
			if err := st.Delete(ctx, o.Key); err != nil {
				return err
			}
		}
	}
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
	chunks, err := catalog.WriteIndex(ctx, st, stream, run, entries)
	if err != nil {
		return 0, err
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
	return chunks, nil
}

// api is an in-process replay API on a loopback listener.
type api struct {
	url string
	srv *vodapi.Server
	hs  *http.Server
}

// target is the API's target duration, which sets how long it keeps live
// index chunks and playlists (half of it).
func startAPI(st store.Store, logger *slog.Logger, target time.Duration) (*api, error) {
	srv, err := vodapi.New(vodapi.Config{TargetDuration: target}, st, logger, prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ConnContext: vodapi.ConnContext}
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
// wantLen bytes long (0: any length, for a playlist that grows).
func load(c *http.Client, url string, wantLen int, conns int, dur time.Duration) (loadResult, error) {
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
			buf := bytes.NewBuffer(make([]byte, 0, wantLen+512))
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
				case wantLen > 0 && buf.Len() != wantLen:
					errs[i] = fmt.Errorf("body %d bytes, want %d", buf.Len(), wantLen)
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

// loadCPU is load on a server in its own process after one request to
// fill its cache, with the server's CPU microseconds per request of the
// timed part (cpu: the server's CPU seconds so far).
func loadCPU(c *http.Client, url string, wantLen, conns int, dur time.Duration, cpu func() (float64, error)) (loadResult, float64, error) {
	if _, _, err := get(c, url, "gzip"); err != nil {
		return loadResult{}, 0, err
	}
	c0, err := cpu()
	if err != nil {
		return loadResult{}, 0, err
	}
	res, err := load(c, url, wantLen, conns, dur)
	if err != nil {
		return res, 0, err
	}
	c1, err := cpu()
	if err != nil {
		return res, 0, err
	}
	return res, (c1 - c0) * 1e6 / float64(res.n), nil
}

// nginxPeer serves identity and gz as index.m3u8 and index.m3u8.gz from a
// temp docroot with gzip_static and runs the same warm load against it,
// with nginx's CPU microseconds per request.
func nginxPeer(bin, tmp string, identity, gz []byte, conns int, dur time.Duration) (loadResult, float64, string, error) {
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
		return res, 0, version, err
	}
	// Workers drop to an unprivileged user when started as root: the temp
	// folders and files must be world-readable (no `user root;` needed).
	for _, d := range []string{tmp, prefix, root} {
		if err := os.Chmod(d, 0o755); err != nil {
			return res, 0, version, err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "index.m3u8"), identity, 0o644); err != nil {
		return res, 0, version, err
	}
	if err := os.WriteFile(filepath.Join(root, "index.m3u8.gz"), gz, 0o644); err != nil {
		return res, 0, version, err
	}
	port, err := freePort()
	if err != nil {
		return res, 0, version, err
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
		return res, 0, version, err
	}
	cmd := exec.Command(bin, "-p", prefix+"/", "-e", filepath.Join(prefix, "error.log"), "-c", confPath, "-g", "daemon off;")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	// If the bench dies, the master gets SIGTERM and takes its workers down.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return res, 0, version, err
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
			return res, 0, version, fmt.Errorf("exited (%v): %s", err, logTail())
		default:
		}
		body, hdr, err = get(c, url, "gzip")
		if err == nil {
			break
		}
		if time.Now().After(wait) {
			return res, 0, version, fmt.Errorf("no answer on port %d: %v: %s", port, err, logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ce := hdr.Get("Content-Encoding"); ce != "gzip" {
		return res, 0, version, fmt.Errorf("answered with Content-Encoding %q, want gzip (gzip_static)", ce)
	}
	if !bytes.Equal(body, gz) {
		return res, 0, version, fmt.Errorf("gzip body differs from rewind's (%d vs %d bytes)", len(body), len(gz))
	}
	if ct := hdr.Get("Content-Type"); ct != "application/vnd.apple.mpegurl" {
		return res, 0, version, fmt.Errorf("Content-Type %q", ct)
	}
	res, perReq, err := loadCPU(c, url, len(gz), conns, dur, func() (float64, error) {
		total, _, err := benchkit.MasterCPU(cmd.Process.Pid)
		return total, err
	})
	return res, perReq, version, err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
