package origin

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/rewind-vod/rewind/catalog"
)

const (
	// beatCoalesce bounds the beats brought forward: a burst of publishes
	// starting or ending costs one write per beatCoalesce, not one each.
	beatCoalesce = 200 * time.Millisecond
	// removeTimeout bounds the DELETE of the heartbeat at shutdown.
	removeTimeout = 5 * time.Second
	// beatWarnEvery bounds the warnings of a failing store.
	beatWarnEvery = time.Minute
)

// heartbeat writes the node's catalog.Node into the registry: every
// interval, and soon (coalesced) after the live streams change or the node
// drains. It runs on its own goroutine; publishing only pokes it.
type heartbeat struct {
	s        *Server
	reg      NodeRegistry
	log      *slog.Logger
	interval time.Duration
	window   time.Duration
	http     string
	rtmp     string // set by listening, before the loop starts

	kick chan struct{} // capacity 1: "write soon"
	done chan struct{} // closed when the loop has returned

	mu     sync.Mutex
	recent map[string]catalog.NodeStream // ended streams by name, newest end

	// Loop goroutine only.
	cpu      cpuMeter
	failures int
	lastWarn time.Time

	writes *prometheus.CounterVec // by result
	lastOK prometheus.Gauge
}

func newHeartbeat(s *Server, reg prometheus.Registerer) *heartbeat {
	f := promauto.With(reg)
	hb := &heartbeat{
		s:        s,
		reg:      s.cfg.Registry,
		log:      s.log.With("component", "heartbeat"),
		interval: s.cfg.HeartbeatInterval,
		window:   s.cfg.RecentWindow,
		http:     s.cfg.AdvertiseHTTP,
		rtmp:     s.cfg.AdvertiseRTMP,
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		recent:   map[string]catalog.NodeStream{},
		writes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_origin_heartbeats_total",
			Help: "Heartbeat writes to the node registry, by result (ok, error).",
		}, []string{"result"}),
		lastOK: f.NewGauge(prometheus.GaugeOpts{
			Name: "rewind_origin_heartbeat_last_success_timestamp_seconds",
			Help: "When the last heartbeat write succeeded (Unix time); the node is dead for the cluster once this is older than the node timeout.",
		}),
	}
	hb.writes.WithLabelValues("ok")
	hb.writes.WithLabelValues("error")
	hb.cpu.sample(time.Now(), 0) // the first beat measures from here
	return hb
}

// listening learns the RTMP address to advertise from the listener when
// none is configured (a port 0 is known only now).
func (hb *heartbeat) listening(addr net.Addr) error {
	if hb == nil || hb.s.cfg.AdvertiseRTMP != "" {
		return nil
	}
	a, err := concreteAddr(addr.String(), false)
	if err != nil {
		return fmt.Errorf("origin: advertised RTMP address: %w", err)
	}
	hb.rtmp = a
	return nil
}

// start runs the loop until ctx ends; the first beat is written at once.
func (hb *heartbeat) start(ctx context.Context) {
	if hb == nil {
		return
	}
	go hb.loop(ctx)
}

// stop waits for the loop (its ctx must be done) and removes the
// heartbeat, so that no beat can follow the removal.
func (hb *heartbeat) stop() {
	if hb == nil {
		return
	}
	<-hb.done
	ctx, cancel := context.WithTimeout(context.Background(), removeTimeout)
	defer cancel()
	if err := hb.reg.Remove(ctx, hb.s.cfg.Node); err != nil {
		hb.log.Warn("could not remove the heartbeat; the node is dead for the others once it ages", "err", err)
		return
	}
	hb.log.Info("heartbeat removed")
}

// changed asks for a beat soon; it never blocks.
func (hb *heartbeat) changed() {
	if hb == nil {
		return
	}
	select {
	case hb.kick <- struct{}{}:
	default: // a beat is already due
	}
}

// ended records a publish that ended, for the Recent list.
func (hb *heartbeat) ended(stream, run string, at time.Time) {
	if hb == nil || run == "" {
		return
	}
	hb.mu.Lock()
	hb.recent[stream] = catalog.NodeStream{Stream: stream, Run: run, Since: at.UTC()}
	hb.mu.Unlock()
	hb.changed()
}

func (hb *heartbeat) loop(ctx context.Context) {
	defer close(hb.done)
	tick := time.NewTicker(hb.interval)
	defer tick.Stop()
	for {
		select {
		case <-hb.kick: // this beat covers what was signalled so far
		default:
		}
		hb.beat(ctx)
		last := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-hb.kick:
			if wait := beatCoalesce - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			tick.Reset(hb.interval)
		}
	}
}

// beat writes one heartbeat. A failure is counted and logged (once, then
// at most every beatWarnEvery) and the next beat is the retry.
func (hb *heartbeat) beat(ctx context.Context) {
	n := hb.doc(time.Now())
	wctx, cancel := context.WithTimeout(ctx, max(hb.interval, time.Second))
	err := hb.reg.Beat(wctx, n)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the heartbeat is about to be removed anyway
	}
	if err != nil {
		hb.writes.WithLabelValues("error").Inc()
		hb.failures++
		if hb.failures == 1 || time.Since(hb.lastWarn) >= beatWarnEvery {
			hb.log.Warn("heartbeat write failed; retrying at the next beat", "failures", hb.failures, "err", err)
			hb.lastWarn = time.Now()
		}
		return
	}
	hb.writes.WithLabelValues("ok").Inc()
	hb.lastOK.SetToCurrentTime()
	if hb.failures > 0 {
		hb.log.Info("heartbeat write works again", "failures", hb.failures)
		hb.failures = 0
	}
}

// doc is the heartbeat as of now.
func (hb *heartbeat) doc(now time.Time) catalog.Node {
	state := catalog.NodeReady
	if hb.s.draining.Load() {
		state = catalog.NodeDraining
	}
	live := hb.s.Live()
	n := catalog.Node{
		Version: catalog.NodeVersion,
		Name:    hb.s.cfg.Node,
		RTMP:    hb.rtmp,
		HTTP:    hb.http,
		State:   state,
		Time:    now.UTC(),
		Live:    make([]catalog.NodeStream, 0, len(live)),
		Load: catalog.NodeLoad{
			Publishers:    len(live),
			MaxPublishers: hb.s.cfg.MaxPublishers,
			CPU:           hb.cpu.sample(now, hb.interval*3/4),
		},
	}
	isLive := make(map[string]bool, len(live))
	for _, ls := range live {
		key := ls.App + "/" + ls.Name
		isLive[key] = true
		n.Live = append(n.Live, catalog.NodeStream{Stream: key, Run: ls.Run, Since: ls.StartedAt.UTC()})
		n.Load.IngestBPS += ls.BitrateIn
		n.Load.Players += ls.Players
	}
	n.Recent = hb.recentList(now, isLive)
	return n
}

// recentList is the streams that ended within the window and are not live
// again, newest end first, within the heartbeat's bound; older ones are
// forgotten.
func (hb *heartbeat) recentList(now time.Time, live map[string]bool) []catalog.NodeStream {
	hb.mu.Lock()
	var out []catalog.NodeStream
	for key, s := range hb.recent {
		if live[key] || now.Sub(s.Since) > hb.window {
			delete(hb.recent, key)
			continue
		}
		out = append(out, s)
	}
	hb.mu.Unlock()
	slices.SortFunc(out, func(a, b catalog.NodeStream) int {
		if c := b.Since.Compare(a.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Stream, b.Stream)
	})
	return out[:min(len(out), catalog.MaxNodeStreams)]
}
