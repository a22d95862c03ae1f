// Command ingest is the recording benchmark (`make bench`): N publishers at
// ~2.5 Mbit/s each, replaying a pre-encoded FLV in real time over RTMP into
// `rewind origin` recording to the local store. It reports CPU seconds per
// stream-minute, RSS per publisher, lost frames, bytes stored per byte
// ingested and store requests per segment.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/loadgen"
)

func main() {
	ns := flag.String("n", "10,50,100", "publisher counts to run")
	dur := flag.Duration("duration", 30*time.Second, "publish time per round")
	bin := flag.String("rewind", "bin/rewind", "rewind binary")
	out := flag.String("out", "bench/out", "folder for the cached source media")
	flag.Parse()
	logrus.SetOutput(io.Discard) // go-rtmp's client logs every chunk-size change
	if err := run(*ns, *dur, *bin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ns string, dur time.Duration, bin, out string) error {
	src, err := sourceFLV(out)
	if err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	tags, err := flvfile.ReadAll(f)
	f.Close()
	if err != nil {
		return err
	}
	fmt.Printf("ingest benchmark: %s per round, source %s (1280x720 30 fps, 2.5 Mbit/s video + 128 kbit/s AAC)\n", dur, filepath.Base(src))
	fmt.Printf("%6s %14s %12s %10s %10s %10s %10s %10s %13s %8s\n",
		"N", "cpu s/strm-min", "rss MiB/pub", "sent", "received", "recorded", "lost", "max late", "stored/ingest", "req/seg")
	for _, s := range strings.Split(ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad -n %q", s)
		}
		r, err := round(bin, tags, n, dur)
		if err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
		fmt.Printf("%6d %14.3f %12.2f %10d %10d %10d %10d %10s %13.4f %8.2f\n",
			n, r.cpuPerStreamMin, r.rssPerPub, r.sent, r.received, r.recorded, r.received-r.recorded,
			r.maxLate.Round(time.Millisecond), r.storedPerIngested, r.reqPerSegment)
	}
	return nil
}

// sourceFLV encodes the bench media once and caches it.
func sourceFLV(out string) (string, error) {
	path := filepath.Join(out, "src-720p30-2500k.flv")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	tmp := path + ".tmp.flv"
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k",
		"-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-bf", "2", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k", "-f", "flv", "-y", tmp)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("encode source: %w", err)
	}
	return path, os.Rename(tmp, path)
}

type result struct {
	cpuPerStreamMin   float64
	rssPerPub         float64
	sent, recorded    int
	received          int // by the origin
	maxLate           time.Duration
	storedPerIngested float64
	reqPerSegment     float64
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func round(bin string, tags []flvfile.Tag, n int, dur time.Duration) (result, error) {
	var r result
	dir, err := os.MkdirTemp("", "rewind-bench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	rtmpAddr, httpAddr := freeAddr(), freeAddr()
	cmd := exec.Command(bin, "origin", "--rtmp-addr", rtmpAddr, "--http-addr", httpAddr,
		"--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--node", "bench", "--log-level", "warn", "--max-publishers", "1000", "--max-conns", "2000")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	metricsURL := "http://" + httpAddr + "/metrics"
	if err := waitHTTP("http://"+httpAddr+"/healthz", 10*time.Second); err != nil {
		return r, err
	}
	pid := cmd.Process.Pid
	cpu0, _ := cpuSeconds(pid)
	rss0, _ := rssBytes(pid)

	var mu sync.Mutex
	var stats []loadgen.Stats
	var errs []error
	var wg sync.WaitGroup
	peak := rss0
	stopSample := make(chan struct{})
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-t.C:
				if v, err := rssBytes(pid); err == nil && v > peak {
					peak = v
				}
			}
		}
	}()
	for i := range n {
		wg.Go(func() {
			// Stagger the starts over a second, as real publishers arrive.
			time.Sleep(time.Duration(i) * time.Second / time.Duration(n))
			st, err := loadgen.Publish(context.Background(), rtmpAddr, "bench", fmt.Sprintf("s%d", i), tags, dur)
			mu.Lock()
			defer mu.Unlock()
			stats = append(stats, st)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return r, fmt.Errorf("%d publishers failed, first: %w", len(errs), errs[0])
	}
	// Wait until every run is ended in the store.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m, err := scrape(metricsURL)
		if err == nil && m["rewind_recorder_runs_ended_total"] >= float64(n) {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("runs not stored in time: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stopSample)
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return r, err
	}
	m, err := scrape(metricsURL)
	if err != nil {
		return r, err
	}
	if os.Getenv("BENCH_DEBUG") != "" {
		for k, v := range m {
			if strings.HasPrefix(k, "rewind_") {
				fmt.Println(k, v)
			}
		}
	}
	var sentBytes int64
	for _, s := range stats {
		r.sent += s.Frames
		sentBytes += s.Bytes
		r.maxLate = max(r.maxLate, s.MaxLate)
	}
	r.recorded = int(m["rewind_recorder_frames_total"])
	r.received = int(m["rewind_origin_frames_in_total"]) - 2*n // less the sequence headers
	r.cpuPerStreamMin = (cpu1 - cpu0) / (float64(n) * dur.Minutes())
	r.rssPerPub = float64(peak-rss0) / float64(n) / (1 << 20)
	stored, err := dirBytes(filepath.Join(dir, "store"))
	if err != nil {
		return r, err
	}
	r.storedPerIngested = float64(stored) / float64(sentBytes)
	if segs := m["rewind_recorder_segments_uploaded_total"]; segs > 0 {
		r.reqPerSegment = m["rewind_recorder_store_requests_total"] / segs
	}
	return r, nil
}

func waitHTTP(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not up", url)
}

// scrape sums every sample of each metric family (labels folded).
func scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err == nil {
			m[name] += v
		}
	}
	return m, sc.Err()
}

// cpuSeconds is the process's user + system CPU time from /proc.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

func dirBytes(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}
