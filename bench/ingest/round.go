package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/loadgen"
)

type result struct {
	cpuPerStreamMin   float64
	userShare         float64 // of the CPU time, the part in user space (the rest is the kernel's)
	readsPerSec       float64 // read and write system calls per stream-second (/proc/pid/io)
	writesPerSec      float64
	rssPerPub         float64
	sent, recorded    int
	received          int // by the origin
	maxLate           time.Duration
	storedPerIngested float64
	reqPerSegment     float64
}

// probe measures one server process the same way for every server: CPU
// seconds from /proc between start and finish, and the peak RSS above the
// idle RSS at start, sampled every 250 ms.
type probe struct {
	pid        string
	usr0, sys0 float64
	io0        ioCounts
	rss0, peak int64
	cancel     context.CancelFunc
	done       chan struct{}
}

func startProbe(pid int) (*probe, error) {
	p := &probe{pid: strconv.Itoa(pid), done: make(chan struct{})}
	var err error
	if p.usr0, p.sys0, err = benchkit.CPUTimes(p.pid); err != nil {
		return nil, err
	}
	if p.rss0, err = benchkit.StatusBytes(p.pid, "VmRSS"); err != nil {
		return nil, err
	}
	p.peak = p.rss0
	p.io0, _ = readIO(p.pid) // zero where /proc/pid/io is not readable
	var ctx context.Context
	ctx, p.cancel = context.WithCancel(context.Background())
	go func() {
		defer close(p.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if v, err := benchkit.StatusBytes(p.pid, "VmRSS"); err == nil && v > p.peak {
					p.peak = v
				}
			}
		}
	}()
	return p, nil
}

// finish stops sampling and fills r's CPU and RSS figures for n streams of
// d each.
func (p *probe) finish(r *result, n int, d time.Duration) error {
	p.cancel()
	<-p.done
	usr1, sys1, err := benchkit.CPUTimes(p.pid)
	if err != nil {
		return err
	}
	usr, cpu := usr1-p.usr0, usr1-p.usr0+sys1-p.sys0
	r.cpuPerStreamMin = cpu / (float64(n) * d.Minutes())
	if cpu > 0 {
		r.userShare = usr / cpu
	}
	if io1, err := readIO(p.pid); err == nil && p.io0.syscr > 0 {
		secs := float64(n) * d.Seconds()
		r.readsPerSec = float64(io1.syscr-p.io0.syscr) / secs
		r.writesPerSec = float64(io1.syscw-p.io0.syscw) / secs
	}
	r.rssPerPub = float64(p.peak-p.rss0) / float64(n) / (1 << 20)
	return nil
}

// publishAll runs n real-time publishers bench/s0..s<n-1> into rtmpAddr
// for d each and fills r's sent and late figures; it returns the payload
// bytes sent.
func publishAll(rtmpAddr string, tags []flvfile.Tag, n int, d time.Duration, r *result) (int64, error) {
	var mu sync.Mutex
	var stats []loadgen.Stats
	var errs []error
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Stagger the starts over a second, as real publishers arrive.
			time.Sleep(time.Duration(i) * time.Second / time.Duration(n))
			st, err := loadgen.Publish(context.Background(), rtmpAddr, "bench", fmt.Sprintf("s%d", i), tags, d)
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
		return 0, fmt.Errorf("%d publishers failed, first: %w", len(errs), errs[0])
	}
	var sent int64
	for _, s := range stats {
		r.sent += s.Frames
		sent += s.Bytes
		r.maxLate = max(r.maxLate, s.MaxLate)
	}
	return sent, nil
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

// ioCounts are a process's read and write system calls so far.
type ioCounts struct{ syscr, syscw int64 }

func readIO(pid string) (ioCounts, error) {
	var c ioCounts
	b, err := os.ReadFile("/proc/" + pid + "/io")
	if err != nil {
		return c, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "syscr":
			c.syscr = n
		case "syscw":
			c.syscw = n
		}
	}
	if c.syscr == 0 {
		return c, fmt.Errorf("/proc/%s/io: no syscr", pid)
	}
	return c, nil
}
