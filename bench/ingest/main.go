// Command ingest is the recording benchmark (`make bench`): N publishers at
// ~2.5 Mbit/s each, replaying a pre-encoded FLV in real time over RTMP into
// `rewind origin` recording to the local store. It reports CPU seconds per
// stream-minute, RSS per publisher, lost frames, bytes stored per byte
// ingested and store requests per segment.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/rewind-vod/rewind/internal/benchkit"
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
	src, tags, err := benchkit.SourceTags(out)
	if err != nil {
		return err
	}
	fmt.Printf("ingest benchmark: %s per round, source %s (1280x720 30 fps, 2.5 Mbit/s video + 128 kbit/s AAC)\n", dur, filepath.Base(src))
	fmt.Printf("%6s %14s %12s %10s %10s %10s %10s %10s %13s %8s\n",
		"N", "cpu s/strm-min", "rss MiB/pub", "sent", "received", "recorded", "lost", "max late", "stored/ingest", "req/seg")
	counts, err := benchkit.Counts(ns, "-n")
	if err != nil {
		return err
	}
	for _, n := range counts {
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

type result struct {
	cpuPerStreamMin   float64
	rssPerPub         float64
	sent, recorded    int
	received          int // by the origin
	maxLate           time.Duration
	storedPerIngested float64
	reqPerSegment     float64
}

func round(bin string, tags []flvfile.Tag, n int, dur time.Duration) (result, error) {
	var r result
	dir, err := os.MkdirTemp("", "rewind-bench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	rtmpAddr, err := benchkit.FreeAddr()
	if err != nil {
		return result{}, err
	}
	httpAddr, err := benchkit.FreeAddr()
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(bin, "origin", "--rtmp-addr", rtmpAddr, "--http-addr", httpAddr,
		"--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--node", "bench", "--log-level", "warn", "--max-publishers", "1000", "--max-conns", "2000")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	metricsURL := "http://" + httpAddr + "/metrics"
	if err := benchkit.WaitHTTP(context.Background(), "http://"+httpAddr+"/healthz", 10*time.Second); err != nil {
		return r, err
	}
	pid := cmd.Process.Pid
	cpu0, _ := benchkit.CPUSeconds(strconv.Itoa(pid))
	rss0, _ := benchkit.StatusBytes(strconv.Itoa(pid), "VmRSS")

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
				if v, err := benchkit.StatusBytes(strconv.Itoa(pid), "VmRSS"); err == nil && v > peak {
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
		m, err := benchkit.Scrape(context.Background(), metricsURL)
		if err == nil && m["rewind_recorder_runs_ended_total"] >= float64(n) {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("runs not stored in time: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stopSample)
	cpu1, err := benchkit.CPUSeconds(strconv.Itoa(pid))
	if err != nil {
		return r, err
	}
	m, err := benchkit.Scrape(context.Background(), metricsURL)
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
