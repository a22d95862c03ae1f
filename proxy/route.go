package proxy

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"

	"github.com/rewind-vod/rewind/catalog"
)

// Routing errors; the session answers them with the matching RTMP status
// or HTTP error.
var (
	// ErrNotFound: a play for a stream that is live nowhere.
	ErrNotFound = errors.New("stream is not live on any node")
	// ErrNoNode: a publish with no ready node that has room for it.
	ErrNoNode = errors.New("no ready origin node has room for a new publish")
)

// How a route was chosen (Route.By, and the "by" attribute of session logs).
const (
	ByLive   = "live"   // the node where the stream is live now
	ByRecent = "recent" // the ready node the stream ended on a moment ago
	ByHash   = "hash"   // weighted rendezvous hashing over the ready nodes
)

// Failover reasons: a publish that Recent placed on a node that cannot take
// it now (no longer among the alive nodes, draining, full), or whose first
// choice could not be reached.
const (
	FailoverDead        = "recent_dead"
	FailoverDraining    = "recent_draining"
	FailoverFull        = "recent_full"
	FailoverUnreachable = "unreachable"
)

// Route is where a session goes.
type Route struct {
	Node catalog.Node
	By   string // ByLive, ByRecent or ByHash
	// Next are the ready nodes to try, in rendezvous order, when Node
	// cannot be reached (publishes only; a play has one place to go).
	Next []catalog.Node
	// Failover is set when Recent named a node that cannot take the
	// publish now (FailoverDead, FailoverDraining, FailoverFull).
	Failover string
}

// Router picks nodes from a Directory. It holds no state of its own, so two
// routers over the same registry agree.
type Router struct {
	dir Directory
}

// NewRouter routes over dir.
func NewRouter(dir Directory) *Router { return &Router{dir: dir} }

// Publish routes a publish of stream ("app/name"): to the node it is live
// on (a takeover or a reconnect goes to the same place), else to the ready
// node it ended on a short while ago (a publisher coming back lands where
// it was, so its recording joins up), else by rendezvous hashing.
func (r *Router) Publish(ctx context.Context, stream string) (Route, error) {
	alive := r.dir.Nodes()
	rank := Rank(alive, stream)
	if n, ok := r.dir.Live(ctx, stream); ok && catalog.ValidHostPort(n.RTMP) == nil {
		return Route{Node: n, By: ByLive, Next: without(rank, n.Name)}, nil
	}
	var failover string
	if n, ok := r.dir.Recent(stream); ok {
		i := slices.IndexFunc(alive, func(a catalog.Node) bool { return a.Name == n.Name })
		if i >= 0 {
			n = alive[i] // the current heartbeat: state and load as of now
		}
		switch {
		case i < 0:
			failover = FailoverDead
		case n.State != catalog.NodeReady:
			failover = FailoverDraining
		case Weight(n.Load) == 0:
			failover = FailoverFull
		case catalog.ValidHostPort(n.RTMP) == nil:
			return Route{Node: n, By: ByRecent, Next: without(rank, n.Name)}, nil
		}
	}
	if len(rank) == 0 {
		return Route{Failover: failover}, ErrNoNode
	}
	return Route{Node: rank[0], By: ByHash, Next: rank[1:], Failover: failover}, nil
}

// Play routes a play of stream to the node it is live on.
func (r *Router) Play(ctx context.Context, stream string) (Route, error) {
	n, ok := r.dir.Live(ctx, stream)
	if !ok {
		return Route{}, ErrNotFound
	}
	return Route{Node: n, By: ByLive}, nil
}

func without(nodes []catalog.Node, name string) []catalog.Node {
	return slices.DeleteFunc(slices.Clone(nodes), func(n catalog.Node) bool { return n.Name == name })
}

// Hash is the rendezvous hash of a node and a stream: FNV-1a 64 over the
// bytes of node, one zero byte and stream, then MurmurHash3's 64-bit
// finalizer (fmix64), because FNV-1a alone mixes the last bytes of similar
// names (cam1, cam2, ...) into the high bits poorly. Part of the routing
// contract: every proxy must compute the same value.
func Hash(node, stream string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(node); i++ {
		h ^= uint64(node[i])
		h *= prime64
	}
	h *= prime64 // the zero separator: h ^= 0 changes nothing
	for i := 0; i < len(stream); i++ {
		h ^= uint64(stream[i])
		h *= prime64
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Unit maps a hash into the open interval (0, 1): its top 52 bits, plus
// one half, over 2^52 (exact in a float64; with 53 bits the largest value
// would round to 1). Never 0 or 1, so its logarithm is finite and
// negative.
func Unit(h uint64) float64 { return (float64(h>>12) + 0.5) / (1 << 52) }

// Weight is a node's share of new publishes, from its load: the headroom
// 1 - publishers/max_publishers rounded up to a quarter (1, 0.75, 0.5 or
// 0.25), and 0 for a full node, which is never chosen. Coarse on purpose:
// a few publishers more or less must not move streams between nodes. A
// node that reports no maximum has weight 1.
func Weight(l catalog.NodeLoad) float64 {
	if l.MaxPublishers <= 0 {
		return 1
	}
	free := l.MaxPublishers - l.Publishers
	if free <= 0 {
		return 0
	}
	// ceil(4·free/max) in integers, so that no rounding can differ
	// between proxies.
	quarters := (4*free + l.MaxPublishers - 1) / l.MaxPublishers
	return float64(quarters) / 4
}

// Score is node's weighted rendezvous score for stream:
// -Weight(load) / ln(Unit(Hash(name, stream))). The highest score wins; with
// equal weights that is the highest hash, and a node of weight w wins a
// share of streams proportional to w.
func Score(n catalog.Node, stream string) float64 {
	w := Weight(n.Load)
	if w == 0 {
		return 0
	}
	return -w / math.Log(Unit(Hash(n.Name, stream)))
}

// Rank orders the nodes that may take a new publish of stream — ready,
// not full, with a valid RTMP address — by descending Score; equal scores
// (which take an exact float tie) go by name. Draining and full nodes are
// left out; dead ones are not in a Directory's list at all.
func Rank(nodes []catalog.Node, stream string) []catalog.Node {
	type scored struct {
		n catalog.Node
		s float64
	}
	c := make([]scored, 0, len(nodes))
	for _, n := range nodes {
		if n.State != catalog.NodeReady || catalog.ValidHostPort(n.RTMP) != nil {
			continue
		}
		if s := Score(n, stream); s > 0 {
			c = append(c, scored{n, s})
		}
	}
	slices.SortFunc(c, func(a, b scored) int {
		if r := cmp.Compare(b.s, a.s); r != 0 {
			return r
		}
		return cmp.Compare(a.n.Name, b.n.Name)
	})
	out := make([]catalog.Node, len(c))
	for i, x := range c {
		out[i] = x.n
	}
	return out
}
