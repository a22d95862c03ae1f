package proxy

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// fixedDir is a Directory over node documents the test gives, with the
// registry's rules: a node whose heartbeat is older than the timeout is
// dead (left out), lists are sorted by name. Where a stream is live comes
// from the live map, or from a node's own server (liveOn) when the test
// runs a real one.
type fixedDir struct {
	mu      sync.Mutex
	nodes   []catalog.Node
	live    map[string]string          // stream -> node name
	recent  map[string]string          // stream -> node name
	liveOn  map[string]func() []string // node name -> its live streams now
	timeout time.Duration
	// staleRecent makes Recent answer with a node whatever its heartbeat's
	// age, as a registry that broke its promise would.
	staleRecent bool
}

func newFixedDir(nodes ...catalog.Node) *fixedDir {
	return &fixedDir{
		nodes:   slices.Clone(nodes),
		live:    map[string]string{},
		recent:  map[string]string{},
		liveOn:  map[string]func() []string{},
		timeout: 10 * time.Second,
	}
}

func (d *fixedDir) Nodes() []catalog.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	var out []catalog.Node
	for _, n := range d.nodes {
		if n.Alive(now, d.timeout) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b catalog.Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (d *fixedDir) find(name string) (catalog.Node, bool) {
	for _, n := range d.Nodes() {
		if n.Name == name {
			return n, true
		}
	}
	return catalog.Node{}, false
}

func (d *fixedDir) Live(_ context.Context, stream string) (catalog.Node, bool) {
	d.mu.Lock()
	name, ok := d.live[stream]
	funcs := make(map[string]func() []string, len(d.liveOn))
	for k, v := range d.liveOn {
		funcs[k] = v
	}
	d.mu.Unlock()
	if ok {
		return d.find(name)
	}
	for node, f := range funcs {
		if slices.Contains(f(), stream) {
			return d.find(node)
		}
	}
	return catalog.Node{}, false
}

func (d *fixedDir) Recent(stream string) (catalog.Node, bool) {
	d.mu.Lock()
	name, ok := d.recent[stream]
	stale := d.staleRecent
	nodes := slices.Clone(d.nodes)
	d.mu.Unlock()
	if !ok {
		return catalog.Node{}, false
	}
	if stale {
		for _, n := range nodes {
			if n.Name == name {
				return n, true
			}
		}
	}
	return d.find(name)
}

func (d *fixedDir) setLive(stream, node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.live[stream] = node
}
