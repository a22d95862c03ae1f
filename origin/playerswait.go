package origin

import (
	"sync"
	"time"
)

// Players of a stream outlive its run. When a run ends (its feed
// closes), the liveStream does not end with it if a publisher of the
// stream may come back: its players stay connected, silent, and the next
// run of the stream (its Players.Open) attaches to the same liveStream,
// so that run continues on their connections (the splicer,
// playersplice.go, makes one stream of the two for each player). Two
// things keep players waiting:
//
//   - the reconnect grace (PlayersConfig.ReconnectGrace): a publisher that
//     dropped may come back within it; past it the players are closed;
//   - a hold (Players.hold): the hub has accepted a publisher of the
//     stream that waits for the previous run's sinks to close, as in a
//     takeover. Its run comes whatever the grace, so the players wait for
//     its Open, or until it gives up (then the grace decides, counted from
//     the end of the run).
//
// While its players wait a stream is not live: a new player gets "not
// live" (404 over HTTP-FLV, a refused play over RTMP), as the node's
// heartbeat and Live say, and a pull from another node too. A pulled
// stream never waits: the node it is pulled from holds its pull the same
// way. Once the node drains or stops no publisher can come back: waiting
// players end at once, and from then on players end with their run.

// DefaultReconnectGrace is DefaultPlayersConfig's ReconnectGrace: about
// what an encoder takes to notice a dropped connection and reconnect.
const DefaultReconnectGrace = 3 * time.Second

// waitState is a liveStream's wait for its next run; under ls.mu.
type waitState struct {
	holds   int         // publishers on their way
	timer   *time.Timer // the grace, armed while the players wait
	expired bool        // the grace is over; a hold still keeps them
}

// attach makes a new run write the stream, whose players go on with it.
// Under p.mu.
func (ls *liveStream) attach() *feed {
	fd := &feed{ls: ls}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	waited := ls.cur == nil
	ls.release() // the last of the previous run, if it did not close first
	ls.cur = fd
	ls.gen++
	ls.resetCache()
	ls.stopGrace()
	ls.wait.expired = false
	if n := len(ls.players); n > 0 {
		ls.p.resumed.Inc()
		ls.p.log.Info("players go on with a new run", "stream", ls.key, "players", n, "waited", waited)
	}
	return fd
}

// detach ends fd's run on the stream: its players wait for the next run
// if one may come (see above), else they end.
func (ls *liveStream) detach(fd *feed) {
	p := ls.p
	p.mu.Lock()
	defer p.mu.Unlock()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.cur != fd {
		return // taken over already
	}
	ls.release() // the run's last audio goes out before the players end or wait
	ls.cur = nil
	ls.resetCache()
	grace := p.cfg.ReconnectGrace
	if ls.up != nil || p.noWait || len(ls.players) == 0 || (grace <= 0 && ls.wait.holds == 0) {
		ls.end()
		return
	}
	ls.wait.expired = grace <= 0
	if grace > 0 {
		gen := ls.gen
		ls.wait.timer = time.AfterFunc(grace, func() { ls.graceOver(gen) })
	}
	p.log.Info("players wait for the stream's publisher", "stream", ls.key, "players", len(ls.players),
		"grace", grace, "publisher_on_its_way", ls.wait.holds > 0)
}

// graceOver closes the players of run gen's end unless a run came since
// or a publisher is on its way.
func (ls *liveStream) graceOver(gen uint64) {
	p := ls.p
	p.mu.Lock()
	defer p.mu.Unlock()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed || ls.cur != nil || ls.gen != gen {
		return
	}
	ls.wait.timer = nil
	ls.wait.expired = true
	if ls.wait.holds > 0 {
		return // its release decides
	}
	p.expired.Inc()
	p.log.Info("no publisher came back within the grace: players closed", "stream", ls.key,
		"players", len(ls.players), "grace", p.cfg.ReconnectGrace)
	ls.end()
}

// end closes the stream and its players; under p.mu and ls.mu.
func (ls *liveStream) end() {
	if ls.p.streams[ls.key] == ls {
		delete(ls.p.streams, ls.key)
	}
	ls.stopGrace()
	ls.closed = true
	for pl := range ls.players {
		pl.stop()
	}
	clear(ls.players)
}

func (ls *liveStream) stopGrace() {
	if ls.wait.timer != nil {
		ls.wait.timer.Stop()
		ls.wait.timer = nil
	}
}

// hold keeps the players of key waiting for a publisher the origin has
// accepted and that waits for the previous run to close: they go on with
// its run instead of ending with the previous one. release is called once
// the publisher opened its sinks, or gave up; it may be called more than
// once. The origin calls it under its hub lock (lock order: hub, Players,
// liveStream).
func (p *Players) hold(key string) (release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := p.streams[key]
	if ls == nil || ls.up != nil || p.noWait {
		return func() {}
	}
	ls.mu.Lock()
	ls.wait.holds++
	ls.mu.Unlock()
	var once sync.Once
	return func() { once.Do(ls.unhold) }
}

// unhold ends a hold: players that wait for nothing else end.
func (ls *liveStream) unhold() {
	p := ls.p
	p.mu.Lock()
	defer p.mu.Unlock()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.wait.holds--
	if ls.closed || ls.cur != nil || ls.wait.holds > 0 {
		return
	}
	if ls.wait.expired || p.noWait {
		p.log.Info("the publisher on its way gave up: players closed", "stream", ls.key, "players", len(ls.players))
		ls.end()
	}
}

// stopWaiting is for when no publisher can come back (the node drains or
// stops): waiting players end now, and players end with their run from
// now on. Players held for a publisher already accepted wait for it.
func (p *Players) stopWaiting() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.noWait {
		return
	}
	p.noWait = true
	for _, ls := range p.streams {
		ls.mu.Lock()
		if !ls.closed && ls.cur == nil && ls.wait.holds == 0 {
			p.log.Info("no publisher can come back: waiting players closed", "stream", ls.key, "players", len(ls.players))
			ls.end()
		}
		ls.mu.Unlock()
	}
}
