// Command ingest is the recording benchmark (`make bench`): N publishers at
// ~2.5 Mbit/s each, replaying a pre-encoded FLV in real time over RTMP into
// `rewind origin` recording to the local store, then to S3 (versitygw), and
// the same load into MediaMTX recording MPEG-TS in 4 s segments, the peer.
// It reports CPU seconds per stream-minute, RSS per publisher, lost frames,
// bytes stored per byte ingested and store requests per segment, then the
// ratios rewind/MediaMTX of the first two.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/testproc"
	"github.com/rewind-vod/rewind/media"
)

type config struct {
	ns        string
	dur       time.Duration
	rewind    string
	mediamtx  string // "" skips the MediaMTX rounds
	versitygw string // "" skips the S3 rounds
	out       string
	profile   string // "" or the folder for the rewind rounds' CPU and heap profiles
}

func main() {
	var cfg config
	flag.StringVar(&cfg.ns, "n", "10,50,100", "publisher counts to run")
	flag.DurationVar(&cfg.dur, "duration", 30*time.Second, "publish time per round")
	flag.StringVar(&cfg.rewind, "rewind", "bin/rewind", "rewind binary")
	flag.StringVar(&cfg.mediamtx, "mediamtx", "", "MediaMTX binary (default: $REWIND_MEDIAMTX, else .tools/bin/mediamtx; make bench builds it)")
	flag.StringVar(&cfg.versitygw, "versitygw", "", "versitygw binary for the S3 rounds (default: $REWIND_VERSITYGW, else .tools/bin/versitygw)")
	noPeer := flag.Bool("no-mediamtx", false, "skip the MediaMTX rounds")
	noS3 := flag.Bool("no-s3", false, "skip the rewind rounds on the S3 store")
	flag.StringVar(&cfg.out, "out", "bench/out", "folder for the cached source media")
	flag.StringVar(&cfg.profile, "profile", "", "folder for a CPU profile (the publish time less 2 s) and a heap profile (at its end) of each rewind round")
	flag.Parse()
	logrus.SetOutput(io.Discard) // go-rtmp's client logs every chunk-size change
	if err := resolve(&cfg, *noPeer, *noS3); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// resolve finds the peer binaries the flags left out.
func resolve(cfg *config, noPeer, noS3 bool) error {
	var err error
	switch {
	case noPeer:
		cfg.mediamtx = ""
	case cfg.mediamtx == "":
		if cfg.mediamtx, err = testproc.Binary("REWIND_MEDIAMTX", "mediamtx"); err != nil {
			return fmt.Errorf("mediamtx not found (make bench builds it; -no-mediamtx skips it): %w", err)
		}
	}
	switch {
	case noS3:
		cfg.versitygw = ""
	case cfg.versitygw == "":
		if cfg.versitygw, err = testproc.Binary("REWIND_VERSITYGW", "versitygw"); err != nil {
			return fmt.Errorf("versitygw not found (make deps builds it; -no-s3 skips it): %w", err)
		}
	}
	return nil
}

// A server's rounds, in the order they run for each N.
const (
	rewindFile = "rewind file"
	rewindS3   = "rewind s3"
	mediamtxTS = "mediamtx ts"
)

type namedRound struct {
	name string
	run  func() (result, error)
}

func run(cfg config) error {
	src, tags, err := benchkit.SourceTags(cfg.out)
	if err != nil {
		return err
	}
	counts, err := benchkit.Counts(cfg.ns, "-n")
	if err != nil {
		return err
	}
	fmt.Printf("ingest benchmark: %s per round, source %s (1280x720 30 fps, 2.5 Mbit/s video + 128 kbit/s AAC)\n", cfg.dur, filepath.Base(src))
	fmt.Printf("largest GOP of the source (what a publisher's GOP cache holds at most): %.2f MiB\n", float64(maxGOPBytes(tags))/(1<<20))
	fmt.Printf("%6s %-12s %14s %6s %7s %12s %10s %10s %10s %10s %10s %13s %8s\n",
		"N", "server", "cpu s/strm-min", "user", "rd+wr/s", "rss MiB/pub", "sent", "received", "recorded", "lost", "max late", "stored/ingest", "req/seg")
	all := map[int]map[string]result{}
	for _, n := range counts {
		all[n] = map[string]result{}
		rounds := []namedRound{
			{rewindFile, func() (result, error) { return rewindRound(cfg, "", tags, n) }},
		}
		if cfg.versitygw != "" {
			rounds = append(rounds, namedRound{rewindS3, func() (result, error) { return rewindRound(cfg, cfg.versitygw, tags, n) }})
		}
		if cfg.mediamtx != "" {
			rounds = append(rounds, namedRound{mediamtxTS, func() (result, error) { return mediamtxRound(cfg.mediamtx, tags, n, cfg.dur) }})
		}
		for _, rd := range rounds {
			r, err := rd.run()
			if err != nil {
				return fmt.Errorf("N=%d %s: %w", n, rd.name, err)
			}
			all[n][rd.name] = r
			printRow(n, rd.name, r)
		}
	}
	if cfg.mediamtx == "" {
		return nil
	}
	fmt.Printf("\nrewind / MediaMTX, same run (MediaMTX records to local disk only: both rewind stores are set against its disk recording)\n")
	fmt.Printf("%6s %-12s %10s %10s\n", "N", "rewind", "cpu", "rss")
	for _, n := range counts {
		peer := all[n][mediamtxTS]
		for _, name := range []string{rewindFile, rewindS3} {
			r, ok := all[n][name]
			if !ok {
				continue
			}
			fmt.Printf("%6d %-12s %10s %10s\n", n, name,
				ratio(r.cpuPerStreamMin, peer.cpuPerStreamMin), ratio(r.rssPerPub, peer.rssPerPub))
		}
	}
	fmt.Printf("cpu: origin CPU-s per stream-minute (user: its share in user space, the rest is system time; rd+wr/s: read and write system calls per stream-second); rss: peak RSS growth per publisher (the S3 rounds count rewind's process, not versitygw's).\n")
	return nil
}

func printRow(n int, name string, r result) {
	dash := func(ok bool, v string) string {
		if !ok {
			return "-"
		}
		return v
	}
	rw := name != mediamtxTS // MediaMTX has no frame or store-request counters
	fmt.Printf("%6d %-12s %14.3f %5.0f%% %7s %12.2f %10d %10s %10s %10s %10s %13.4f %8s\n",
		n, name, r.cpuPerStreamMin, 100*r.userShare, fmt.Sprintf("%.0f+%.0f", r.readsPerSec, r.writesPerSec), r.rssPerPub, r.sent,
		dash(rw, fmt.Sprint(r.received)), dash(rw, fmt.Sprint(r.recorded)), dash(rw, fmt.Sprint(r.received-r.recorded)),
		r.maxLate.Round(time.Millisecond), r.storedPerIngested, dash(rw, fmt.Sprintf("%.2f", r.reqPerSegment)))
}

// ratio is a/b, or "-" when b is not positive (an RSS growth lost in the
// noise of a short round).
func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// maxGOPBytes is the most media payload from one video keyframe to the
// next (audio included): the origin's GOP cache holds up to that much per
// publisher, the floor of its memory per publisher.
func maxGOPBytes(tags []flvfile.Tag) int {
	most, cur := 0, 0
	for _, t := range tags {
		if t.Type == 9 && media.IsVideoKeyframe(t.Body) {
			most, cur = max(most, cur), 0
		}
		if t.Type == 8 || t.Type == 9 {
			cur += len(t.Body)
		}
	}
	return max(most, cur)
}
