// Command cluster is the origin cluster benchmark (`make bench`): an S3
// store (versitygw), 3 `rewind origin` nodes and 2 `rewind proxy`
// processes on loopback ports, publishers replaying a pre-encoded FLV in
// real time over RTMP (internal/loadgen). It prints three tables:
//
//  1. first frame time for a player, direct to the live node, through a
//     proxy and from another node (a cold node-to-node pull each try),
//     over HTTP-FLV and RTMP, and the ratios to direct;
//  2. the proxy's CPU per relayed stream against the origins' CPU per
//     recorded stream, N publishers through one proxy, and the first-frame
//     delta of the proxy under that load;
//     Table 2b runs the same rounds through nginx's stream module, the L4
//     floor the proxy is read against;
//  3. the node registry's store requests per minute, by process kind.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/testproc"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.rewind, "rewind", "bin/rewind", "rewind binary")
	flag.StringVar(&cfg.versitygw, "versitygw", "", "versitygw binary (default: $REWIND_VERSITYGW, else .tools/bin/versitygw)")
	flag.IntVar(&cfg.nodes, "nodes", 3, "origin nodes")
	flag.IntVar(&cfg.proxies, "proxies", 2, "proxies (publishes go through the first, table 1's plays through the last)")
	flag.DurationVar(&cfg.heartbeat, "heartbeat-interval", 2*time.Second, "--heartbeat-interval of the nodes")
	flag.DurationVar(&cfg.refresh, "registry-refresh", 2*time.Second, "--registry-refresh of the nodes and proxies")
	flag.DurationVar(&cfg.nodeTimeout, "node-timeout", 10*time.Second, "--node-timeout of the nodes and proxies")
	flag.DurationVar(&cfg.pullLinger, "pull-linger", 500*time.Millisecond, "--pull-linger of the nodes (table 1 waits longer between pull tries)")
	flag.StringVar(&cfg.logLevel, "log-level", "warn", "--log-level of the rewind processes (their output is shown when one fails)")
	tables := flag.String("tables", "1,2,3", "tables to run")
	tries := flag.Int("tries", 10, "table 1: first-frame tries per path")
	samples := flag.Bool("samples", false, "table 1: print every try's figure too")
	ns := flag.String("n", "10,50,100", "table 2: publisher counts to run")
	dur := flag.Duration("duration", 30*time.Second, "table 2: CPU window per round")
	loadTries := flag.Int("load-tries", 5, "table 2: first-frame tries per path under each round's load")
	window := flag.Duration("registry-window", time.Minute, "table 3: window the store requests are counted over")
	out := flag.String("out", "bench/out", "folder for the cached source media")
	peer := flag.Bool("peer", true, "table 2b: the same rounds through nginx's stream module, the L4 floor the proxy is read against")
	flag.Parse()
	logrus.SetOutput(io.Discard) // go-rtmp's client logs every chunk-size change
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg, *tables, *tries, *samples, *ns, *dur, *loadTries, *window, *out, *peer)
	stop()
	if err != nil {
		slog.Error("cluster bench failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, tables string, tries int, samples bool, ns string, dur time.Duration, loadTries int, window time.Duration, out string, peer bool) error {
	which, err := benchkit.Counts(tables, "-tables")
	if err != nil {
		return err
	}
	counts, err := benchkit.Counts(ns, "-n")
	if err != nil {
		return err
	}
	if cfg.nodes < 2 || cfg.proxies < 1 || tries < 1 || loadTries < 1 {
		return fmt.Errorf("need -nodes >= 2, -proxies >= 1, -tries and -load-tries >= 1")
	}
	if cfg.versitygw == "" {
		if cfg.versitygw, err = testproc.Binary("REWIND_VERSITYGW", "versitygw"); err != nil {
			return fmt.Errorf("versitygw not found (make deps builds it): %w", err)
		}
	}
	if cfg.rewind, err = filepath.Abs(cfg.rewind); err != nil {
		return fmt.Errorf("rewind binary: %w", err)
	}
	src, tags, err := benchkit.SourceTags(out)
	if err != nil {
		return err
	}

	slog.Info("starting the cluster", "nodes", cfg.nodes, "proxies", cfg.proxies)
	c, err := startCluster(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.close()
	fmt.Printf("cluster benchmark: %d `rewind origin` nodes, %d `rewind proxy`, versitygw, all on loopback; source %s (1280x720 30 fps, 2.5 Mbit/s video + 128 kbit/s AAC)\n",
		cfg.nodes, cfg.proxies, filepath.Base(src))
	fmt.Printf("nodes: --heartbeat-interval %s --registry-refresh %s --node-timeout %s --pull-linger %s; proxies: --registry-refresh %s --node-timeout %s\n",
		cfg.heartbeat, cfg.refresh, cfg.nodeTimeout, cfg.pullLinger, cfg.refresh, cfg.nodeTimeout)

	if slices.Contains(which, 1) {
		r, err := firstFrames(ctx, c, tags, tries)
		if err != nil {
			return fmt.Errorf("table 1: %w", err)
		}
		r.print(samples)
		if err := c.settle(ctx); err != nil {
			return fmt.Errorf("after table 1: %w", err)
		}
	}
	if slices.Contains(which, 2) {
		printCPUHeader(dur, loadTries, c.proxies[0].name)
		var rows []*cpuRow
		for _, n := range counts {
			slog.Info("round", "publishers", n, "window", dur)
			r, err := cpuRound(ctx, c, tags, n, dur, loadTries)
			if err != nil {
				return fmt.Errorf("table 2, N=%d: %w", n, err)
			}
			r.print()
			rows = append(rows, r)
		}
		printCPUNotes(rows)
		if peer {
			if err := runPeer(ctx, c, tags, counts, rows, dur); err != nil {
				return fmt.Errorf("table 2b: %w", err)
			}
		}
	}
	if slices.Contains(which, 3) {
		r, err := registryRequests(ctx, c, tags, window)
		if err != nil {
			return fmt.Errorf("table 3: %w", err)
		}
		r.print(cfg)
	}
	return nil
}

// runPeer runs table 2b: each of table 2's rounds again through nginx.
func runPeer(ctx context.Context, c *cluster, tags []flvfile.Tag, counts []int, rows []*cpuRow, dur time.Duration) error {
	ng, err := startNginxStream(c.dir, c.nodes)
	if err != nil {
		return err
	}
	defer ng.close()
	printPeerHeader(ng.version)
	for i, n := range counts {
		slog.Info("peer round", "publishers", n, "window", dur)
		r, err := peerRound(ctx, c, ng, tags, n, dur)
		if err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
		r.print(rows[i])
	}
	fmt.Println("ngx/or %: nginx's CPU per stream-minute over the nodes'; px/ngx: rewind proxy's CPU per stream-minute (table 2, same N) over nginx's.")
	return nil
}
