package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/rewind-vod/rewind/infra/store"
)

// Defaults of DirectoryConfig.
const (
	DefaultNodeTimeout         = 10 * time.Second
	DefaultDirectoryRefresh    = 2 * time.Second
	DefaultDirectoryMinRefresh = 250 * time.Millisecond
)

// DefaultDirectoryConfig is what NewDirectory gives zero fields, and what
// the command line starts from.
func DefaultDirectoryConfig() DirectoryConfig {
	return DirectoryConfig{Timeout: DefaultNodeTimeout, Refresh: DefaultDirectoryRefresh, MinRefresh: DefaultDirectoryMinRefresh}
}

// DirectoryConfig tunes a Directory. Zero values take the defaults above.
type DirectoryConfig struct {
	// Timeout: a node whose heartbeat is older than this (or further in
	// the future) is dead for this reader.
	Timeout time.Duration
	// Refresh is how often the background loop (Run) rereads the registry.
	Refresh time.Duration
	// MinRefresh bounds the on-demand refreshes of a Live miss: at most one
	// starts per MinRefresh, however many misses there are.
	MinRefresh time.Duration
	// Self is the reader's own node name, if it is a node: Live and Recent
	// never answer it (a node never pulls from itself, and its own document
	// may still list streams it no longer has after a restart).
	Self string
}

// Directory is a cached view of the node registry, the reading half
// (Registry writes). Queries read memory only, except that a Live miss
// refreshes once on demand; a refresh is one LIST of NodesPrefix plus one
// GET per heartbeat that changed since it was last read. The Nodes it
// returns share their Live and Recent lists with the cache: read only.
type Directory struct {
	st  countedStore
	cfg DirectoryConfig
	log *slog.Logger
	m   *registryMetrics

	view      atomic.Pointer[dirView] // what queries read, replaced whole
	lastStart atomic.Int64            // unix ns at which the last refresh started
	sf        singleflight.Group      // the on-demand refresh shared by concurrent misses
	running   atomic.Bool

	refreshMu sync.Mutex // one refresh at a time; guards what follows
	docs      map[string]*docEntry
	aliveSeen map[string]bool // alive at the last refresh, to log nodes coming and going
	failing   bool
	lastWarn  time.Time

	ignoreMu  sync.Mutex
	ignoreLog map[string]ignoreLogged // by key: the last warning about it
}

// dirView is one refresh's result. Whether a node is alive depends on the
// time of the query, so the view keeps every valid document and each query
// judges it.
type dirView struct {
	nodes  []*Node               // valid documents, sorted by name
	live   map[string][]streamAt // stream -> the nodes listing it live
	recent map[string][]streamAt // stream -> the nodes listing it recently ended
}

type streamAt struct {
	node  *Node
	since time.Time
}

// NewDirectory reads the registry in st; nothing is read until Run,
// Refresh or a Live miss. Its metrics go to reg (nil: not registered).
func NewDirectory(st store.Store, cfg DirectoryConfig, log *slog.Logger, reg prometheus.Registerer) (*Directory, error) {
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &cfg.Timeout, DefaultNodeTimeout},
		{"Refresh", &cfg.Refresh, DefaultDirectoryRefresh},
		{"MinRefresh", &cfg.MinRefresh, DefaultDirectoryMinRefresh},
	} {
		if *f.v < 0 {
			return nil, fmt.Errorf("node directory: %s is negative (%s)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if cfg.Refresh >= cfg.Timeout {
		return nil, fmt.Errorf("node directory: refresh every %s with a node timeout of %s: live nodes would look dead between refreshes", cfg.Refresh, cfg.Timeout)
	}
	if cfg.Self != "" {
		if err := ValidNode(cfg.Self); err != nil {
			return nil, fmt.Errorf("node directory: self: %w", err)
		}
	}
	if log == nil {
		log = slog.Default()
	}
	m := newRegistryMetrics(reg)
	d := &Directory{
		st:        countedStore{st: st, m: m},
		cfg:       cfg,
		log:       log.With("component", "node-directory"),
		m:         m,
		docs:      map[string]*docEntry{},
		aliveSeen: map[string]bool{},
		ignoreLog: map[string]ignoreLogged{},
	}
	d.view.Store(&dirView{})
	return d, nil
}

// Run refreshes the view every cfg.Refresh until ctx ends, then returns
// nil. A failed refresh keeps the last view (its nodes age out by their
// heartbeat times) and is retried at the next tick.
func (d *Directory) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("node directory: Run called twice")
	}
	defer d.running.Store(false)
	t := time.NewTicker(d.cfg.Refresh)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
		_ = d.Refresh(rctx) // counted and logged by Refresh
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Nodes returns the alive nodes, ready and draining, sorted by name. The
// Live and Recent lists are shared with the cache: read them, do not
// modify them.
func (d *Directory) Nodes() []Node {
	v := d.view.Load()
	now := time.Now()
	out := make([]Node, 0, len(v.nodes))
	for _, n := range v.nodes {
		if n.Alive(now, d.cfg.Timeout) {
			out = append(out, *n)
		}
	}
	return out
}

// Live returns the alive node where stream ("app/name") is live; if
// several list it (a takeover moving between nodes), the newest publish.
// On a miss it refreshes once on demand before answering not found, so a
// stream is found as soon as its node's heartbeat lists it; a stream name
// outside the rule is answered at once.
func (d *Directory) Live(ctx context.Context, stream string) (Node, bool) {
	if _, err := ParseStream(stream); err != nil {
		return Node{}, false
	}
	if n, ok := d.pick(d.view.Load().live[stream]); ok {
		return n, true
	}
	if err := d.refreshOnDemand(ctx); err != nil && ctx.Err() == nil {
		d.log.Debug("on-demand refresh failed", "stream", stream, "err", err)
	}
	return d.pick(d.view.Load().live[stream])
}

// Recent returns an alive node where stream ended recently (the newest
// end), from the cache alone: where a returning publisher came from. The
// node may be draining; the caller decides.
func (d *Directory) Recent(stream string) (Node, bool) {
	return d.pick(d.view.Load().recent[stream])
}

// pick is the alive candidate other than Self with the newest time.
func (d *Directory) pick(cands []streamAt) (Node, bool) {
	now := time.Now()
	var best *streamAt
	for i := range cands {
		c := &cands[i]
		if c.node.Name == d.cfg.Self || !c.node.Alive(now, d.cfg.Timeout) {
			continue
		}
		if best == nil || c.since.After(best.since) {
			best = c
		}
	}
	if best == nil {
		return Node{}, false
	}
	return *best.node, true
}

// refreshOnDemand runs one refresh shared by every caller waiting on it.
// It starts no sooner than MinRefresh after the previous refresh started,
// so a flood of misses costs at most one refresh per MinRefresh. The
// refresh is detached from the first caller's cancellation (the others
// wait on it too); each caller stops waiting when its own ctx ends.
func (d *Directory) refreshOnDemand(ctx context.Context) error {
	ch := d.sf.DoChan("refresh", func() (any, error) {
		last := time.Unix(0, d.lastStart.Load())
		if wait := d.cfg.MinRefresh - time.Since(last); wait > 0 {
			time.Sleep(wait)
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout)
		defer cancel()
		return nil, d.Refresh(rctx)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}
