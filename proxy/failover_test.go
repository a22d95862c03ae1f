package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// streamFirstOn is a stream name whose rendezvous first choice is node.
func streamFirstOn(t *testing.T, nodes []catalog.Node, node, prefix string) string {
	t.Helper()
	for i := range 1000 {
		s := fmt.Sprintf("live/%s%d", prefix, i)
		if Rank(nodes, s)[0].Name == node {
			return s
		}
	}
	t.Fatalf("no stream ranks %s first", node)
	return ""
}

func publishRaw(t *testing.T, addr, stream string) (*rawClient, string) {
	t.Helper()
	st, err := catalog.ParseStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	rc := dialRaw(t, addr)
	id := rc.connect(st.App)
	rc.send(id, "publish", nil, st.Name, "live")
	code, _ := rc.await("onStatus").statusCode()
	return rc, code
}

// TestPublishRouting: through a real origin, a publish whose first choice
// is unreachable goes to the next node (a failover); one that Recent
// placed on a draining node is routed afresh (a failover); and a second
// publish of a live stream goes to the node it is live on, whatever the
// hash says, where the origin's takeover policy decides.
func TestPublishRouting(t *testing.T) {
	t.Parallel()
	o := startOrigin(t, "node_a")
	dead := nodeDoc("dead_x", closedAddr(t), "")
	drained := nodeDoc("drained", closedAddr(t), "")
	drained.State = catalog.NodeDraining
	dir := newFixedDir(o.node, dead, drained)
	dir.timeout = time.Hour
	dir.liveOn["node_a"] = o.live
	px := startProxy(t, Config{Directory: dir})
	failovers := func(reason string) float64 {
		return px.metric(t, "rewind_proxy_failovers_total", "reason", reason)
	}

	// First choice unreachable: the next one in rendezvous order.
	s1 := streamFirstOn(t, dir.Nodes(), "dead_x", "a")
	rc1, code := publishRaw(t, px.rtmpAddr, s1)
	if code != "NetStream.Publish.Start" {
		t.Fatalf("publish of %s: %s", s1, code)
	}
	if !slices.Contains(o.live(), s1) {
		t.Fatalf("%s is not live on node_a", s1)
	}
	if n := failovers(FailoverUnreachable); n != 1 {
		t.Errorf("failovers{unreachable} = %v", n)
	}

	// Recent on a draining node: routed by rendezvous among the ready.
	s2 := streamFirstOn(t, dir.Nodes(), "node_a", "b")
	dir.mu.Lock()
	dir.recent[s2] = "drained"
	dir.mu.Unlock()
	rc2, code := publishRaw(t, px.rtmpAddr, s2)
	if code != "NetStream.Publish.Start" || !slices.Contains(o.live(), s2) {
		t.Fatalf("publish of %s recently on a draining node: %s, live %v", s2, code, o.live())
	}
	if n := failovers(FailoverDraining); n != 1 {
		t.Errorf("failovers{recent_draining} = %v", n)
	}
	rc2.c.Close()

	// A second publisher of s1 goes where s1 is live (node_a) though the
	// hash says dead_x: the origin refuses it (takeover policy reject).
	before := failovers(FailoverUnreachable)
	_, code = publishRaw(t, px.rtmpAddr, s1)
	if code == "NetStream.Publish.Start" {
		t.Fatalf("the origin accepted a second publisher of %s", s1)
	}
	if n := metric(t, o.reg, "rewind_origin_rejected_total", "reason", "takeover"); n != 1 {
		t.Errorf("origin takeover refusals = %v, want 1", n)
	}
	if n := failovers(FailoverUnreachable); n != before {
		t.Errorf("a live route tried the dead node: failovers %v -> %v", before, n)
	}
	if n := px.metric(t, "rewind_proxy_routes_total", "kind", kindPublish, "result", resultOK); n != 3 {
		t.Errorf("routes{publish,ok} = %v, want 3", n)
	}
	rc1.c.Close()
}

// TestPlayUpstreamUnreachable: a play of a stream the registry says is
// live on a node that cannot be reached gets a clear error status.
func TestPlayUpstreamUnreachable(t *testing.T) {
	t.Parallel()
	dir := newFixedDir(nodeDoc("gone", closedAddr(t), ""))
	dir.timeout = time.Hour
	dir.setLive("live/x", "gone")
	px := startProxy(t, Config{Directory: dir})
	rc := dialRaw(t, px.rtmpAddr)
	id := rc.connect("live")
	rc.send(id, "play", nil, "x")
	code, desc := rc.await("onStatus").statusCode()
	if code != codePlayFailed || desc == "" {
		t.Errorf("play from an unreachable node: %s %q", code, desc)
	}
	if n := px.metric(t, "rewind_proxy_routes_total", "kind", kindPlay, "result", resultUpstreamError); n != 1 {
		t.Errorf("routes{play,upstream_error} = %v", n)
	}
}

// TestShutdownEndsSessions: cancelling Serve closes live sessions and
// returns promptly; Serve runs once.
func TestShutdownEndsSessions(t *testing.T) {
	t.Parallel()
	o := startOrigin(t, "node_a")
	dir := newFixedDir(o.node)
	dir.timeout = time.Hour
	px := startProxy(t, Config{Directory: dir})
	rc, code := publishRaw(t, px.rtmpAddr, "live/s")
	if code != "NetStream.Publish.Start" {
		t.Fatalf("publish: %s", code)
	}
	waitFor(t, 2*time.Second, "one session", func() bool { return px.p.Sessions() == 1 })
	start := time.Now()
	if err := px.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	expectClosed(t, rc.c, 2*time.Second)
	if px.p.Sessions() != 0 {
		t.Errorf("%d sessions after shutdown", px.p.Sessions())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := px.p.Serve(context.Background(), ln); err == nil {
		t.Error("Serve ran twice")
	}
	if px.p.Ready() {
		t.Error("ready after shutdown")
	}
}

func TestNewChecksConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Directory: newFixedDir(), DialTimeout: -1},
		{Directory: newFixedDir(), MaxConns: -1},
		{Directory: newFixedDir(), MaxMessageSize: 100},
	} {
		if _, err := New(cfg, nil, nil); err == nil {
			t.Errorf("New(%+v) accepted it", cfg)
		}
	}
	p, err := New(Config{Directory: newFixedDir()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.cfg.DialTimeout != DefaultDialTimeout || p.cfg.MaxAttempts != DefaultMaxAttempts {
		t.Errorf("defaults not applied: %+v", p.cfg)
	}
}

// TestSilentNode: a node that takes the connection and the replay but
// never answers does not hold the client past the setup timeout.
func TestSilentNode(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := rtmpwire.ServerHandshake(c, c, 0); err != nil {
					return
				}
				io.Copy(io.Discard, c) // reads, never answers
			}()
		}
	}()
	dir := newFixedDir(nodeDoc("mute", ln.Addr().String(), ""))
	dir.timeout = time.Hour
	px := startProxy(t, Config{Directory: dir, SetupTimeout: 500 * time.Millisecond})
	rc := dialRaw(t, px.rtmpAddr)
	id := rc.connect("live")
	start := time.Now()
	rc.send(id, "publish", nil, "s", "live")
	code, desc := rc.await("onStatus").statusCode()
	if code != codePublishFailed || !strings.Contains(desc, "did not answer") {
		t.Errorf("publish to a mute node: %s %q", code, desc)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the client waited %s", d)
	}
	expectClosed(t, rc.c, 2*time.Second)
	waitFor(t, 2*time.Second, "the upstream error counted", func() bool {
		return px.metric(t, "rewind_proxy_routes_total", "kind", kindPublish, "result", resultUpstreamError) == 1
	})
}
