package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/flvfile"
)

// ffPath is one way a player reaches a stream.
type ffPath struct {
	kind         string // direct, proxy or pull
	where, proto string
	play         func(context.Context) (time.Duration, error)
	pullFrom     *proc // the node that must pull for this path (cold each try), or nil

	samples  []time.Duration // sorted once the tries are done
	fails    int
	firstErr error
	cold     int // tries that started a new node-to-node pull
}

// playPaths are the two protocols of one place to play stream from.
func playPaths(kind, where string, p *proc, stream string) []*ffPath {
	var pullFrom *proc
	if kind == "pull" {
		pullFrom = p
	}
	url := p.url("/" + app + "/" + stream + ".flv")
	return []*ffPath{
		{kind: kind, where: where, proto: "HTTP-FLV", pullFrom: pullFrom,
			play: func(ctx context.Context) (time.Duration, error) { return flvFirstKeyframe(ctx, url) }},
		{kind: kind, where: where, proto: "RTMP", pullFrom: pullFrom,
			play: func(ctx context.Context) (time.Duration, error) {
				return rtmpFirstKeyframe(ctx, p.rtmpAddr, app, stream)
			}},
	}
}

// try plays path once and records the figure. A pull path first waits
// until its node has no pull running and the linger has passed since the
// last try, so that every try is a cold pull, and checks that it was.
func (fp *ffPath) try(ctx context.Context, c *cluster, lastPull *time.Time) error {
	var started float64
	if fp.pullFrom != nil {
		if err := sleep(ctx, time.Until(lastPull.Add(c.cfg.pullLinger+250*time.Millisecond))); err != nil {
			return err
		}
		deadline := time.Now().Add(c.cfg.pullLinger + 15*time.Second)
		for {
			m, err := fp.pullFrom.metrics(ctx)
			if err != nil {
				return err
			}
			if m["rewind_origin_pulls_active"] == 0 {
				started = m["rewind_origin_pulls_started_total"]
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s still pulls %v streams long after its players left", fp.pullFrom.name, m["rewind_origin_pulls_active"])
			}
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				return err
			}
		}
	}
	d, err := fp.play(ctx)
	if fp.pullFrom != nil {
		*lastPull = time.Now()
		m, merr := fp.pullFrom.metrics(ctx)
		if merr != nil {
			return merr
		}
		if m["rewind_origin_pulls_started_total"] == started+1 {
			fp.cold++
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fp.fails++
		if fp.firstErr == nil {
			fp.firstErr = err
		}
		return nil
	}
	fp.samples = append(fp.samples, d)
	return nil
}

// ffResult is table 1.
type ffResult struct {
	live, pubProxy, playProxy, other string
	tries                            int
	paths                            []*ffPath
}

// firstFrames publishes one stream through the first proxy and times the
// first frame on each path, the paths interleaved try by try so that a
// busy moment of the machine does not land on one path only.
func firstFrames(ctx context.Context, c *cluster, tags []flvfile.Tag, tries int) (*ffResult, error) {
	const stream = "ff"
	pubProxy, playProxy := c.proxies[0], c.proxies[len(c.proxies)-1]
	pubs := publish(ctx, pubProxy.rtmpAddr, []string{stream}, tags, 0, 24*time.Hour)
	defer pubs.stop()
	live, err := c.liveOn(ctx, app+"/"+stream, 10*time.Second)
	if err != nil {
		if n, perr := pubs.failed(); n > 0 {
			err = fmt.Errorf("%w (publisher: %w)", err, perr)
		}
		return nil, err
	}
	var other *proc
	for _, n := range c.nodes {
		if n != live {
			other = n
			break
		}
	}
	// A GOP in the live node's cache, as a running stream has.
	if err := sleep(ctx, 2500*time.Millisecond); err != nil {
		return nil, err
	}
	r := &ffResult{live: live.name, pubProxy: pubProxy.name, playProxy: playProxy.name, tries: tries}
	r.paths = append(r.paths, playPaths("direct", "direct to the live node "+live.name, live, stream)...)
	r.paths = append(r.paths, playPaths("proxy", "through a proxy "+playProxy.name, playProxy, stream)...)
	if other != nil {
		r.other = other.name
		r.paths = append(r.paths, playPaths("pull", "from another node "+other.name+" (pull)", other, stream)...)
	}
	var lastPull time.Time
	for i := range tries {
		slog.Info("first frame", "try", i+1, "of", tries)
		for _, fp := range r.paths {
			if err := fp.try(ctx, c, &lastPull); err != nil {
				return nil, fmt.Errorf("first frame %s %s: %w", fp.where, fp.proto, err)
			}
		}
		if n, err := pubs.failed(); n > 0 {
			return nil, fmt.Errorf("publisher: %w", err)
		}
	}
	for _, fp := range r.paths {
		slices.Sort(fp.samples)
	}
	return r, nil
}

// direct is the direct path of proto.
func (r *ffResult) direct(proto string) *ffPath {
	for _, fp := range r.paths {
		if fp.proto == proto && fp.kind == "direct" {
			return fp
		}
	}
	return nil
}

func (r *ffResult) print(samples bool) {
	fmt.Printf("\n1. first frame: from the play request (TCP connect included) to the first video keyframe received whole, %d tries per path;\n", r.tries)
	fmt.Printf("   app/stream %s/ff published through %s at 2.5 Mbit/s, live on %s\n", app, r.pubProxy, r.live)
	fmt.Printf("%-38s %-8s %5s %9s %9s %9s %9s %9s %9s\n", "path", "proto", "ok", "median ms", "p90 ms", "min ms", "max ms", "x direct", "Δ ms")
	for _, fp := range r.paths {
		if len(fp.samples) == 0 {
			fmt.Printf("%-38s %-8s %5s %9s %9s %9s %9s %9s %9s\n", fp.where, fp.proto, fmt.Sprintf("0/%d", r.tries), "-", "-", "-", "-", "-", "-")
			continue
		}
		med := benchkit.Quantile(fp.samples, 0.5)
		ratio, delta := "-", "-"
		if d := r.direct(fp.proto); d != nil && len(d.samples) > 0 {
			dm := benchkit.Quantile(d.samples, 0.5)
			ratio = fmt.Sprintf("%.2f", float64(med)/float64(dm))
			delta = fmt.Sprintf("%+.1f", ms(med-dm))
		}
		fmt.Printf("%-38s %-8s %5s %9.1f %9.1f %9.1f %9.1f %9s %9s\n", fp.where, fp.proto, fmt.Sprintf("%d/%d", len(fp.samples), r.tries),
			ms(med), ms(benchkit.Quantile(fp.samples, 0.9)), ms(fp.samples[0]), ms(fp.samples[len(fp.samples)-1]), ratio, delta)
	}
	fmt.Println("x direct: median / median of the direct path of the same protocol; Δ ms: median - that median.")
	for _, fp := range r.paths {
		if fp.pullFrom != nil {
			fmt.Printf("%s %s: %d of %d tries started a new pull (cold: no pull running and --pull-linger passed before each try)\n",
				fp.where, fp.proto, fp.cold, r.tries)
		}
		if fp.firstErr != nil {
			fmt.Printf("%s %s: %d failed, first: %v\n", fp.where, fp.proto, fp.fails, fp.firstErr)
		}
	}
	if samples {
		for _, fp := range r.paths {
			var s []string
			for _, d := range fp.samples {
				s = append(s, fmt.Sprintf("%.1f", ms(d)))
			}
			fmt.Printf("%s %s, sorted ms: %s\n", fp.where, fp.proto, strings.Join(s, " "))
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
