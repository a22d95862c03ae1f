package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// defaultMaxSessions is collect.DefaultConfig().MaxSessions, the CMCD v2
// sessions the collector remembers (`rewind sched` has no flag for it);
// printed beside the number of sessions the flood offered.
const defaultMaxSessions = 65536

// rssSample is the server's VmRSS at a moment of the flood.
type rssSample struct {
	at  time.Duration
	rss int64
}

// flood runs the flood round against a fresh server with a small queue:
// every connection sends CMCD v2 event bodies back to back, each report
// of a session id never seen before, while the server's RSS is sampled.
func flood(ctx context.Context, bin, dir string, cfg config) error {
	srv, err := startServer(bin, dir, cfg.floodQueue, cfg.logLevel)
	if err != nil {
		return err
	}
	defer srv.p.Kill()
	fmt.Printf("\nflood: a fresh `rewind sched` with --qos-queue %d; %d keep-alive conns x %s of CMCD v2 event bodies (10 reports each), every report a new session id\n",
		cfg.floodQueue, cfg.floodConns, cfg.floodDur)
	idle, err := srv.mem("VmRSS")
	if err != nil {
		return err
	}
	before, err := settle(ctx, srv)
	if err != nil {
		return err
	}
	// A fresh sid per line and request (w, n): built as it goes, since no
	// two requests may repeat.
	src := func(w, n int) request {
		return cmcdEvents(srv.addr, cdns[w%2], func(line int) string { return sidOf(w, n*16+line) },
			1764638400000+int64(n)*40000, n)
	}
	p, warm, err := newPool(ctx, srv.addr, cfg.floodConns, src)
	if err != nil {
		return err
	}
	defer p.close()
	warmRSS, err := srv.mem("VmRSS")
	if err != nil {
		return err
	}

	sctx, stopSampling := context.WithCancel(ctx)
	var samples []rssSample
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
				if v, err := srv.mem("VmRSS"); err == nil {
					samples = append(samples, rssSample{time.Since(t0), v})
				}
			}
		}
	})
	c0, err := readCPU(srv)
	if err != nil {
		stopSampling()
		wg.Wait()
		return err
	}
	res, err := p.run(ctx, src, cfg.floodDur)
	c1, cerr := readCPU(srv)
	stopSampling()
	wg.Wait()
	if err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	p.close()
	// Let the server finish what it queued and its goroutines exit; Go's
	// scavenger hands memory back lazily, so "after" is what stays held.
	time.Sleep(2 * time.Second)
	runtime.GC() // ours, so the generator's own garbage is not in the next figures
	after, err := srv.mem("VmRSS")
	if err != nil {
		return err
	}
	hwm, err := srv.mem("VmHWM")
	if err != nil {
		return err
	}

	total := *res
	total.sent += warm.sent
	total.accepted += warm.accepted
	total.shed += warm.shed
	total.exp.add(warm.exp)
	note, countErr := checkCounts(ctx, srv, before, "cmcd", checked{latency: true, errors: true}, &total)

	secs := res.elapsed.Seconds()
	srvCPU, genCPU := c1.srv-c0.srv, c1.self-c0.self
	fmt.Printf("  %8s %9s %9s %7s %7s %13s %7s %8s %8s\n", "req/s", "accepted", "reports/s", "429 %", "srv cpu", "reports/cpu-s", "gen cpu", "p50 ms", "p99 ms")
	perCPU := 0.0
	if srvCPU > 0 {
		perCPU = float64(res.exp.reports) / srvCPU
	}
	fmt.Printf("  %8.0f %9.0f %9.0f %7.1f %7.2f %13.0f %7.2f %8.3f %8.3f\n",
		float64(res.sent)/secs, float64(res.accepted)/secs, float64(res.exp.reports)/secs,
		100*float64(res.shed)/float64(max(res.sent, 1)), srvCPU, perCPU, genCPU, ms(res.pct(0.5)), ms(res.pct(0.99)))
	status := "ok"
	if countErr != nil {
		status = "MISMATCH: " + countErr.Error()
	}
	fmt.Printf("  counted: %s\n  %s\n", status, note)

	q := quarterMax(samples, cfg.floodDur)
	fmt.Printf("  server RSS MiB: idle %.1f, after the %d connections' warm-up %.1f; during the flood, max per quarter %.1f %.1f %.1f %.1f; 2 s after %.1f; VmHWM %.1f\n",
		mib(idle), cfg.floodConns, mib(warmRSS), mib(q[0]), mib(q[1]), mib(q[2]), mib(q[3]), mib(after), mib(hwm))
	// The session table fills first (its bound), then nothing should grow
	// but the GC's sawtooth: the halves' peaks are compared, with room for
	// a GC cycle's swing.
	first, second := max(q[0], q[1]), max(q[2], q[3])
	grow := second - first
	verdict := "bounded: no growth in the second half"
	if grow > max(first/5, 16<<20) {
		verdict = "GROWS with the flood"
	}
	fmt.Printf("  sessions offered: %d new session ids accepted (the collector remembers at most %d); RSS peak second half - first half: %+.1f MiB: %s\n",
		total.exp.reports, defaultMaxSessions, mib(grow), verdict)
	if cfg.showSamples {
		for _, s := range samples {
			fmt.Printf("    %6.1fs %7.1f MiB\n", s.at.Seconds(), mib(s.rss))
		}
	}
	if countErr != nil {
		return countErr
	}
	return nil
}

// quarterMax is the largest sample in each quarter of dur.
func quarterMax(samples []rssSample, dur time.Duration) [4]int64 {
	var q [4]int64
	for _, s := range samples {
		i := min(int(4*s.at/dur), 3)
		q[i] = max(q[i], s.rss)
	}
	return q
}
