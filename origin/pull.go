package origin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// Node-to-node pull: a player asks this node for a stream that is live on
// another node. The first such player starts one pull per stream (later
// ones wait for it, then join); the pull reads the stream as HTTP-FLV from
// the live node and feeds it into these Players as a pulled liveStream, so
// its players share one upstream, one GOP cache and the same bounded
// queues as the players of a local publication. When the last player
// leaves, the pull lingers a little (a player that reconnects finds it),
// then ends. The upstream read itself is in pullupstream.go.

// PullHeader marks a node-to-node pull; its value is the pulling node's
// name. A request carrying it is answered only from a stream published on
// the node it asks, never by another pull, so pulls never chain or loop.
const PullHeader = "X-Rewind-Pull"

// Defaults for PlayersConfig's pull fields.
const (
	DefaultPullLinger  = 5 * time.Second
	DefaultPullTimeout = 5 * time.Second
)

// pullIdleTimeout ends a pull whose upstream sends nothing for that long: a
// node that died without closing the connection. Live media flows at tens
// of frames a second, so this is long silence.
const pullIdleTimeout = 10 * time.Second

// Locator finds the node where a stream ("app/name") is live.
// *catalog.Directory is one: it answers from its cached view of the node
// registry and refreshes once on a miss.
type Locator interface {
	Live(ctx context.Context, stream string) (catalog.Node, bool)
}

// Why pulls end. The first four are what a waiting player is told; the
// others are causes a pull is cancelled with.
var (
	errPullFailed      = errors.New("pulling the stream from its node failed")
	errPullForbidden   = errors.New("the stream's node refused the play")
	errPullTimeout     = errors.New("the stream's node did not start the stream in time")
	errPullShutdown    = errors.New("live players are shutting down")
	errPullIdle        = errors.New("no player left")
	errPublishedHere   = errors.New("the stream is published on this node now")
	errUpstreamStalled = errors.New("the stream's node sent nothing for too long")
	errUpstreamEnded   = errors.New("the stream's node ended the stream")
	errNotLocated      = errors.New("no node has the stream live")
	errLocatedSelf     = errors.New("the registry places the stream on this node, where it is not live")
	errNoAddress       = errors.New("the stream's node advertises no usable HTTP address")
	errConnect         = errors.New("cannot reach the stream's node")
)

// pulls runs the pulls of one Players, at most one per stream.
type pulls struct {
	p       *Players
	loc     Locator
	self    string
	linger  time.Duration
	timeout time.Duration
	client  *http.Client
	log     *slog.Logger
	m       *pullMetrics

	ctx    context.Context // cancelled by close
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	active map[string]*pull // by stream key; the newest pull of each
	closed bool
}

func newPulls(p *Players, m *pullMetrics) *pulls {
	cfg := p.cfg
	self := cfg.Self
	if self == "" {
		self = defaultNode()
	}
	pm := &pulls{
		p:       p,
		loc:     cfg.Upstreams,
		self:    catalog.SanitizeNode(self), // as the origin names itself
		linger:  cfg.PullLinger,
		timeout: cfg.PullTimeout,
		log:     p.log.With("part", "pull"),
		m:       m,
		active:  map[string]*pull{},
	}
	if pm.linger <= 0 {
		pm.linger = DefaultPullLinger
	}
	if pm.timeout <= 0 {
		pm.timeout = DefaultPullTimeout
	}
	pm.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // node to node on the internal network, never an environment proxy
			DialContext:           (&net.Dialer{Timeout: pm.timeout, KeepAlive: 15 * time.Second}).DialContext,
			ResponseHeaderTimeout: pm.timeout,
			DisableCompression:    true,
			DisableKeepAlives:     true, // the body lasts until the stream ends
		},
		// A node answers a pull itself; a redirect would send it elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	pm.ctx, pm.cancel = context.WithCancelCause(context.Background())
	return pm
}

// pull is one pull of one stream.
type pull struct {
	pm    *pulls
	st    catalog.Stream
	key   string
	query url.Values // what is forwarded upstream for its play auth

	ctx    context.Context
	cancel context.CancelCauseFunc
	ready  chan struct{} // closed once the stream is live here or the pull failed first
	err    error         // for waiters: why it failed before going live; set before ready closes
	live   bool          // the pump's and run's alone

	mu     sync.Mutex
	linger *time.Timer // armed while the stream has no player
}

// await makes sure st is being pulled (starting the pull if no one has) and
// waits until it is live here or the pull failed. A nil error means the
// stream is live here now (pulled, or published locally meanwhile).
func (pm *pulls) await(ctx context.Context, st catalog.Stream, q url.Values) error {
	pm.mu.Lock()
	if pm.closed {
		pm.mu.Unlock()
		return fmt.Errorf("%s: %w (%v)", st, errNotLive, errPullShutdown)
	}
	pl := pm.active[st.String()]
	if pl == nil || pl.ctx.Err() != nil {
		// None yet, or one that is ending (its linger ran out just now):
		// start afresh rather than join a stream about to close.
		pl = pm.start(st, q)
	}
	pm.mu.Unlock()
	select {
	case <-pl.ready:
		return pl.err
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting for the pull: %w", st, ctx.Err())
	}
}

// start launches a pull of st; under pm.mu.
func (pm *pulls) start(st catalog.Stream, q url.Values) *pull {
	pl := &pull{pm: pm, st: st, key: st.String(), query: forwardQuery(q), ready: make(chan struct{})}
	pl.ctx, pl.cancel = context.WithCancelCause(pm.ctx)
	pm.active[pl.key] = pl
	pm.wg.Add(1)
	go pm.run(pl)
	return pl
}

// forwardQuery is what the upstream request carries of the first player's
// query: its play token (exp, sig). This node has checked it already; the
// live node checks it again with its own secrets, so a pull never opens a
// stream that the player could not have played from the live node itself.
func forwardQuery(q url.Values) url.Values {
	out := url.Values{}
	for _, k := range []string{"exp", "sig"} {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

// run runs a pull to its end and cleans up after it.
func (pm *pulls) run(pl *pull) {
	defer pm.wg.Done()
	start := time.Now()
	fd, err := pl.pump()
	pl.cancel(err)
	pl.stopLinger()
	pm.mu.Lock()
	if pm.active[pl.key] == pl {
		delete(pm.active, pl.key)
	}
	pm.mu.Unlock()
	if fd != nil {
		fd.Close() // its players end: a pulled stream does not wait (playerswait.go)
	}
	// Counted before the waiting players hear of it, so that whoever got
	// the answer sees it counted.
	reason, failed := pullOutcome(err)
	switch {
	case reason == "":
	case failed:
		pm.m.failed.WithLabelValues(reason).Inc()
	default:
		pm.m.ended.WithLabelValues(reason).Inc()
	}
	if !pl.live {
		pl.err = waiterError(pl.st, err)
		close(pl.ready)
	}
	if reason == "" {
		pm.log.Debug("not pulled", "stream", pl.key, "why", err)
		return
	}
	log := pm.log.With("stream", pl.key, "reason", reason, "duration", time.Since(start).Round(time.Millisecond))
	if failed {
		log.Warn("pull failed", "err", err)
	} else {
		log.Info("pull ended", "why", err)
	}
}

// stop ends the pull with cause (a local publish, shutdown).
func (pl *pull) stop(cause error) { pl.cancel(cause) }

// setIdle arms the linger when the stream has no player and disarms it when
// it has one. Called under the liveStream's mu (lock order: ls.mu, pl.mu).
func (pl *pull) setIdle(idle bool) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.linger != nil {
		pl.linger.Stop()
		pl.linger = nil
	}
	if !idle || pl.ctx.Err() != nil {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(pl.pm.linger, func() {
		pl.mu.Lock()
		current := pl.linger == t
		pl.mu.Unlock()
		if current {
			pl.cancel(errPullIdle)
		}
	})
	pl.linger = t
}

func (pl *pull) stopLinger() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.linger != nil {
		pl.linger.Stop()
		pl.linger = nil
	}
}

// playersChanged tells a pulled stream's pull whether a player is left;
// under ls.mu. A local publication has no pull and ignores it.
func (ls *liveStream) playersChanged() {
	if ls.up != nil && !ls.closed {
		ls.up.setIdle(len(ls.players) == 0)
	}
}

// lookup is the live stream players of key join: nil when there is none,
// or when it is a pull that is ending (a new pull replaces it).
func (p *Players) lookup(key string) *liveStream {
	p.mu.Lock()
	ls := p.streams[key]
	p.mu.Unlock()
	if ls != nil && ls.up != nil && ls.up.ctx.Err() != nil {
		return nil
	}
	return ls
}

// openPulled is Open for a pulled stream: its liveStream is linked to the
// pull. A local publication of the stream wins, even one whose players
// wait for its publisher: the pull gives way.
func (p *Players) openPulled(pl *pull) (*feed, error) {
	ls, fd := newLiveStream(p, pl.key, pl)
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.streams[pl.key]; cur != nil && cur.up == nil {
		return nil, errPublishedHere
	}
	// A pulled stream still there belongs to an ending pull: replace it.
	p.streams[pl.key] = ls
	return fd, nil
}

// Close stops every pull (their players end as when a publisher stops)
// and waits for them; no pull starts after it. Players waiting for a
// publisher to come back end too, and from now on players end with their
// run. Local publications are the origin's to end and go on being
// served. Call it when the node shuts down: HTTP-FLV players of a pulled
// stream end only then.
func (p *Players) Close() {
	p.stopWaiting()
	if p.pulls == nil {
		return
	}
	pm := p.pulls
	pm.mu.Lock()
	pm.closed = true
	pm.mu.Unlock()
	pm.cancel(errPullShutdown)
	pm.wg.Wait()
}

// waiterError is what the players waiting for a pull that never went live
// are told: not live (404), forbidden (403), timeout (504) or failed (502).
func waiterError(st catalog.Stream, err error) error {
	var se *upstreamStatusError
	switch {
	case errors.Is(err, errPublishedHere):
		return nil // live here now: join the local publication
	case errors.As(err, &se) && se.code == http.StatusNotFound,
		errors.Is(err, errNotLocated), errors.Is(err, errLocatedSelf),
		errors.Is(err, errUpstreamEnded), errors.Is(err, errPullShutdown):
		return fmt.Errorf("%s: %w (%v)", st, errNotLive, err)
	case errors.As(err, &se) && (se.code == http.StatusForbidden || se.code == http.StatusUnauthorized):
		return fmt.Errorf("%s: %w: %v", st, errPullForbidden, err)
	case errors.Is(err, errPullTimeout):
		return fmt.Errorf("%s: %w", st, errPullTimeout)
	}
	return fmt.Errorf("%s: %w: %v", st, errPullFailed, err)
}

// playErrorStatus is the HTTP answer to a play that could not start.
func playErrorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, errNotLive):
		return http.StatusNotFound, "not_live"
	case errors.Is(err, errPullTimeout):
		return http.StatusGatewayTimeout, "pull_timeout"
	case errors.Is(err, errPullFailed):
		return http.StatusBadGateway, "pull_failed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusForbidden, "forbidden" // the play token, here or upstream
}
