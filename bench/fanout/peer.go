package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/loadgen"
)

// The second table (issue #16): the same publish and N players of one
// kind, against rewind origin and against nginx-rtmp, one fresh server
// per round.

// minShare: every player must get at least this share of the published
// bit rate over the window, or the round fails. A player that got
// nothing, or fell behind, would otherwise lower the CPU per player.
// Not 1: the source's bit rate varies from GOP to GOP and the window
// starts a little after the publish.
const minShare = 0.8

type peerServer string

const (
	serverRewind peerServer = "rewind"
	serverNginx  peerServer = "nginx-rtmp"
)

type playClient string

const (
	clientGo       playClient = "RTMP go"
	clientRtmpdump playClient = "RTMP rtmpdump"
	clientFLV      playClient = "HTTP-FLV go"
)

// peerCase is one column of the table.
type peerCase struct {
	server peerServer
	client playClient
}

var peerCases = []peerCase{
	{serverRewind, clientGo}, {serverRewind, clientRtmpdump}, {serverRewind, clientFLV},
	{serverNginx, clientGo}, {serverNginx, clientRtmpdump},
}

// parseCases reads -peer-cases: "" is every case, else a comma-separated
// list of server/client ("nginx/dump,rewind/go"), in peerCases' order.
func parseCases(s string) ([]peerCase, error) {
	if s == "" {
		return peerCases, nil
	}
	servers := map[string]peerServer{"rewind": serverRewind, "nginx": serverNginx}
	clients := map[string]playClient{"go": clientGo, "dump": clientRtmpdump, "flv": clientFLV}
	want := map[peerCase]bool{}
	for c := range strings.SplitSeq(s, ",") {
		sv, cl, _ := strings.Cut(strings.TrimSpace(c), "/")
		pc := peerCase{servers[sv], clients[cl]}
		if !slices.Contains(peerCases, pc) {
			return nil, fmt.Errorf("-peer-cases: %q is not one of rewind/go, rewind/dump, rewind/flv, nginx/go, nginx/dump", c)
		}
		want[pc] = true
	}
	var out []peerCase
	for _, pc := range peerCases {
		if want[pc] {
			out = append(out, pc)
		}
	}
	return out, nil
}

// peerResult is one round of the second table.
type peerResult struct {
	peerCase
	n                   int
	window              time.Duration
	cpu, hostCPU        float64 // seconds over the window: the server (all its processes), the machine
	clientCPU           float64 // seconds over the window: this process (publisher, Go players) and the rtmpdump processes
	pubMbps             float64 // published audio and video, over the whole publish
	shareMean, shareMin float64 // delivered / published bit rate per player
}

// msPerPlayerMin is the server's CPU ms per player-minute.
func (r *peerResult) msPerPlayerMin() float64 {
	return r.cpu * 1000 / (float64(r.n) * r.window.Minutes())
}

// marginal is msPerPlayerMin less the server's cost with no player (base,
// its N = 0 round: taking in the publish, and for rewind recording it),
// what each player adds.
func (r *peerResult) marginal(base *peerResult) float64 {
	fixed := base.cpu / base.window.Seconds() * r.window.Seconds()
	return (r.cpu - fixed) * 1000 / (float64(r.n) * r.window.Minutes())
}

// server is what a peer round plays from.
type server struct {
	rtmpAddr string
	flvURL   string // "" where there is no HTTP-FLV
	cpu      func() (float64, error)
	stop     func()
	log      func() string // nil, or the server's log, for a failed round
}

func startServer(ctx context.Context, which peerServer, bin string, tuning nginxTuning) (*server, error) {
	switch which {
	case serverRewind:
		o, err := startOrigin(ctx, bin)
		if err != nil {
			return nil, err
		}
		return &server{
			rtmpAddr: o.rtmpAddr,
			flvURL:   o.url("/" + app + "/" + streamName + ".flv"),
			cpu:      func() (float64, error) { return benchkit.CPUSeconds(o.pid()) },
			stop:     o.stop,
		}, nil
	case serverNginx:
		ng, err := startNginxRTMP(tuning)
		if err != nil {
			return nil, err
		}
		return &server{rtmpAddr: ng.rtmpAddr, cpu: ng.cpu, stop: ng.stop, log: ng.errorLog}, nil
	}
	return nil, fmt.Errorf("unknown server %q", which)
}

func newViewer(c playClient, srv *server, flv *http.Client, pubStart time.Time) (viewer, error) {
	switch c {
	case clientGo:
		return &rtmpViewer{addr: srv.rtmpAddr, name: streamName}, nil
	case clientRtmpdump:
		return &rtmpdumpViewer{url: "rtmp://" + srv.rtmpAddr + "/" + app + "/" + streamName}, nil
	case clientFLV:
		if srv.flvURL == "" {
			return nil, errors.New("no HTTP-FLV on this server")
		}
		return &flvViewer{c: flv, url: srv.flvURL, pubStart: pubStart}, nil
	}
	return nil, fmt.Errorf("unknown client %q", c)
}

// peerRound publishes tags for dur into a fresh server and plays it with n
// players of one kind; CPU and delivered bytes are taken over the window
// from all players joined to the publisher's end. With n = 0 it measures
// the publish alone.
func peerRound(ctx context.Context, pc peerCase, bin string, tuning nginxTuning, tags []flvfile.Tag, n int, dur time.Duration) (r peerResult, err error) {
	r.peerCase, r.n = pc, n
	ctx, cancel := context.WithTimeout(ctx, dur+2*time.Minute)
	defer cancel()
	srv, err := startServer(ctx, pc.server, bin, tuning)
	if err != nil {
		return r, err
	}
	defer srv.stop()
	defer func() {
		if err != nil && srv.log != nil { // before the stop removes it
			if l := srv.log(); l != "" {
				err = fmt.Errorf("%w; server log: %s", err, l)
			}
		}
	}()

	// Every goroutine below is done before the round returns (and before
	// the deferred stop ends the server): cancel first, then wait.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	type published struct {
		st  loadgen.Stats
		err error
		d   time.Duration
	}
	pubDone := make(chan published, 1)
	pubStart := time.Now()
	wg.Go(func() {
		st, err := loadgen.Publish(ctx, srv.rtmpAddr, app, streamName, tags, dur)
		pubDone <- published{st, err, time.Since(pubStart)}
	})
	if err := waitLive(ctx, srv.rtmpAddr, streamName, 10*time.Second); err != nil {
		return r, err
	}

	flv := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	defer flv.CloseIdleConnections()
	viewers := make([]viewer, n)
	playCtx, stopPlayers := context.WithCancel(ctx)
	defer stopPlayers()
	var playing, joined sync.WaitGroup
	for i := range viewers {
		v, err := newViewer(pc.client, srv, flv, pubStart)
		if err != nil {
			return r, err
		}
		viewers[i] = v
		joined.Add(1)
		playing.Add(1)
		wg.Go(func() {
			defer playing.Done()
			// Stagger the joins over a second, as real viewers arrive.
			select {
			case <-playCtx.Done():
			case <-time.After(time.Duration(i) * time.Second / time.Duration(n)):
			}
			v.run(playCtx, joined.Done)
		})
	}
	if err := waitCtxFor(ctx, joined.Wait, 20*time.Second); err != nil {
		return r, fmt.Errorf("players joining: %w (%s)", err, joinState(viewers))
	}
	for i, v := range viewers {
		if !v.isConnected() {
			// It has failed and set its error before joining.
			_, err := v.result()
			return r, fmt.Errorf("player %d did not play: %v", i, err)
		}
	}
	slog.Info("players joined", "server", pc.server, "client", pc.client, "n", n, "after", time.Since(pubStart).Round(time.Millisecond))

	snap := func() (at time.Time, cpu, host, clients float64, media []int64, err error) {
		at = time.Now()
		if cpu, err = srv.cpu(); err != nil {
			return
		}
		if host, err = benchkit.HostBusySeconds(); err != nil {
			return
		}
		if clients, err = clientCPU(viewers); err != nil {
			return
		}
		media = make([]int64, n)
		for i, v := range viewers {
			media[i] = v.mediaBytes()
		}
		return
	}
	t0, cpu0, host0, cl0, m0, err := snap()
	if err != nil {
		return r, err
	}
	var pub published
	select {
	case pub = <-pubDone:
	case <-ctx.Done():
		return r, fmt.Errorf("publisher: %w", ctx.Err())
	}
	if pub.err != nil {
		return r, fmt.Errorf("publisher: %w", pub.err)
	}
	t1, cpu1, host1, cl1, m1, err := snap()
	if err != nil {
		return r, err
	}
	// The window is what is measured; what the players do after the end
	// (rewind closes them, nginx-rtmp keeps them waiting) is not.
	stopPlayers()
	playing.Wait()

	r.window = t1.Sub(t0)
	r.cpu, r.hostCPU, r.clientCPU = cpu1-cpu0, host1-host0, cl1-cl0
	r.pubMbps = float64(pub.st.Bytes) * 8 / pub.d.Seconds() / 1e6
	if r.window < time.Second || r.pubMbps <= 0 {
		return r, fmt.Errorf("window %s, published %.2f Mbit/s: nothing to measure", r.window, r.pubMbps)
	}
	var short []string
	if n > 0 {
		r.shareMin = 1e9
	}
	for i := range viewers {
		share := float64(m1[i]-m0[i]) * 8 / r.window.Seconds() / 1e6 / r.pubMbps
		r.shareMean += share / float64(n)
		r.shareMin = min(r.shareMin, share)
		if share < minShare {
			_, perr := viewers[i].result()
			short = append(short, fmt.Sprintf("player %d got %.0f%% (err %v)", i, 100*share, perr))
		}
	}
	if len(short) > 0 {
		return r, fmt.Errorf("%d of %d players got less than %.0f%% of the published %.2f Mbit/s, first: %s",
			len(short), n, 100*minShare, r.pubMbps, short[0])
	}
	return r, nil
}

// clientCPU is the CPU seconds of the load: this process (the publisher,
// the Go players, the reading of rtmpdump's output) and every rtmpdump
// process still running.
func clientCPU(viewers []viewer) (float64, error) {
	total, err := benchkit.CPUSeconds("self")
	if err != nil {
		return 0, err
	}
	for _, v := range viewers {
		if p, ok := v.(interface{ pid() int }); ok && p.pid() > 0 {
			if c, err := benchkit.CPUSeconds(strconv.Itoa(p.pid())); err == nil {
				total += c // one that has exited is not counted
			}
		}
	}
	return total, nil
}

// joinState says how far the players got when they did not all join in
// time: how many are playing, and the first error of one that failed.
// Read while players may still be joining, it is a rough count.
func joinState(viewers []viewer) string {
	n := 0
	for _, v := range viewers {
		if v != nil && v.mediaBytes() > 0 {
			n++
		}
	}
	return fmt.Sprintf("%d of %d players had media", n, len(viewers))
}

func printPeerHeader(nginxVersion string, tuning nginxTuning, dur time.Duration) {
	fmt.Printf("\n2. server CPU per player, rewind origin vs nginx-rtmp (%s, worker_processes 1, %s config: %s): one publish, %s per round, N players of one kind\n",
		nginxVersion, tuning, cmp.Or(strings.Join(strings.Fields(strings.ReplaceAll(tuning.directives(), ";", ",")), " "), "module defaults"), dur)
	fmt.Printf("%5s %-10s %-14s %6s %6s %10s %8s %8s %8s %6s %8s\n",
		"N", "server", "play", "win s", "cores", "ms/pl-min", "pub Mb/s", "mean %", "min %", "host", "clients")
}

func (r *peerResult) print() {
	secs := r.window.Seconds()
	if r.n == 0 {
		fmt.Printf("%5d %-10s %-14s %6.1f %6.2f %10s %8.2f %8s %8s %6.2f %8.2f\n",
			r.n, r.server, "publish only", secs, r.cpu/secs, "-", r.pubMbps, "-", "-", r.hostCPU/secs, r.clientCPU/secs)
		return
	}
	fmt.Printf("%5d %-10s %-14s %6.1f %6.2f %10.1f %8.2f %8.1f %8.1f %6.2f %8.2f\n",
		r.n, r.server, r.client, secs, r.cpu/secs, r.msPerPlayerMin(), r.pubMbps,
		100*r.shareMean, 100*r.shareMin, r.hostCPU/secs, r.clientCPU/secs)
}

// printPeerSummary is the side-by-side table: ms of server CPU per
// player-minute for each case, and rewind/nginx for each RTMP client;
// then the same less each server's publish-only cost (base).
func printPeerSummary(counts []int, cases []peerCase, res map[int]map[peerCase]*peerResult, base map[peerServer]*peerResult) {
	block := func(title string, fig func(r *peerResult) float64) {
		fmt.Printf("\n%s; rewind/nginx: the ratio for the same client\n", title)
		fmt.Printf("%5s %12s %12s %12s %12s %12s %12s %8s %8s\n", "N",
			"rewind go", "rewind dump", "rewind flv", "nginx go", "nginx dump", "nginx flv", "r/n go", "r/n dump")
		for _, n := range counts {
			m := res[n]
			cell := func(pc peerCase) string {
				if r := m[pc]; r != nil {
					return fmt.Sprintf("%.1f", fig(r))
				}
				if !slices.Contains(cases, pc) {
					return "-" // not run (-peer-cases)
				}
				return "fail"
			}
			ratio := func(c playClient) string {
				a, b := m[peerCase{serverRewind, c}], m[peerCase{serverNginx, c}]
				if a == nil || b == nil || fig(b) <= 0 {
					return "-"
				}
				return fmt.Sprintf("%.2f", fig(a)/fig(b))
			}
			fmt.Printf("%5d %12s %12s %12s %12s %12s %12s %8s %8s\n", n,
				cell(peerCase{serverRewind, clientGo}), cell(peerCase{serverRewind, clientRtmpdump}),
				cell(peerCase{serverRewind, clientFLV}),
				cell(peerCase{serverNginx, clientGo}), cell(peerCase{serverNginx, clientRtmpdump}), "-",
				ratio(clientGo), ratio(clientRtmpdump))
		}
	}
	block("2s. ms of server CPU per player-minute", (*peerResult).msPerPlayerMin)
	block("2m. the same less the server's publish-only CPU (its N = 0 row), what each player adds",
		func(r *peerResult) float64 { return r.marginal(base[r.server]) })
	fmt.Println("cores: server CPU s per wall s (rewind: the origin, ingest and recording of the publish included; nginx: master + worker);")
	fmt.Printf("pub Mb/s: audio+video published; mean %%, min %%: audio+video each player got over the window / published (a player under %.0f%% fails the round);\n", 100*minShare)
	fmt.Println("host: cores busy on the whole machine (the players, rtmpdump processes and the publisher included); nginx-rtmp has no HTTP-FLV;")
	fmt.Println("clients: cores used by the load (this process: publisher, Go players, reading rtmpdump's output; and the rtmpdump processes); host - cores - clients is the rest of the machine.")
}
