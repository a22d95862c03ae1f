package origin

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/internal/ratemeter"
	"github.com/rewind-vod/rewind/media"
)

// handoverTimeout bounds how long a new publisher waits for the previous run
// of its stream to close its sinks. Past it the newcomer is refused rather
// than risk two writers on one stream.
const handoverTimeout = 30 * time.Second

var (
	errTakeoverRejected = errors.New("stream is already being published")
	errReplaced         = errors.New("replaced by a newer publisher of the stream")
	errHandoverTimeout  = errors.New("previous publisher of the stream did not finish in time")
	errShuttingDown     = errors.New("server is shutting down")
	errMaxPublishers    = errors.New("too many publishers on this node")
)

// hub keeps the publications of the node: at most one live publisher per
// stream, and an ordered hand-over between consecutive runs of a stream.
type hub struct {
	mu    sync.Mutex
	slots map[string]*slot
	live  map[*publication]struct{} // started and not yet ended (for Live)
	count int                       // claimed and not yet ended (MaxPublishers)
}

// slot orders the runs of one stream. sem is held by the run whose sinks are
// open, from before the first Open until after the last Close, so the next
// run's Open always comes after the previous run's Close.
type slot struct {
	sem  chan struct{}
	cur  *publication // newest claimant, live or waiting
	refs int          // publications holding or waiting for sem
}

// publication is one publish (one run) of a stream.
type publication struct {
	srv    *Server
	key    string
	slot   *slot
	conn   *trackedConn
	info   media.StreamInfo
	log    *slog.Logger
	stopCh chan struct{} // closed when a newer publisher takes over
	stop   sync.Once

	ended   bool // under hub.mu
	counted bool // under hub.mu: holds a MaxPublishers place

	mu       sync.Mutex // serializes push and end
	closed   bool
	queues   []*sinkQueue
	pending  atomic.Int32 // sink goroutines still running
	framesIn atomic.Uint64
	bytesIn  atomic.Uint64
	bitsIn   ratemeter.Meter // payload bits
	videoIn  ratemeter.Meter // video frames, for fps
	facts    streamFacts     // under mu
}

// requestStop asks the publication to end because a newer publisher took
// over: a waiting one gives up, a live one has its connection closed.
func (p *publication) requestStop() {
	p.stop.Do(func() {
		close(p.stopCh)
		p.conn.kill(reasonTakeover)
	})
}

// startPublish claims the stream, waits for the previous run to hand over,
// opens every sink and starts the sink goroutines. The returned error is a
// *refusal when the publish is refused by policy.
func (s *Server) startPublish(st catalog.Stream, c *trackedConn, log *slog.Logger) (*publication, error) {
	h := &s.hub
	p := &publication{
		srv:    s,
		key:    st.String(),
		conn:   c,
		stopCh: make(chan struct{}),
		log:    log,
	}

	h.mu.Lock()
	if s.isClosing() {
		h.mu.Unlock()
		return nil, errShuttingDown
	}
	if s.draining.Load() {
		h.mu.Unlock()
		return nil, &refusal{reason: reasonDraining, err: errors.New("node is draining; publish to another node")}
	}
	sl := h.slots[p.key]
	if sl == nil {
		sl = &slot{sem: make(chan struct{}, 1)}
		h.slots[p.key] = sl
	}
	prev := sl.cur
	replacing := prev != nil && !prev.ended
	if replacing && s.cfg.Takeover == TakeoverReject {
		h.mu.Unlock()
		return nil, &refusal{reason: reasonTakeover, err: fmt.Errorf("%w (takeover policy %q)", errTakeoverRejected, TakeoverReject)}
	}
	// A replacement does not add a publisher: the one it replaces goes.
	if !replacing && h.count >= s.cfg.MaxPublishers {
		if sl.refs == 0 {
			delete(h.slots, p.key)
		}
		h.mu.Unlock()
		return nil, &refusal{reason: reasonMaxPublishers, err: fmt.Errorf("%w (max %d)", errMaxPublishers, s.cfg.MaxPublishers)}
	}
	// The stream's players wait for this run rather than end with the
	// previous one (playerswait.go): held before the previous run is
	// stopped, released once this one opened its sinks or gave up.
	unhold := s.holdPlayers(p.key)
	defer unhold()
	if replacing {
		log.Info("taking over stream", "stream", p.key, "previous_client", prev.conn.remote)
		prev.requestStop()
	}
	sl.cur = p
	sl.refs++
	h.count++
	p.slot = sl
	p.counted = true
	h.mu.Unlock()

	// Wait for the previous run (if any) to close its sinks.
	timer := time.NewTimer(handoverTimeout)
	defer timer.Stop()
	var err error
	select {
	case sl.sem <- struct{}{}:
		select {
		case <-p.stopCh: // replaced while we won the race for sem
			<-sl.sem
			err = errReplaced
		default:
		}
	case <-p.stopCh:
		err = errReplaced
	case <-s.ctx.Done():
		err = errShuttingDown
	case <-timer.C:
		err = &refusal{reason: reasonTakeover, err: errHandoverTimeout}
	}
	if err != nil {
		p.release(false)
		return nil, err
	}

	now := time.Now()
	p.info = media.StreamInfo{
		App:        st.App,
		Name:       st.Name,
		Run:        catalog.NewRunID(now, s.cfg.Node),
		Node:       s.cfg.Node,
		StartedAt:  now,
		ClientAddr: c.remote,
	}
	p.log = log.With("stream", p.key, "run", p.info.Run)

	streams := make([]SinkStream, 0, len(s.sinks))
	for _, sk := range s.sinks {
		ss, err := safeOpen(sk, p.info)
		if err == nil && ss == nil {
			err = errors.New("Open returned a nil SinkStream")
		}
		if err != nil {
			for _, o := range streams {
				safeClose(o)
			}
			p.release(true)
			return nil, &refusal{reason: reasonSinkError, err: fmt.Errorf("open sink %s: %w", sk.name, err)}
		}
		streams = append(streams, ss)
	}

	p.queues = make([]*sinkQueue, len(streams))
	p.pending.Store(int32(len(streams)))
	for i, ss := range streams {
		q := newSinkQueue(s.sinks[i].name, ss, s.cfg.SinkQueue, p.log, s.m.sinkDropped.WithLabelValues(s.sinks[i].name))
		p.queues[i] = q
		// Add happens on the connection's goroutine while the connection
		// itself is counted in s.wg, so it never races with Wait.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			q.run()
			if p.pending.Add(-1) == 0 {
				p.finished()
			}
		}()
	}
	h.mu.Lock()
	h.live[p] = struct{}{}
	h.mu.Unlock()
	s.hb.changed()
	s.m.publishesTotal.Inc()
	s.m.publishers.Inc()
	p.log.Info("publish started", "sinks", len(streams))
	return p, nil
}

// waitingSink is a sink whose players may outlive a run (Players): they
// wait for the next run of their stream (playerswait.go).
type waitingSink interface {
	hold(key string) (release func())
	stopWaiting()
}

// holdPlayers keeps the players of key waiting for a publisher that is on
// its way; release once it opened its sinks or gave up. Under hub.mu.
func (s *Server) holdPlayers(key string) (release func()) {
	var rel []func()
	for _, sk := range s.sinks {
		if w, ok := sk.Sink.(waitingSink); ok {
			rel = append(rel, w.hold(key))
		}
	}
	return func() {
		for _, r := range rel {
			r()
		}
	}
}

// stopWaiting tells the sinks that no publisher can come back to the node
// (it drains or stops): their waiting players end.
func (s *Server) stopWaiting() {
	for _, sk := range s.sinks {
		if w, ok := sk.Sink.(waitingSink); ok {
			w.stopWaiting()
		}
	}
}

// safeOpen calls Open and turns a panic into an error, so that a broken
// sink cannot leave the stream's slot held.
func safeOpen(sk namedSink, info media.StreamInfo) (ss SinkStream, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return sk.Open(info)
}

func safeClose(ss SinkStream) {
	defer func() { _ = recover() }() // the publish is refused anyway
	ss.Close()
}

// push hands a frame to every sink queue; it never blocks.
func (p *publication) push(f media.Frame) {
	p.framesIn.Add(1)
	p.bytesIn.Add(uint64(len(f.Payload)))
	p.srv.m.framesIn.Inc()
	p.srv.m.bytesIn.Add(float64(len(f.Payload)))
	now := time.Now()
	p.bitsIn.Add(now, 8*uint64(len(f.Payload)))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	switch {
	case f.Type == media.FrameVideo && media.IsVideoSeqHeader(f.Payload):
		p.facts.learn(f)
	case f.Type == media.FrameVideo:
		p.videoIn.Add(now, 1)
	case f.Type == media.FrameAudio && media.IsAACSeqHeader(f.Payload):
		p.facts.learn(f)
	}
	for _, q := range p.queues {
		q.push(f)
	}
}

// end finishes the publish: no more frames are accepted, the sink
// goroutines drain their queues and close their streams, then the stream's
// slot is handed to the next run. Safe to call more than once.
func (p *publication) end(why string) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for _, q := range p.queues {
		q.close()
	}
	p.mu.Unlock()

	h := &p.srv.hub
	h.mu.Lock()
	delete(h.live, p)
	p.ended = true
	if p.counted {
		p.counted = false
		h.count--
	}
	h.mu.Unlock()
	p.srv.m.publishers.Dec()
	p.srv.hb.ended(p.key, p.info.Run, time.Now())

	p.log.Info("publish ended", "why", why, "frames", p.framesIn.Load(), "bytes", p.bytesIn.Load(),
		"dropped", p.droppedTotal(), "duration", time.Since(p.info.StartedAt).Round(time.Millisecond))
	if len(p.queues) == 0 {
		p.finished()
	}
}

// finished runs once every sink stream is closed: it frees the slot for the
// next run of the stream.
func (p *publication) finished() {
	p.release(true)
	p.log.Debug("sinks closed")
}

// release gives up the publication's claim on its slot; holding says
// whether it holds sem.
func (p *publication) release(holding bool) {
	if holding {
		<-p.slot.sem
	}
	h := &p.srv.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	p.ended = true
	if p.counted {
		p.counted = false
		h.count--
	}
	p.slot.refs--
	if p.slot.cur == p {
		p.slot.cur = nil
	}
	if p.slot.refs == 0 {
		delete(h.slots, p.key)
	}
}

func (p *publication) droppedTotal() uint64 {
	var n uint64
	for _, q := range p.queues {
		n += q.dropped.Load()
	}
	return n
}

// LiveStream is a snapshot of one live publish.
type LiveStream struct {
	App        string
	Name       string
	Run        string
	ClientAddr string
	StartedAt  time.Time
	FramesIn   uint64
	BytesIn    uint64
	// Dropped counts frames dropped per sink (by sink name) because the
	// sink's queue was full.
	Dropped map[string]uint64
	streamFacts
	BitrateIn float64 // bits per second over the last seconds
	FPS       float64 // video frames per second over the last seconds
	// What the stream's outputs (players and relays) sent.
	Players    int
	BytesOut   uint64
	BitrateOut float64
	Relays     []RelayStatus
}

// Live returns the publishes that are live now, oldest first.
func (s *Server) Live() []LiveStream {
	s.hub.mu.Lock()
	pubs := make([]*publication, 0, len(s.hub.live))
	for p := range s.hub.live {
		pubs = append(pubs, p)
	}
	s.hub.mu.Unlock()
	out := make([]LiveStream, 0, len(pubs))
	for _, p := range pubs {
		ls := LiveStream{
			App:        p.info.App,
			Name:       p.info.Name,
			Run:        p.info.Run,
			ClientAddr: p.info.ClientAddr,
			StartedAt:  p.info.StartedAt,
			FramesIn:   p.framesIn.Load(),
			BytesIn:    p.bytesIn.Load(),
			Dropped:    make(map[string]uint64, len(p.queues)),
		}
		for _, q := range p.queues {
			ls.Dropped[q.name] = q.dropped.Load()
		}
		now := time.Now()
		ls.BitrateIn, ls.FPS = p.bitsIn.Rate(now), p.videoIn.Rate(now)
		p.mu.Lock()
		ls.streamFacts = p.facts
		p.mu.Unlock()
		for _, sk := range s.sinks {
			if o, ok := sk.Sink.(OutputReporter); ok {
				n, st, relays := o.Outputs(p.info.App, p.info.Name)
				ls.Players += n
				ls.BytesOut += st.BytesOut
				ls.BitrateOut += st.BitrateOut
				ls.Relays = append(ls.Relays, relays...)
			}
		}
		out = append(out, ls)
	}
	slices.SortFunc(out, func(a, b LiveStream) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.App+"/"+a.Name, b.App+"/"+b.Name)
	})
	return out
}

// Drain takes the node out of service: new publishes are refused (a load
// balancer's readiness check fails, see Ready; the heartbeat says
// draining) while live ones go on.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.stopWaiting() // no publisher can come back here now
	s.hb.changed()  // the proxies stop sending publishes at once
}

// Ready reports whether the node takes new publishes.
func (s *Server) Ready() bool { return !s.draining.Load() && !s.isClosing() }

// Publishers is how many publishes are live now.
func (s *Server) Publishers() int {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return len(s.hub.live)
}

// Kick disconnects the live publisher of app/name; its run ends cleanly.
// It reports whether there was one.
func (s *Server) Kick(app, name string) bool {
	key := app + "/" + name
	s.hub.mu.Lock()
	var found *publication
	for p := range s.hub.live {
		if p.key == key {
			found = p
		}
	}
	s.hub.mu.Unlock()
	if found == nil {
		return false
	}
	s.m.rejected.WithLabelValues(reasonKicked).Inc()
	found.log.Info("publisher kicked", "stream", key)
	found.conn.kill(reasonKicked)
	return true
}
