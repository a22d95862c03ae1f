// Command fanout is the live playback benchmark (`make bench`): one
// publisher at ~2.5 Mbit/s, replaying a pre-encoded FLV in real time over
// RTMP into `rewind origin`, and N HTTP-FLV players reading
// GET /{app}/{name}.flv from it. It reports the origin's CPU and memory per
// player, the egress, the players dropped and how far behind the publisher
// the players are. Its second table plays the same publish with N players
// of one kind at a time (the Go RTMP client, Debian's rtmpdump, the
// HTTP-FLV client) from rewind origin and from nginx-rtmp, the peer, and
// compares the servers' CPU per player-minute (issue #16).
//
// -peer-cases picks the rounds of the second table (e.g. nginx/go,
// rewind/go); -nginx default runs nginx-rtmp with the module's defaults,
// -nginx fair with the origin's chunk size and player queue (nginx.go
// says why each directive). Its clients column is the CPU of the load
// (this process and the rtmpdump processes): the players share the
// machine with the servers, and nginx-rtmp writes each message on its own
// (one read per message for the player, ~2.7x the reads rewind's batched
// writes cause), so at N = 500 on two cores its players cost the machine
// 3-7x more than rewind's, and the machine, not nginx's one worker (a
// third of a core), is what runs out: every player then gets the same
// 74-85 % and the rtmpdump rounds pass or fail from run to run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/rewind-vod/rewind/internal/benchkit"
)

func main() {
	ns := flag.String("n", "10,100,500", "player counts of the HTTP-FLV table (\"\" for none)")
	peerNs := flag.String("peer-n", "10,100", "player counts of the rewind vs nginx-rtmp table (\"\" for none)")
	tuning := flag.String("nginx", string(nginxDefault), "nginx-rtmp config: default (the module's, as in the figures so far) or fair (chunk size and player queue as rewind's, see nginx.go)")
	cases := flag.String("peer-cases", "", "cases of the second table, comma-separated server/client of rewind, nginx and go, dump, flv (default all)")
	dur := flag.Duration("duration", 30*time.Second, "publish time per round")
	bin := flag.String("rewind", "bin/rewind", "rewind binary")
	out := flag.String("out", "bench/out", "folder for the cached source media")
	flag.Parse()
	logrus.SetOutput(io.Discard) // go-rtmp's client logs every chunk-size change
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *ns, *dur, *bin, *out)
	if err == nil {
		var pcs []peerCase
		if pcs, err = parseCases(*cases); err == nil {
			if t := nginxTuning(*tuning); t != nginxFair && t != nginxDefault {
				err = fmt.Errorf("-nginx %q: want fair or default", *tuning)
			} else {
				err = runPeer(ctx, *peerNs, pcs, t, *dur, *bin, *out)
			}
		}
	}
	stop()
	if err != nil {
		slog.Error("fanout bench failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, ns string, dur time.Duration, bin, out string) error {
	if ns == "" {
		return nil
	}
	counts, err := benchkit.Counts(ns, "-n")
	if err != nil {
		return err
	}
	src, tags, err := benchkit.SourceTags(out)
	if err != nil {
		return err
	}
	fmt.Printf("fanout benchmark: %s per round, 1 publisher of %s (1280x720 30 fps, 2.5 Mbit/s video + 128 kbit/s AAC), N HTTP-FLV players\n",
		dur, filepath.Base(src))
	fmt.Printf("%5s %6s %11s %8s %8s %10s %10s %6s %6s %8s %8s %8s %11s %9s %6s %6s\n",
		"N", "cores", "ms/pl-min", "rss MiB", "KiB/pl", "egress", "(metrics)", "drops", "early",
		"lag p50", "p99", "max", "in/sent", "pub late", "bench", "host")
	var notes []string
	for _, n := range counts {
		slog.Info("round", "players", n, "duration", dur)
		r, err := round(ctx, bin, tags, n, dur)
		if err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
		printRow(r)
		notes = append(notes, note(r))
	}
	fmt.Println("cores: origin CPU s per wall s (ingest and recording of the one publisher included); ms/pl-min: origin CPU ms per player-minute;")
	fmt.Println("rss MiB: origin VmHWM; KiB/pl: (VmHWM - VmRSS before the players) / N; egress: Mbit/s read by all players, (metrics): rewind_origin_bytes_out_total;")
	fmt.Println("drops: rewind_origin_player_drops_total; early: players whose stream ended before the publisher's; lag ms: video tag arrival - (publish start + timestamp)")
	fmt.Printf("over all players, dropped ones included, from the first keyframe %s after joining;\n", skipAfterJoin)
	fmt.Println("in/sent: media frames the origin took in / the publisher sent; pub late: publisher's worst pacing delay;")
	fmt.Printf("bench: cores used by this process (players and publisher); host: cores busy on the whole machine (%d cores).\n", runtime.NumCPU())
	for _, s := range notes {
		fmt.Println(s)
	}
	return nil
}

func printRow(r result) {
	secs := r.window.Seconds()
	mbps := func(bytes float64) float64 { return bytes * 8 / secs / 1e6 }
	ms := func(d time.Duration) string {
		if len(r.lags) == 0 {
			return "-"
		}
		return strconv.FormatInt(d.Milliseconds(), 10)
	}
	fmt.Printf("%5d %6.2f %11.1f %8.1f %8.1f %10.1f %10.1f %6.0f %6d %8s %8s %8s %11s %9s %6.2f %6.2f\n",
		r.n, r.cpu/secs, r.cpu*1000/(float64(r.n)*r.window.Minutes()),
		float64(r.rssPeak)/(1<<20), float64(r.rssPeak-r.rssBase)/float64(r.n)/(1<<10),
		mbps(float64(r.rxBytes)), mbps(r.outBytes), r.drops, r.early,
		ms(benchkit.Quantile(r.lags, 0.5)), ms(benchkit.Quantile(r.lags, 0.99)), ms(benchkit.Quantile(r.lags, 1)),
		fmt.Sprintf("%d/%d", r.in, r.sent), r.pubLate.Round(time.Millisecond), r.benchCPU/secs, r.hostCPU/secs)
}

// note is what the row leaves out: the window, the bias of the lag
// figures, sink-level drops and why players ended early.
func note(r result) string {
	s := fmt.Sprintf("N=%d: window %.1f s, %d lag samples, %.0f tags/player, RTMP setup %s (lag overstated by at most this), players sink dropped %.0f frames",
		r.n, r.window.Seconds(), len(r.lags), r.tagsPerPlayer, r.setup.Round(time.Millisecond), r.sinkDrops)
	if r.cut > 0 {
		// A dropped player may still be reading its socket backlog when the
		// stream ends, so it is not "early": drops counts it.
		s += fmt.Sprintf("; %d players still reading 15 s after the stream ended were cut off", r.cut)
	}
	if r.early > 0 {
		s += fmt.Sprintf("; %d players ended early (%d never connected), first error: %q", r.early, r.notJoined, r.playerErr)
	}
	return s
}

// runPeer is the second table: every case of cases at each count.
func runPeer(ctx context.Context, ns string, cases []peerCase, tuning nginxTuning, dur time.Duration, bin, out string) error {
	if ns == "" {
		return nil
	}
	counts, err := benchkit.Counts(ns, "-peer-n")
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("rtmpdump"); err != nil {
		return errors.New("rtmpdump not found (Debian package rtmpdump; `make bench` installs it)")
	}
	_, tags, err := benchkit.SourceTags(out)
	if err != nil {
		return err
	}
	printPeerHeader(nginxVersion(), tuning, dur)
	// Each server's cost of the publish alone, that the 2m block takes
	// out of every round's CPU.
	base := map[peerServer]*peerResult{}
	for _, s := range []peerServer{serverRewind, serverNginx} {
		if !slices.ContainsFunc(cases, func(pc peerCase) bool { return pc.server == s }) {
			continue
		}
		slog.Info("peer round", "server", s, "players", 0, "duration", dur)
		r, err := peerRound(ctx, peerCase{server: s}, bin, tuning, tags, 0, dur)
		if err != nil {
			return fmt.Errorf("%s publish only: %w", s, err)
		}
		r.print()
		base[s] = &r
	}
	// A failed round (a server that could not serve every player, say) is
	// a row of the table, and the others still run: it is a result too.
	res := map[int]map[peerCase]*peerResult{}
	var failed []error
	for _, n := range counts {
		res[n] = map[peerCase]*peerResult{}
		for _, pc := range cases {
			slog.Info("peer round", "server", pc.server, "client", pc.client, "players", n, "duration", dur)
			r, err := peerRound(ctx, pc, bin, tuning, tags, n, dur)
			if err != nil {
				err = fmt.Errorf("%s %s N=%d: %w", pc.server, pc.client, n, err)
				if r.window > 0 && r.pubMbps > 0 {
					r.print() // measured, then failed the delivery rule: its figures are the result
				}
				fmt.Printf("%5d %-10s %-14s failed: %v\n", n, pc.server, pc.client, err)
				failed = append(failed, err)
				if ctx.Err() != nil {
					return errors.Join(failed...)
				}
				continue
			}
			r.print()
			res[n][pc] = &r
		}
	}
	printPeerSummary(counts, cases, res, base)
	return errors.Join(failed...)
}
