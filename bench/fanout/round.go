package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/loadgen"
)

const (
	app        = "bench"
	streamName = "live"
)

// result is one round's figures. CPU, RSS and egress are over the window
// from all players joined to the publisher's end.
type result struct {
	n                int
	window           time.Duration
	cpu, benchCPU    float64 // seconds, origin and this process
	hostCPU          float64 // seconds, all processes
	rssBase, rssPeak int64   // bytes: before the players, VmHWM
	rxBytes          int64   // received by all players
	outBytes         float64 // rewind_origin_bytes_out_total delta
	drops, sinkDrops float64 // players dropped; frames the players sink dropped
	early, notJoined int     // players that ended before the publisher did; of them, never connected
	cut              int     // players still reading 15 s after the stream ended
	lags             []time.Duration
	sent, in         int // publisher media frames sent, taken in by the origin
	pubLate, setup   time.Duration
	tagsPerPlayer    float64
	playerErr        string // the first early player's error, if any
}

// snapshot is what the window's deltas are taken from.
type snapshot struct {
	at                     time.Time
	cpu, benchCPU, hostCPU float64
	m                      map[string]float64
	rx                     int64
}

func (o *originProc) snapshot(ctx context.Context, players []*player) (snapshot, error) {
	s := snapshot{at: time.Now()}
	var err error
	if s.cpu, err = benchkit.CPUSeconds(o.pid()); err != nil {
		return s, err
	}
	if s.benchCPU, err = benchkit.CPUSeconds("self"); err != nil {
		return s, err
	}
	if s.hostCPU, err = benchkit.HostBusySeconds(); err != nil {
		return s, err
	}
	for _, p := range players {
		s.rx += p.rx.Load()
	}
	s.m, err = benchkit.Scrape(ctx, o.url("/metrics"))
	return s, err
}

func round(ctx context.Context, bin string, tags []flvfile.Tag, n int, dur time.Duration) (r result, err error) {
	r.n = n
	// However far behind things fall, the round ends.
	ctx, cancel := context.WithTimeout(ctx, dur+2*time.Minute)
	defer cancel()
	o, err := startOrigin(ctx, bin)
	if err != nil {
		return r, err
	}
	defer o.stop()
	metrics := o.url("/metrics")
	zero := func(v float64) bool { return v == 0 }

	// loadgen paces media timestamp 0 at the time.Now() it takes after the
	// RTMP setup and the sequence headers, and does not expose it. The bench
	// uses the time just before Publish instead, so lag is overstated by at
	// most the setup time, measured here with a zero-length publish.
	t := time.Now()
	if _, err := loadgen.Publish(ctx, o.rtmpAddr, app, "probe", tags, 0); err != nil {
		return r, fmt.Errorf("probe publish: %w", err)
	}
	r.setup = time.Since(t)
	// go-rtmp's publish does not wait for the answer: the probe may return
	// before the origin has seen it. Its frames must be counted before m0.
	if err := waitMetric(ctx, metrics, "rewind_origin_publishes_total", func(v float64) bool { return v >= 1 }, 10*time.Second); err != nil {
		return r, fmt.Errorf("probe publish: %w", err)
	}
	if err := waitMetric(ctx, metrics, "rewind_origin_publishers", zero, 10*time.Second); err != nil {
		return r, fmt.Errorf("probe publish end: %w", err)
	}
	m0, err := benchkit.Scrape(ctx, metrics)
	if err != nil {
		return r, err
	}

	// Every goroutine below is done before the round returns (and before
	// the deferred stop kills the origin): cancel first, then wait.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	type published struct {
		st  loadgen.Stats
		err error
		end time.Time
	}
	pubDone := make(chan published, 1)
	pubStart := time.Now()
	wg.Go(func() {
		st, err := loadgen.Publish(ctx, o.rtmpAddr, app, streamName, tags, dur)
		pubDone <- published{st, err, time.Now()}
	})
	// The players sink opens the stream before the gauge counts it.
	if err := waitMetric(ctx, metrics, "rewind_origin_publishers", func(v float64) bool { return v >= 1 }, 10*time.Second); err != nil {
		return r, fmt.Errorf("publisher not live: %w", err)
	}
	if r.rssBase, err = benchkit.StatusBytes(o.pid(), "VmRSS"); err != nil {
		return r, err
	}

	players := make([]*player, n)
	var playing, joined sync.WaitGroup
	playCtx, stopPlayers := context.WithCancel(ctx)
	defer stopPlayers()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	defer client.CloseIdleConnections()
	url := o.url("/" + app + "/" + streamName + ".flv")
	for i := range players {
		p := &player{}
		players[i] = p
		joined.Add(1)
		playing.Add(1)
		wg.Go(func() {
			defer playing.Done()
			// Stagger the joins over a second, as real viewers arrive.
			select {
			case <-playCtx.Done():
			case <-time.After(time.Duration(i) * time.Second / time.Duration(n)):
			}
			p.run(playCtx, client, url, pubStart, joined.Done)
		})
	}
	if err := waitCtx(ctx, joined.Wait); err != nil {
		return r, fmt.Errorf("players joining: %w", err)
	}
	slog.Info("players joined", "n", n, "after", time.Since(pubStart).Round(time.Millisecond))

	s0, err := o.snapshot(ctx, players)
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
	s1, err := o.snapshot(ctx, players)
	if err != nil {
		return r, err
	}

	// The stream's end closes every player once its queue is sent; one
	// that does not end by then is cut off.
	if err := waitCtxFor(ctx, playing.Wait, 15*time.Second); err != nil {
		slog.Warn("players still reading after the stream ended, cutting them off", "err", err)
	}
	stopPlayers()
	playing.Wait()
	if err := waitMetric(ctx, metrics, "rewind_origin_publishers", zero, 10*time.Second); err != nil {
		return r, fmt.Errorf("publish end: %w", err)
	}
	m2, err := benchkit.Scrape(ctx, metrics)
	if err != nil {
		return r, err
	}
	if r.rssPeak, err = benchkit.StatusBytes(o.pid(), "VmHWM"); err != nil {
		return r, err
	}

	r.window = s1.at.Sub(s0.at)
	r.cpu, r.benchCPU, r.hostCPU = s1.cpu-s0.cpu, s1.benchCPU-s0.benchCPU, s1.hostCPU-s0.hostCPU
	r.rxBytes = s1.rx - s0.rx
	r.outBytes = s1.m["rewind_origin_bytes_out_total"] - s0.m["rewind_origin_bytes_out_total"]
	r.drops = m2["rewind_origin_player_drops_total"] - m0["rewind_origin_player_drops_total"]
	sink := `rewind_origin_sink_dropped_frames_total{sink="players"}`
	r.sinkDrops = m2[sink] - m0[sink]
	r.sent, r.pubLate = pub.st.Frames, pub.st.MaxLate
	r.in = int(m2["rewind_origin_frames_in_total"]-m0["rewind_origin_frames_in_total"]) - 2 // less the sequence headers
	var totalTags int64
	for _, p := range players {
		totalTags += p.tags.Load()
		r.lags = append(r.lags, p.lags...)
		if p.connected && errors.Is(p.err, context.Canceled) {
			r.cut++
		}
		if p.ended.Before(pub.end) {
			r.early++
			if !p.connected {
				r.notJoined++
			}
			if p.err != nil && r.playerErr == "" {
				r.playerErr = p.err.Error()
			}
		}
	}
	r.tagsPerPlayer = float64(totalTags) / float64(n)
	slices.Sort(r.lags)
	return r, nil
}

// waitCtx runs wait (a WaitGroup's Wait) until it returns or ctx is done.
// On ctx the waiting goroutine lingers until wait returns, which the
// round's cancel guarantees.
func waitCtx(ctx context.Context, wait func()) error {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func waitCtxFor(ctx context.Context, wait func(), d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := waitCtx(ctx, wait)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("not done in %s", d)
	}
	return err
}
