package proxy

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// refScore is the routing contract written out again from its definition,
// with the standard library's FNV-1a, so the tests check Score and Rank
// against the formula rather than against themselves: FNV-1a 64 of
// node "\x00" stream, MurmurHash3's fmix64, u = (top 52 bits + 0.5) / 2^52,
// score = -w / ln(u).
func refScore(node, stream string, w float64) float64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	h.Write([]byte{0})
	h.Write([]byte(stream))
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	u := (float64(x>>12) + 0.5) / math.Exp2(52)
	return -w / math.Log(u)
}

// refPick is the highest-scoring node by refScore; weights by name.
func refPick(weights map[string]float64, stream string) string {
	best, bestScore := "", -1.0
	for name, w := range weights {
		s := refScore(name, stream, w)
		if s > bestScore || s == bestScore && name < best {
			best, bestScore = name, s
		}
	}
	return best
}

func readyNode(name string, pubs, max int) catalog.Node {
	return catalog.Node{
		Version: catalog.NodeVersion, Name: name, RTMP: "10.0.0." + fmt.Sprint(len(name)) + ":1935",
		State: catalog.NodeReady, Time: time.Now(),
		Load: catalog.NodeLoad{Publishers: pubs, MaxPublishers: max},
	}
}

func streamNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("live/cam%d", i)
	}
	return out
}

func TestWeightQuantized(t *testing.T) {
	for _, c := range []struct {
		pubs, max int
		want      float64
	}{
		{0, 0, 1}, {7, 0, 1}, // no maximum reported
		{0, 100, 1}, {1, 100, 1}, {24, 100, 1},
		{25, 100, 0.75}, {49, 100, 0.75},
		{50, 100, 0.5}, {74, 100, 0.5},
		{75, 100, 0.25}, {99, 100, 0.25},
		{100, 100, 0}, {120, 100, 0},
		{0, 1, 1}, {1, 1, 0},
		{1, 3, 0.75}, {2, 3, 0.5},
	} {
		if got := Weight(catalog.NodeLoad{Publishers: c.pubs, MaxPublishers: c.max}); got != c.want {
			t.Errorf("Weight(%d/%d) = %v, want %v", c.pubs, c.max, got, c.want)
		}
	}
}

func TestScoreMatchesDefinition(t *testing.T) {
	for _, s := range streamNames(50) {
		for _, n := range []catalog.Node{readyNode("a", 0, 10), readyNode("node_2", 3, 10), readyNode("z", 9, 10)} {
			want := refScore(n.Name, s, Weight(n.Load))
			if got := Score(n, s); got != want {
				t.Fatalf("Score(%s, %s) = %v, want %v", n.Name, s, got, want)
			}
		}
	}
}

// TestTwoRoutersAgree: two proxies, each with its own copy of the registry
// (in another order), send 50 streams to the same nodes.
func TestTwoRoutersAgree(t *testing.T) {
	nodes := []catalog.Node{readyNode("n1", 10, 500), readyNode("n2", 200, 500), readyNode("n3", 0, 500)}
	other := slices.Clone(nodes)
	slices.Reverse(other)
	a := NewRouter(newFixedDir(nodes...))
	b := NewRouter(newFixedDir(other...))
	used := map[string]int{}
	for _, s := range streamNames(50) {
		ra, err := a.Publish(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Publish(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if ra.Node.Name != rb.Node.Name {
			t.Errorf("%s: router A picks %s, router B %s", s, ra.Node.Name, rb.Node.Name)
		}
		if ra.By != ByHash {
			t.Errorf("%s routed by %s, want %s", s, ra.By, ByHash)
		}
		w := map[string]float64{}
		for _, n := range nodes {
			w[n.Name] = Weight(n.Load)
		}
		if want := refPick(w, s); ra.Node.Name != want {
			t.Errorf("%s: routed to %s, the formula says %s", s, ra.Node.Name, want)
		}
		used[ra.Node.Name]++
	}
	if len(used) != 3 {
		t.Errorf("50 streams over 3 nodes used only %v", used)
	}
}

// TestAddingANodeMovesOnlyItsStreams: with a fourth node, a stream moves
// exactly when the new node has its highest score, and only to it.
func TestAddingANodeMovesOnlyItsStreams(t *testing.T) {
	three := []catalog.Node{readyNode("n1", 0, 100), readyNode("n2", 30, 100), readyNode("n3", 60, 100)}
	four := append(slices.Clone(three), readyNode("n4", 0, 100))
	before, after := NewRouter(newFixedDir(three...)), NewRouter(newFixedDir(four...))
	weights := map[string]float64{"n1": 1, "n2": 0.75, "n3": 0.5, "n4": 1}
	moved := 0
	for _, s := range streamNames(50) {
		r0, err := before.Publish(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		r1, err := after.Publish(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		wantMove := refPick(weights, s) == "n4"
		switch {
		case wantMove && r1.Node.Name != "n4":
			t.Errorf("%s: n4 has the highest score, but it went to %s", s, r1.Node.Name)
		case !wantMove && r1.Node.Name != r0.Node.Name:
			t.Errorf("%s moved from %s to %s though n4 does not have its highest score", s, r0.Node.Name, r1.Node.Name)
		}
		if r1.Node.Name != r0.Node.Name {
			moved++
		}
	}
	// n4 has weight 1 of 3.25: about 15 of 50 streams.
	if moved < 5 || moved > 30 {
		t.Errorf("%d of 50 streams moved to the new node; expected about 15", moved)
	}
}

// TestWeightsShareStreams: a node of weight w gets a share w/sum of the
// streams.
func TestWeightsShareStreams(t *testing.T) {
	r := NewRouter(newFixedDir(readyNode("big", 0, 100), readyNode("small", 80, 100)))
	counts := map[string]int{}
	const n = 4000
	for i := range n {
		rt, err := r.Publish(context.Background(), fmt.Sprintf("app/s%d", i))
		if err != nil {
			t.Fatal(err)
		}
		counts[rt.Node.Name]++
	}
	// Weights 1 and 0.25: the small node should get 1/5.
	if share := float64(counts["small"]) / n; share < 0.17 || share > 0.23 {
		t.Errorf("small node share %.3f, want about 0.2 (%v)", share, counts)
	}
}

func TestDrainingDeadFullNeverChosen(t *testing.T) {
	now := time.Now()
	draining := readyNode("draining", 0, 100)
	draining.State = catalog.NodeDraining
	full := readyNode("full", 100, 100)
	dead := readyNode("dead", 0, 100)
	dead.Time = now.Add(-time.Minute) // a stale heartbeat: the directory leaves it out
	badAddr := readyNode("badaddr", 0, 100)
	badAddr.RTMP = "0.0.0.0:1935"
	ok1, ok2 := readyNode("ok1", 50, 100), readyNode("ok2", 99, 100)
	dir := newFixedDir(draining, full, dead, badAddr, ok1, ok2)
	r := NewRouter(dir)
	for i := range 500 {
		s := fmt.Sprintf("app/x%d", i)
		rt, err := r.Publish(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if n := rt.Node.Name; n != "ok1" && n != "ok2" {
			t.Fatalf("%s routed to %s", s, n)
		}
		for _, n := range rt.Next {
			if n.Name != "ok1" && n.Name != "ok2" {
				t.Fatalf("%s may fall back to %s", s, n.Name)
			}
		}
	}
	// Only nodes that cannot take it: no node.
	r = NewRouter(newFixedDir(draining, full, dead))
	if _, err := r.Publish(context.Background(), "app/x"); !errors.Is(err, ErrNoNode) {
		t.Fatalf("publish with no ready node: %v, want ErrNoNode", err)
	}
}

func TestPublishPrefersLiveThenRecent(t *testing.T) {
	a, b, c := readyNode("a", 0, 100), readyNode("b", 0, 100), readyNode("c", 0, 100)
	drainingB := b
	drainingB.State = catalog.NodeDraining
	fullC := c
	fullC.Load.Publishers = 100
	const s = "app/stream"

	// Live on a draining node: the takeover goes there all the same.
	d := newFixedDir(a, drainingB, c)
	d.live[s] = "b"
	rt, err := NewRouter(d).Publish(context.Background(), s)
	if err != nil || rt.Node.Name != "b" || rt.By != ByLive {
		t.Fatalf("live on b: %+v, %v", rt, err)
	}

	// Recent on a ready node: back where it was, whatever the hash says.
	for _, n := range []string{"a", "b", "c"} {
		d = newFixedDir(a, b, c)
		d.recent[s] = n
		rt, err = NewRouter(d).Publish(context.Background(), s)
		if err != nil || rt.Node.Name != n || rt.By != ByRecent || rt.Failover != "" {
			t.Fatalf("recent on %s: %+v, %v", n, rt, err)
		}
	}

	// Recent on a draining, full or dead node: rendezvous, counted as a
	// failover. (A dead one only reaches the router from a Directory that
	// hands out stale heartbeats: the router checks all the same.)
	deadA := a
	deadA.Time = time.Now().Add(-time.Hour)
	for _, c := range []struct {
		nodes  []catalog.Node
		recent string
		reason string
	}{
		{[]catalog.Node{a, drainingB, c}, "b", FailoverDraining},
		{[]catalog.Node{a, b, fullC}, "c", FailoverFull},
		{[]catalog.Node{deadA, b, c}, "a", FailoverDead},
	} {
		d = newFixedDir(c.nodes...)
		d.staleRecent = true
		d.recent[s] = c.recent
		rt, err = NewRouter(d).Publish(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		want := Rank(d.Nodes(), s)[0].Name
		if rt.Node.Name != want || rt.By != ByHash || rt.Failover != c.reason || rt.Node.Name == c.recent {
			t.Errorf("recent on %s: %+v, want %s by hash with failover %s", c.recent, rt, want, c.reason)
		}
	}
}

func TestPlayRoute(t *testing.T) {
	a, b := readyNode("a", 0, 100), readyNode("b", 0, 100)
	b.State = catalog.NodeDraining
	d := newFixedDir(a, b)
	d.live["app/on_b"] = "b"
	r := NewRouter(d)
	rt, err := r.Play(context.Background(), "app/on_b")
	if err != nil || rt.Node.Name != "b" {
		t.Fatalf("play of a stream live on draining b: %+v, %v", rt, err)
	}
	if _, err := r.Play(context.Background(), "app/nowhere"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("play of an unknown stream: %v, want ErrNotFound", err)
	}
}

// TestHashSpreads: the hash of similar names is not similar (the fmix64
// step): the top bit is set for about half of 10000 sequential names.
func TestHashSpreads(t *testing.T) {
	set := 0
	for i := range 10000 {
		if Hash("node1", fmt.Sprintf("app/cam%d", i))>>63 == 1 {
			set++
		}
	}
	if set < 4700 || set > 5300 {
		t.Errorf("top bit set for %d of 10000 names", set)
	}
	// Unit stays inside (0, 1) at the extremes.
	for _, h := range []uint64{0, math.MaxUint64, rand.Uint64()} {
		if u := Unit(h); !(u > 0 && u < 1) {
			t.Errorf("Unit(%x) = %v", h, u)
		}
	}
}
