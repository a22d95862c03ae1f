package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/flvfile"
)

// cpuRow is one round of table 2: n publishers through the first proxy.
type cpuRow struct {
	n      int
	window time.Duration
	// CPU seconds over the window: the proxy the streams go through, the
	// origin nodes together, versitygw, this process and the whole host.
	proxy, origin, s3, bench, host float64
	proxySys                       float64  // of proxy, in the kernel
	perNode                        []string // publishers on each node
	relayed                        float64  // bytes the proxy relayed to the nodes
	pubLate                        time.Duration
	pubFails                       int
	pubErr                         error
	// First frame under the round's load, direct and through the proxy.
	ff map[string]*ffPath // kind + " " + proto
}

type cpuSnap struct {
	at                             time.Time
	proxy, origin, s3, bench, host float64 // CPU seconds
	proxySys                       float64
	relayed                        float64
	perNode                        []string
	proxyPublishSessions           float64
}

func (c *cluster) cpuSnap(ctx context.Context, px *proc) (cpuSnap, error) {
	s := cpuSnap{at: time.Now()}
	var err error
	if s.proxy, err = px.cpu(); err != nil {
		return s, err
	}
	if _, s.proxySys, err = benchkit.CPUTimes(px.pid()); err != nil {
		return s, fmt.Errorf("proxy stime: %w", err)
	}
	for _, n := range c.nodes {
		v, err := n.cpu()
		if err != nil {
			return s, err
		}
		s.origin += v
		m, err := n.metrics(ctx)
		if err != nil {
			return s, err
		}
		s.perNode = append(s.perNode, strconv.Itoa(int(m["rewind_origin_publishers"])))
	}
	if s.s3, err = c.s3.cpu(); err != nil {
		return s, err
	}
	if s.bench, err = benchkit.CPUSeconds("self"); err != nil {
		return s, fmt.Errorf("bench cpu: %w", err)
	}
	if s.host, err = benchkit.HostBusySeconds(); err != nil {
		return s, err
	}
	m, err := px.metrics(ctx)
	if err != nil {
		return s, err
	}
	s.relayed = series(m, "rewind_proxy_bytes_total", "proto", "rtmp", "direction", "to_node")
	s.proxyPublishSessions = series(m, "rewind_proxy_sessions", "kind", "publish")
	return s, nil
}

// cpuRound publishes n streams through the first proxy; once all are live
// on the nodes it measures CPU over dur, then times first frames under that
// load (loadTries per path) before the publishers stop.
func cpuRound(ctx context.Context, c *cluster, tags []flvfile.Tag, n int, dur time.Duration, loadTries int) (*cpuRow, error) {
	px := c.proxies[0]
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("r%d-s%d", n, i)
	}
	pubs, err := c.publishLive(ctx, px.rtmpAddr, names, tags, dur)
	if err != nil {
		return nil, err
	}
	defer pubs.stop()
	s0, err := c.cpuSnap(ctx, px)
	if err != nil {
		return nil, err
	}
	if s0.proxyPublishSessions != float64(n) {
		return nil, fmt.Errorf("%s relays %v publishes, want %d", px.name, s0.proxyPublishSessions, n)
	}
	slog.Info("measuring", "publishers", n, "per node", strings.Join(s0.perNode, "/"), "window", dur)
	if err := sleep(ctx, dur); err != nil {
		return nil, err
	}
	s1, err := c.cpuSnap(ctx, px)
	if err != nil {
		return nil, err
	}
	r := &cpuRow{n: n, window: s1.at.Sub(s0.at), proxy: s1.proxy - s0.proxy, origin: s1.origin - s0.origin,
		proxySys: s1.proxySys - s0.proxySys, s3: s1.s3 - s0.s3, bench: s1.bench - s0.bench, host: s1.host - s0.host,
		perNode: s0.perNode, relayed: s1.relayed - s0.relayed, ff: map[string]*ffPath{}}

	// First frames under load: each try plays another of the round's
	// streams, from the node it is live on and through the loaded proxy.
	for i := range loadTries {
		stream := names[i%n]
		live, err := c.liveOn(ctx, app+"/"+stream, 5*time.Second)
		if err != nil {
			return nil, err
		}
		paths := append(playPaths("direct", "direct", live, stream), playPaths("proxy", "proxy", px, stream)...)
		for _, p := range paths {
			key := p.kind + " " + p.proto
			acc := r.ff[key]
			if acc == nil {
				acc = p
				r.ff[key] = p
			} else {
				acc.play = p.play
			}
			if err := acc.try(ctx, c, nil); err != nil {
				return nil, fmt.Errorf("first frame under load %s: %w", key, err)
			}
		}
	}
	for _, p := range r.ff {
		slices.Sort(p.samples)
	}
	r.pubFails, r.pubErr = pubs.failed()
	r.pubLate = pubs.stop()
	if err := c.settle(ctx); err != nil {
		slog.Warn("the nodes did not settle after the round; the next round may carry some of its upload work", "err", err)
	}
	return r, nil
}

// publishLive publishes names through addr until stopped (the limit is
// only a backstop) and returns once the nodes have them all live and the
// connection setup and first uploads have passed.
func (c *cluster) publishLive(ctx context.Context, addr string, names []string, tags []flvfile.Tag, dur time.Duration) (*publishers, error) {
	n := len(names)
	pubs := publish(ctx, addr, names, tags, time.Second, dur+5*time.Minute)
	if err := c.waitNodes(ctx, "rewind_origin_publishers", func(v float64) bool { return v >= float64(n) }, 30*time.Second+time.Duration(n)*100*time.Millisecond); err != nil {
		if k, perr := pubs.failed(); k > 0 {
			err = fmt.Errorf("%w (%d publishers failed, first: %w)", err, k, perr)
		}
		pubs.stop()
		return nil, err
	}
	if err := sleep(ctx, 2*time.Second); err != nil {
		pubs.stop()
		return nil, err
	}
	return pubs, nil
}

// settle waits until the nodes have no publisher and an empty spool.
func (c *cluster) settle(ctx context.Context) error {
	zero := func(v float64) bool { return v == 0 }
	if err := c.waitNodes(ctx, "rewind_origin_publishers", zero, 30*time.Second); err != nil {
		return err
	}
	return c.waitNodes(ctx, "rewind_recorder_spool_bytes", zero, 2*time.Minute)
}

// ffDelta is the median through the proxy minus the median direct, in ms.
func (r *cpuRow) ffDelta(proto string) string {
	d, p := r.ff["direct "+proto], r.ff["proxy "+proto]
	if d == nil || p == nil || len(d.samples) == 0 || len(p.samples) == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.1f", ms(benchkit.Quantile(p.samples, 0.5)-benchkit.Quantile(d.samples, 0.5)))
}

func printCPUHeader(dur time.Duration, loadTries int, px string) {
	fmt.Printf("\n2. proxy CPU per relayed stream: N publishers of 2.5 Mbit/s video + 128 kbit/s AAC published through %s, recorded by the nodes into S3 (versitygw);\n", px)
	fmt.Printf("   CPU over a %s window once all N are live; then %d first-frame tries per path under that load\n", dur, loadTries)
	fmt.Printf("%5s %7s %10s %8s %7s %13s %13s %8s %9s %9s %10s %9s %8s %8s %8s\n",
		"N", "win s", "per node", "px cores", "px sys", "px s/str-min", "or s/str-min", "px/or %", "ffΔ flv", "ffΔ rtmp", "relay Mb/s", "pub late", "s3 cores", "bench", "host")
}

func (r *cpuRow) print() {
	secs, strMin := r.window.Seconds(), float64(r.n)*r.window.Minutes()
	ratio := "-"
	if r.origin > 0 {
		ratio = fmt.Sprintf("%.2f", 100*r.proxy/r.origin)
	}
	sys := "-"
	if r.proxy > 0 {
		sys = fmt.Sprintf("%.0f%%", 100*r.proxySys/r.proxy)
	}
	fmt.Printf("%5d %7.1f %10s %8.3f %7s %13.4f %13.4f %8s %9s %9s %10.1f %9s %8.2f %8.2f %8.2f\n",
		r.n, secs, strings.Join(r.perNode, "/"), r.proxy/secs, sys, r.proxy/strMin, r.origin/strMin, ratio,
		r.ffDelta("HTTP-FLV"), r.ffDelta("RTMP"), r.relayed*8/secs/1e6, r.pubLate.Round(time.Millisecond),
		r.s3/secs, r.bench/secs, r.host/secs)
}

func printCPUNotes(rows []*cpuRow) {
	fmt.Println("per node: publishers on each node; px cores: proxy CPU s per wall s (utime+stime); px sys: the share of it in the kernel")
	fmt.Println("(on loopback a sender's stime includes the receiving socket's TCP work); px s/str-min: proxy CPU s per stream-minute;")
	fmt.Println("or s/str-min: CPU s of all origin nodes together per stream-minute (ingest, slicing, upload to S3, heartbeats);")
	fmt.Println("px/or %: the two as a ratio (aim <= 5 %); ffΔ: first frame through the proxy minus direct, medians, ms (aim <= 50 ms);")
	fmt.Println("relay Mb/s: rewind_proxy_bytes_total{proto=rtmp,direction=to_node} over the window; pub late: the publishers' worst pacing delay;")
	fmt.Printf("s3 cores, bench, host: cores used by versitygw, by this process (publishers, players), by the whole machine (%d cores).\n", runtime.NumCPU())
	for _, r := range rows {
		var s []string
		for _, k := range []string{"direct HTTP-FLV", "proxy HTTP-FLV", "direct RTMP", "proxy RTMP"} {
			if p := r.ff[k]; p != nil && len(p.samples) > 0 {
				s = append(s, fmt.Sprintf("%s %.1f", k, ms(benchkit.Quantile(p.samples, 0.5))))
			}
		}
		line := fmt.Sprintf("N=%d: first frame medians under load (ms): %s", r.n, strings.Join(s, ", "))
		for _, p := range r.ff {
			if p.firstErr != nil {
				line += fmt.Sprintf("; %s %s: %d failed, first: %v", p.kind, p.proto, p.fails, p.firstErr)
			}
		}
		if r.pubFails > 0 {
			line += fmt.Sprintf("; %d publishers failed, first: %v", r.pubFails, r.pubErr)
		}
		fmt.Println(line)
	}
}
