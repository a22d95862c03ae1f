package origin

import (
	"errors"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// Node A publishes live/cam (through the Sink contract, as its origin
// would); node B pulls it for its players. Real Players and HTTP-FLV on
// both sides, over loopback.
func pullPair(t *testing.T, linger time.Duration) (a, b *pullNode, loc *locatorFixture, stopPublish func()) {
	t.Helper()
	a = newPullNode(t, PlayersConfig{})
	stopPublish = synthPublish(t, a.players, "live", "cam")
	loc = newLocator("live/cam", testNode("node_a", a.http.addr))
	b = newPullNode(t, PlayersConfig{Upstreams: loc, Self: "node_b", PullLinger: linger, PullTimeout: 3 * time.Second})
	return a, b, loc, stopPublish
}

// Many players on B share one upstream from A; when the last leaves, the
// upstream lingers, is reused by a player that comes back in time, and is
// dropped after the linger. A new player then pulls again; the publisher
// stopping on A ends the pulled stream on B.
func TestPullSharedAndLinger(t *testing.T) {
	const linger = 800 * time.Millisecond
	a, b, _, stopPublish := pullPair(t, linger)
	camB := b.http.url + "/live/cam.flv"

	// Four players at once: one pull, the others wait for it.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		players []*flvPlayer
		errs    []error
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pl, err := startFLV(camB)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			players = append(players, pl)
		}()
	}
	wg.Wait()
	for _, pl := range players {
		t.Cleanup(pl.close)
	}
	if len(errs) > 0 {
		t.Fatalf("players on B: %v", errs)
	}
	for _, pl := range players {
		checkStartsOnKeyframe(t, pl.waitFrames(t, 30))
	}
	if n := a.http.pulls.Load(); n != 1 {
		t.Fatalf("%d pull requests reached A for 4 players on B, want 1", n)
	}
	if peer, _ := a.http.lastPull(); peer != "node_b" {
		t.Errorf("pull header %q, want node_b", peer)
	}
	if got := flvPlayers(a.players); got != 1 {
		t.Errorf("A serves %v HTTP-FLV sessions, want 1 (B's pull)", got)
	}
	if got := flvPlayers(b.players); got != 4 {
		t.Errorf("B serves %v players, want 4", got)
	}
	if got := b.metric(t, "rewind_origin_pulls_active"); got != 1 {
		t.Errorf("pulls active %v, want 1", got)
	}

	// All leave; one comes back within the linger: same upstream.
	for _, pl := range players {
		pl.close()
	}
	waitFor(t, 5*time.Second, "B's players gone", func() bool { return flvPlayers(b.players) == 0 })
	time.Sleep(linger / 4)
	back := playFLV(t, camB)
	checkStartsOnKeyframe(t, back.waitFrames(t, 10))
	if n := a.http.pulls.Load(); n != 1 {
		t.Errorf("a player back within the linger made %d pull requests, want 1 in all", n)
	}

	// It leaves too: the upstream stays for the linger, then goes.
	back.close()
	waitFor(t, 5*time.Second, "B's player gone", func() bool { return flvPlayers(b.players) == 0 })
	left := time.Now()
	time.Sleep(linger / 2)
	if got := b.metric(t, "rewind_origin_pulls_active"); got != 1 {
		t.Errorf("the pull ended before its linger")
	}
	waitFor(t, linger+5*time.Second, "upstream closed", func() bool {
		return b.metric(t, "rewind_origin_pulls_active") == 0 && flvPlayers(a.players) == 0
	})
	if d := time.Since(left); d < linger*9/10 { // left is taken up to a poll late
		t.Errorf("upstream closed %v after the last player left, linger is %v", d, linger)
	}
	if got := b.metric(t, "rewind_origin_pulls_ended_total", "reason", "idle"); got != 1 {
		t.Errorf("pulls ended idle: %v, want 1", got)
	}

	// A new player pulls again; A's publisher stopping ends it on B.
	again := playFLV(t, camB)
	checkStartsOnKeyframe(t, again.waitFrames(t, 10))
	if n := a.http.pulls.Load(); n != 2 {
		t.Errorf("%d pull requests after the linger, want 2", n)
	}
	stopPublish()
	if err := again.waitEnded(t, 5*time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("player on B after A's publisher stopped: %v, want a clean end", err)
	}
	waitFor(t, 5*time.Second, "pull ended", func() bool {
		return b.metric(t, "rewind_origin_pulls_ended_total", "reason", "upstream_ended") == 1
	})
	// Not live anywhere now: A says so, and B passes it on.
	if code, body := getStatus(t, camB); code != 404 {
		t.Errorf("after the stream ended: %d %s, want 404", code, body)
	}
	if got := b.metric(t, "rewind_origin_pulls_failed_total", "reason", "upstream_not_live"); got != 1 {
		t.Errorf("failed upstream_not_live: %v, want 1", got)
	}
	if got := b.metric(t, "rewind_origin_pull_bytes_total"); got < 1000 {
		t.Errorf("bytes pulled: %v", got)
	}
}

// A pull request is answered from a local publication only: never from a
// pulled stream and never by starting a pull, so pulls neither chain nor
// loop.
func TestPullNoChain(t *testing.T) {
	a, b, loc, _ := pullPair(t, time.Second)
	loc.mu.Lock()
	loc.nodes["live/other"] = testNode("node_a", a.http.addr)
	loc.mu.Unlock()

	pl := playFLV(t, b.http.url+"/live/cam.flv")
	pl.waitFrames(t, 5)
	started := b.metric(t, "rewind_origin_pulls_started_total")
	for _, path := range []string{"/live/cam.flv", "/live/other.flv"} {
		code, body := getStatus(t, b.http.url+path, PullHeader, "node_c")
		if code != 404 || !strings.Contains(body, "only streams published here") {
			t.Errorf("pull request to B for %s: %d %s, want 404", path, code, body)
		}
	}
	if got := b.metric(t, "rewind_origin_pulls_started_total"); got != started {
		t.Errorf("pull requests to B started %v pulls", got-started)
	}
	if n := a.http.pulls.Load(); n != 1 {
		t.Errorf("%d pull requests reached A, want B's one", n)
	}
	// A's own publication is what pulls are for.
	if err := playable(a.http.url+"/live/cam.flv", PullHeader, "node_c"); err != nil {
		t.Errorf("pull request to A for its own stream: %v", err)
	}
}

// playable reports whether url answers 200 with an FLV stream.
func playable(url string, hdr ...string) error {
	pl, err := startFLV(url, hdr...)
	if err != nil {
		return err
	}
	pl.close()
	return nil
}

// A node never pulls from itself: a Locator naming this node is ignored,
// and a registry that gives another name this node's own address costs one
// request that this node refuses (a pull request for a stream it does not
// publish), not a loop.
func TestPullNeverFromSelf(t *testing.T) {
	loc := &locatorFixture{nodes: map[string]catalog.Node{}}
	b := newPullNode(t, PlayersConfig{Upstreams: loc, Self: "node-b", PullTimeout: 2 * time.Second})
	loc.nodes["live/cam"] = testNode("node_b", b.http.addr) // Self is sanitized as the origin does
	if code, body := getStatus(t, b.http.url+"/live/cam.flv"); code != 404 {
		t.Errorf("locator naming this node: %d %s, want 404", code, body)
	}
	if n := b.http.pulls.Load(); n != 0 {
		t.Errorf("B sent %d pull requests to itself", n)
	}
	if got := b.metric(t, "rewind_origin_pulls_failed_total", "reason", "self"); got != 1 {
		t.Errorf("failed self: %v, want 1", got)
	}

	loc.mu.Lock()
	loc.nodes["live/cam"] = testNode("alias", b.http.addr)
	loc.mu.Unlock()
	if code, body := getStatus(t, b.http.url+"/live/cam.flv"); code != 404 {
		t.Errorf("locator giving this node's address: %d %s, want 404", code, body)
	}
	if n := b.http.pulls.Load(); n != 1 {
		t.Errorf("B sent %d pull requests to its own address, want 1 (refused, no loop)", n)
	}
}

// The player's play token goes upstream (exp and sig only); the live node
// checks it too.
func TestPullAuth(t *testing.T) {
	st := catalog.Stream{App: "live", Name: "cam"}
	a := newPullNode(t, PlayersConfig{Secrets: []string{"s1"}})
	synthPublish(t, a.players, "live", "cam")
	node := testNode("node_a", a.http.addr)

	signed := catalog.SignToken("s1", catalog.PurposePlay, st, time.Now().Add(time.Hour))
	b := newPullNode(t, PlayersConfig{Upstreams: newLocator("live/cam", node), Self: "node_b", Secrets: []string{"s1"}})
	pl := playFLV(t, b.http.url+"/live/cam.flv?"+signed+"&player=x")
	pl.waitFrames(t, 5)
	_, q := a.http.lastPull()
	got, _ := url.ParseQuery(q)
	want, _ := url.ParseQuery(signed)
	if got.Get("exp") != want.Get("exp") || got.Get("sig") != want.Get("sig") || len(got) != 2 {
		t.Errorf("upstream query %q, want exactly the token %q", q, signed)
	}
	// Unsigned: B refuses it itself, no pull.
	if code, _ := getStatus(t, b.http.url+"/live/other.flv"); code != 403 {
		t.Errorf("unsigned player on a signed node: %d, want 403", code)
	}
	if n := a.http.pulls.Load(); n != 1 {
		t.Errorf("%d pull requests, want 1", n)
	}

	// B open, A signed: the pull carries no token, A refuses, the player
	// is told it is forbidden.
	open := newPullNode(t, PlayersConfig{Upstreams: newLocator("live/cam", node), Self: "node_c"})
	code, body := getStatus(t, open.http.url+"/live/cam.flv")
	if code != 403 || !strings.Contains(body, "refused the play") {
		t.Errorf("unsigned pull from a signed node: %d %s, want 403", code, body)
	}
	if got := open.metric(t, "rewind_origin_pulls_failed_total", "reason", "upstream_forbidden"); got != 1 {
		t.Errorf("failed upstream_forbidden: %v, want 1", got)
	}
}

// A local publish of a stream being pulled wins: the pulled stream ends
// (its players reconnect to the local one) and the upstream is dropped.
func TestPullLocalPublishWins(t *testing.T) {
	a, b, _, _ := pullPair(t, 5*time.Second)
	camB := b.http.url + "/live/cam.flv"
	pulled := playFLV(t, camB)
	pulled.waitFrames(t, 5)

	stopLocal := synthPublish(t, b.players, "live", "cam") // what B's origin does on a publish
	if err := pulled.waitEnded(t, 5*time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("pulled stream after a local publish: %v, want a clean end", err)
	}
	waitFor(t, 5*time.Second, "upstream dropped", func() bool {
		return flvPlayers(a.players) == 0 && b.metric(t, "rewind_origin_pulls_active") == 0
	})
	if got := b.metric(t, "rewind_origin_pulls_ended_total", "reason", "local_publish"); got != 1 {
		t.Errorf("ended local_publish: %v, want 1", got)
	}
	local := playFLV(t, camB)
	checkStartsOnKeyframe(t, local.waitFrames(t, 10))
	if n := a.http.pulls.Load(); n != 1 || b.metric(t, "rewind_origin_pulls_active") != 0 {
		t.Errorf("a player of the local publication pulled (%d requests to A)", n)
	}
	// A pull request to B is answered from its publication now.
	if err := playable(camB, PullHeader, "node_c"); err != nil {
		t.Errorf("pull request for B's own publication: %v", err)
	}

	// The local publication ends: the next player pulls from A again.
	stopLocal()
	if err := local.waitEnded(t, 5*time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("local stream end: %v", err)
	}
	again := playFLV(t, camB)
	again.waitFrames(t, 5)
	if n := a.http.pulls.Load(); n != 2 {
		t.Errorf("%d pull requests after the local publication ended, want 2", n)
	}
}

// Close stops every pull: its players end, the upstream is closed, and no
// new pull starts.
func TestPullShutdown(t *testing.T) {
	a, b, _, _ := pullPair(t, 5*time.Second)
	pl := playFLV(t, b.http.url+"/live/cam.flv")
	pl.waitFrames(t, 5)
	done := make(chan struct{})
	go func() {
		b.players.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := pl.waitEnded(t, 5*time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("player at shutdown: %v, want a clean end", err)
	}
	waitFor(t, 5*time.Second, "upstream closed", func() bool { return flvPlayers(a.players) == 0 })
	if got := b.metric(t, "rewind_origin_pulls_ended_total", "reason", "shutdown"); got != 1 {
		t.Errorf("ended shutdown: %v, want 1", got)
	}
	if code, _ := getStatus(t, b.http.url+"/live/cam.flv"); code != 404 {
		t.Errorf("play after Close: %d, want 404", code)
	}
	if n := a.http.pulls.Load(); n != 1 {
		t.Errorf("%d pull requests, want 1", n)
	}
}

// Without a Locator nothing is pulled: today's behaviour.
func TestPullOff(t *testing.T) {
	a := newPullNode(t, PlayersConfig{})
	synthPublish(t, a.players, "live", "cam")
	b := newPullNode(t, PlayersConfig{})
	if code, _ := getStatus(t, b.http.url+"/live/cam.flv"); code != 404 {
		t.Errorf("no Upstreams: %d, want 404", code)
	}
	if n := a.http.pulls.Load(); n != 0 {
		t.Errorf("%d pull requests without Upstreams", n)
	}
	b.players.Close() // no pulls: a no-op
}
