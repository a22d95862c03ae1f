package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/rewind-vod/rewind/internal/flvfile"
)

// registryOps are the values of the op label of
// rewind_registry_store_requests_total.
var registryOps = []string{"list", "get", "put", "delete"}

// regResult is table 3: registry store requests over the window, by
// process kind and op.
type regResult struct {
	window       time.Duration
	procs        map[string]int
	reqs         map[string]map[string]float64 // kind -> op -> requests
	plays, fails int
	firstErr     error
}

func registryCounts(ctx context.Context, ps []*proc) (map[*proc]map[string]float64, error) {
	out := map[*proc]map[string]float64{}
	for _, p := range ps {
		m, err := p.metrics(ctx)
		if err != nil {
			return nil, err
		}
		ops := map[string]float64{}
		for _, op := range registryOps {
			ops[op] = series(m, "rewind_registry_store_requests_total", "op", op)
		}
		out[p] = ops
	}
	return out, nil
}

// registryRequests counts the node registry's store requests of every
// node and proxy over window, with one stream live (published through the
// first proxy before the window) and a player joining every second in
// turn through each proxy and each node that does not hold the stream (a
// pull): plays must not cost store requests on a warm cache.
func registryRequests(ctx context.Context, c *cluster, tags []flvfile.Tag, window time.Duration) (*regResult, error) {
	const stream = "reg"
	pubs := publish(ctx, c.proxies[0].rtmpAddr, []string{stream}, tags, 0, 24*time.Hour)
	defer pubs.stop()
	live, err := c.liveOn(ctx, app+"/"+stream, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var targets []*ffPath
	for _, p := range c.proxies {
		targets = append(targets, playPaths("proxy", p.name, p, stream)[0])
	}
	for _, n := range c.nodes {
		if n != live {
			targets = append(targets, playPaths("pull", n.name, n, stream)[0])
		}
	}
	// The publish's own heartbeat and the first refreshes that see it go
	// by before the window.
	if err := sleep(ctx, 2*max(c.cfg.heartbeat, c.cfg.refresh)); err != nil {
		return nil, err
	}
	ps := append(append([]*proc(nil), c.nodes...), c.proxies...)
	c0, err := registryCounts(ctx, ps)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	slog.Info("counting registry store requests", "window", window)
	r := &regResult{procs: map[string]int{}, reqs: map[string]map[string]float64{}}
	for i := 0; time.Since(start) < window; i++ {
		next := start.Add(time.Duration(i+1) * time.Second)
		if _, err := targets[i%len(targets)].play(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r.fails++
			if r.firstErr == nil {
				r.firstErr = err
			}
		} else {
			r.plays++
		}
		if err := sleep(ctx, min(time.Until(next), window-time.Since(start))); err != nil {
			return nil, err
		}
	}
	c1, err := registryCounts(ctx, ps)
	if err != nil {
		return nil, err
	}
	r.window = time.Since(start)
	for _, p := range ps {
		r.procs[p.kind]++
		if r.reqs[p.kind] == nil {
			r.reqs[p.kind] = map[string]float64{}
		}
		for _, op := range registryOps {
			r.reqs[p.kind][op] += c1[p][op] - c0[p][op]
		}
	}
	if n, err := pubs.failed(); n > 0 {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	return r, nil
}

func (r *regResult) print(cfg config) {
	fmt.Printf("\n3. node registry store requests per minute (rewind_registry_store_requests_total), over a %.0f s window:\n", r.window.Seconds())
	fmt.Printf("   %d nodes (--heartbeat-interval %s, --registry-refresh %s), %d proxies (--registry-refresh %s), 1 stream live,\n",
		r.procs["origin"], cfg.heartbeat, cfg.refresh, r.procs["proxy"], cfg.refresh)
	fmt.Printf("   %d plays (HTTP-FLV, one a second) through the proxies and the nodes that pull the stream during the window\n", r.plays)
	fmt.Printf("%-8s %6s %9s %9s %9s %10s %10s %13s\n", "kind", "procs", "list/min", "get/min", "put/min", "delete/min", "total/min", "per proc/min")
	mins := r.window.Minutes()
	all := map[string]float64{}
	procs := 0
	row := func(kind string, n int, ops map[string]float64) {
		var total float64
		for _, op := range registryOps {
			total += ops[op]
		}
		fmt.Printf("%-8s %6d %9.1f %9.1f %9.1f %10.1f %10.1f %13.1f\n", kind, n,
			ops["list"]/mins, ops["get"]/mins, ops["put"]/mins, ops["delete"]/mins, total/mins, total/mins/float64(max(n, 1)))
	}
	for _, kind := range []string{"origin", "proxy"} {
		row(kind, r.procs[kind], r.reqs[kind])
		procs += r.procs[kind]
		for op, v := range r.reqs[kind] {
			all[op] += v
		}
	}
	row("cluster", procs, all)
	perMin := time.Minute.Seconds()
	fmt.Printf("from the settings: PUT %.0f/min (a heartbeat per node per interval), LIST %.0f/min (a refresh per process per interval),\n",
		float64(r.procs["origin"])*perMin/cfg.heartbeat.Seconds(), float64(procs)*perMin/cfg.refresh.Seconds())
	fmt.Printf("GET at most %.0f/min (a refresh reads only the heartbeats that changed since the last); a play served from the cache costs none,\n",
		float64(procs*r.procs["origin"])*perMin/max(cfg.refresh, cfg.heartbeat).Seconds())
	fmt.Println("a Live miss refreshes on demand (one LIST and the changed GETs, at most one per 250 ms per process).")
	if r.fails > 0 {
		fmt.Printf("%d plays failed, first: %v\n", r.fails, r.firstErr)
	}
}
