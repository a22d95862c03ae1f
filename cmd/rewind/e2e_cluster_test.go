package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/s3test"
	"github.com/rewind-vod/rewind/internal/testproc"
	"github.com/rewind-vod/rewind/proxy"
)

// Timings of the test clusters: short, so that failover shows in seconds.
const (
	clusterNodeTimeout = 3 * time.Second
	clusterBeat        = "500ms"
	clusterRefresh     = "500ms"
)

// cluster is origin nodes and proxies on loopback ports sharing one S3
// store (versitygw), and a registry reader of the test's own.
type cluster struct {
	t       *testing.T
	srv     *s3test.Server
	url     string // --store of every process
	st      store.Store
	dir     *catalog.Directory
	nodes   map[string]*proc
	proxies []*proc
}

func startCluster(t *testing.T, nodes, proxies int) *cluster {
	t.Helper()
	srv := s3test.Start(t)
	prefix := "t-" + testproc.RandHex(6) + "/"
	c := &cluster{t: t, srv: srv, url: srv.URL(prefix), st: srv.StoreAt(t, prefix), nodes: map[string]*proc{}}
	dir, err := catalog.NewDirectory(c.st, catalog.DirectoryConfig{Timeout: clusterNodeTimeout, Refresh: 500 * time.Millisecond},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { dir.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	c.dir = dir
	for i := range nodes {
		c.startOrigin("node" + string(rune('a'+i)))
	}
	for range proxies {
		c.startProxy()
	}
	c.waitNodes(nodes)
	return c
}

func (c *cluster) storeArgs() []string {
	return []string{"--store", c.url, "--s3-path-style"}
}

func (c *cluster) startOrigin(name string, extra ...string) *proc {
	c.t.Helper()
	args := append(c.storeArgs(), "--node", name, "--spool", filepath.Join(c.t.TempDir(), "spool"),
		"--segment-duration", "2s", "--heartbeat-interval", clusterBeat)
	n := startRole(c.t, "origin", c.srv.Env(), append(args, extra...)...)
	c.nodes[name] = n
	return n
}

func (c *cluster) startProxy() *proc {
	c.t.Helper()
	p := startRole(c.t, "proxy", c.srv.Env(), append(c.storeArgs(),
		"--node-timeout", clusterNodeTimeout.String(), "--registry-refresh", clusterRefresh)...)
	c.proxies = append(c.proxies, p)
	return p
}

// waitNodes waits until the registry lists n alive nodes.
func (c *cluster) waitNodes(n int) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.dir.Nodes()) != n {
		if time.Now().After(deadline) {
			c.t.Fatalf("registry lists %d nodes, want %d", len(c.dir.Nodes()), n)
		}
		c.dir.Refresh(context.Background())
		time.Sleep(100 * time.Millisecond)
	}
}

// liveOn waits until stream is live on a node other than not, and says which.
func (c *cluster) liveOn(stream, not string, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if n, ok := c.dir.Live(context.Background(), stream); ok && n.Name != not {
			return n.Name
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not live on a node other than %q within %s", stream, not, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// firstKeyframe checks that a player of url decodes it from a keyframe.
func firstKeyframe(t *testing.T, what, url string) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-rw_timeout", "8000000", "-select_streams", "v", "-read_intervals", "%+#3",
		"-show_entries", "frame=key_frame", "-of", "csv=p=0", url).Output()
	// ffprobe 5.1 may end a csv row with a separator for side data.
	if first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); err != nil || strings.TrimRight(first, ",") != "1" {
		t.Errorf("%s (%s): %v, first frame key_frame=%q", what, url, err, first)
	}
}

func runNode(run string) string {
	id, err := catalog.ParseRunID(run)
	if err != nil {
		return "?"
	}
	return id.Node
}

// A publish through proxy A lands on the node rendezvous hashing picks;
// it plays over RTMP and HTTP-FLV through proxy B, and from a node that
// does not hold it (which pulls it from the one that does), each from a
// keyframe; the recording holds every published frame.
func TestClusterThroughProxies(t *testing.T) {
	t.Parallel()
	src, want := source(t, 14)
	c := startCluster(t, 3, 2)
	pa, pb := c.proxies[0], c.proxies[1]
	wantNode := proxy.Rank(c.dir.Nodes(), "live/cam")[0].Name

	pub := publish(t, src, pa.url("live/cam"))
	start := time.Now()
	node := c.liveOn("live/cam", "", 5*time.Second)
	t.Logf("live on %s %s after the publish started", node, time.Since(start).Round(time.Millisecond))
	if node != wantNode {
		t.Errorf("publish landed on %s, rendezvous picks %s", node, wantNode)
	}
	firstKeyframe(t, "RTMP play through proxy B", pb.url("live/cam"))
	firstKeyframe(t, "HTTP-FLV through proxy B", "http://"+pb.httpAddr+"/live/cam.flv")
	for name, n := range c.nodes {
		if name != node { // node-to-node pull
			firstKeyframe(t, "HTTP-FLV from "+name+", pulling from "+node, "http://"+n.httpAddr+"/live/cam.flv")
			firstKeyframe(t, "RTMP play from "+name+", pulling from "+node, n.url("live/cam"))
			break
		}
	}
	if err := pub.wait(t); err != nil {
		t.Fatal(err)
	}
	runs := waitRuns(t, c.st, camStream, 1, 20*time.Second)
	if len(runs) != 1 || runNode(runs[0]) != node {
		t.Fatalf("runs %v, want one on %s", runs, node)
	}
	if got := checkRun(t, fetchRun(t, c.st, camStream, runs[0])); got != want {
		t.Errorf("recorded through the proxy %+v, published %+v", got, want)
	}
}

// kill -9 of the proxy a publisher went through: the publisher comes back
// through the other proxy and lands on the same node.
func TestClusterProxyKill(t *testing.T) {
	t.Parallel()
	src, _ := source(t, 30)
	c := startCluster(t, 3, 2)
	pa, pb := c.proxies[0], c.proxies[1]
	pub := publish(t, src, pa.url("live/cam"))
	node := c.liveOn("live/cam", "", 5*time.Second)
	time.Sleep(3 * time.Second)
	pa.kill()
	select {
	case <-pub.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the publisher did not notice its proxy died")
	}
	short, _ := source(t, 6)
	again := publish(t, short, pb.url("live/cam"))
	if err := again.wait(t); err != nil {
		t.Fatal(err)
	}
	runs := waitRuns(t, c.st, camStream, 2, 30*time.Second)
	for _, r := range runs {
		if runNode(r) != node {
			t.Errorf("run %s is not on %s, where the stream was before the proxy died", r, node)
		}
	}
}

// kill -9 of the node a stream is live on: the publisher's comeback
// through a proxy lands on another node within the dead-node timeout; the
// recording joins both runs with one discontinuity and its replay decodes.
func TestClusterNodeKill(t *testing.T) {
	t.Parallel()
	src, _ := source(t, 40)
	c := startCluster(t, 3, 1)
	px := c.proxies[0]
	api := &proc{t: t, env: c.srv.Env(), httpAddr: freeAddr(t)}
	api.args = append([]string{"vodapi", "--http-addr", api.httpAddr, "--segment-duration", "2s", "--reconnect-window", "30s"}, c.storeArgs()...)
	api.start()
	t.Cleanup(api.kill)

	pub := publish(t, src, px.url("live/cam"))
	first := c.liveOn("live/cam", "", 5*time.Second)
	time.Sleep(7 * time.Second) // a few segments stored
	c.nodes[first].kill()
	select {
	case <-pub.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the publisher did not notice its node died")
	}
	back := time.Now()
	short, _ := source(t, 8)
	again := publish(t, short, px.url("live/cam"))
	second := c.liveOn("live/cam", first, clusterNodeTimeout+3*time.Second)
	t.Logf("republished on %s %s after the comeback (node timeout %s)", second, time.Since(back).Round(time.Millisecond), clusterNodeTimeout)
	if err := again.wait(t); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, c.st, camStream, 1, 20*time.Second) // the second, ended

	var list struct {
		Recordings []struct {
			ID       string   `json:"id"`
			Runs     []string `json:"runs"`
			Playlist string   `json:"playlist_url"`
		} `json:"recordings"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+api.httpAddr+"/v1/streams/live/cam/recordings")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Recordings) != 1 || len(list.Recordings[0].Runs) != 2 {
		t.Fatalf("want one recording of two runs, got %+v", list.Recordings)
	}
	rec := list.Recordings[0]
	if runNode(rec.Runs[0]) != first || runNode(rec.Runs[1]) != second {
		t.Errorf("runs %v, want one on %s then one on %s", rec.Runs, first, second)
	}
	body := httpGet(t, "http://"+api.httpAddr+rec.Playlist)
	if n := strings.Count(body, "#EXT-X-DISCONTINUITY\n"); n != 1 {
		t.Errorf("%d discontinuities in the recording, want 1:\n%s", n, body)
	}
	// The dead node's run stays open (its spool may still come back), so
	// the playlist has no ENDLIST yet: replay what it holds now.
	replay := filepath.Join(t.TempDir(), "replay.m3u8")
	base := "http://" + api.httpAddr + rec.Playlist[:strings.LastIndex(rec.Playlist, "/")+1]
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") && !strings.Contains(l, "://") {
			if strings.HasPrefix(l, "/") {
				l = "http://" + api.httpAddr + l
			} else {
				l = base + l
			}
		}
		lines = append(lines, l)
	}
	if !strings.Contains(body, "#EXT-X-ENDLIST") {
		lines = append(lines, "#EXT-X-ENDLIST")
	}
	os.WriteFile(replay, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	out, err := exec.Command("ffmpeg", "-v", "error", "-protocol_whitelist", "file,http,tcp", "-i", replay, "-f", "null", "-").CombinedOutput()
	// ffmpeg 5.1's HLS demuxer does not reset timestamps at a
	// DISCONTINUITY, so the null muxer notes the second run's restart;
	// anything else it prints is a decoding problem.
	var problems []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.Contains(l, "non monotonically increasing dts to muxer") {
			problems = append(problems, l)
		}
	}
	if err != nil || len(problems) > 0 {
		t.Errorf("replay of both runs: %v\n%s\nplaylist:\n%s", err, strings.Join(problems, "\n"), body)
	}
}

// A draining node takes no new publishes; the streams live on it go on
// until the drain ends.
func TestClusterDrainingNode(t *testing.T) {
	t.Parallel()
	long, _ := source(t, 30)
	c := startCluster(t, 2, 1)
	px := c.proxies[0]
	names := map[string]string{} // node -> a stream rendezvous sends to it
	for i := 0; len(names) < 2 && i < 100; i++ {
		s := "live/s" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if n := proxy.Rank(c.dir.Nodes(), s)[0].Name; names[n] == "" {
			names[n] = s
		}
	}
	if len(names) < 2 {
		t.Fatalf("no stream names spread over both nodes: %v", names)
	}
	drained := "nodea"
	onDrained := names[drained]
	pub := publish(t, long, px.url(onDrained))
	if n := c.liveOn(onDrained, "", 5*time.Second); n != drained {
		t.Fatalf("%s live on %s, want %s", onDrained, n, drained)
	}
	node := c.nodes[drained]
	node.cmd.Process.Signal(syscall.SIGTERM) // drain: publishers may go on for --drain-timeout (30s)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.dir.Refresh(context.Background())
		ns := c.dir.Nodes()
		if len(ns) == 2 && ns[0].Name == drained && ns[0].State == catalog.NodeDraining {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not draining in the registry: %+v", drained, ns)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Another stream that rendezvous would give the drained node now goes
	// to the other one.
	var other string
	for i := 0; other == "" && i < 200; i++ {
		s := "live/n" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		ready := []catalog.Node{}
		for _, n := range c.dir.Nodes() {
			n.State = catalog.NodeReady
			ready = append(ready, n)
		}
		if proxy.Rank(ready, s)[0].Name == drained && s != onDrained {
			other = s
		}
	}
	short, _ := source(t, 5)
	p2 := publish(t, short, px.url(other))
	if n := c.liveOn(other, "", 5*time.Second); n == drained {
		t.Errorf("%s went to the draining node", other)
	}
	if err := p2.wait(t); err != nil {
		t.Error(err)
	}
	// The drained node's stream is still live and plays through the proxy.
	if n, ok := c.dir.Live(context.Background(), onDrained); !ok || n.Name != drained {
		t.Errorf("%s no longer live on the draining node: %v %v", onDrained, n.Name, ok)
	}
	firstKeyframe(t, "play from the draining node through the proxy", px.url(onDrained))
	pub.cmd.Process.Kill()
}

// SIGTERM drains a proxy: /readyz fails at once (the balancer stops
// sending it connections), the relayed publish goes on until
// --drain-timeout, then the proxy exits 0. A connection that still arrives
// meanwhile is routed as any proxy would route it.
func TestProxyDrainOnSIGTERM(t *testing.T) {
	t.Parallel()
	src, _ := source(t, 30)
	c := startCluster(t, 1, 0)
	px := startRole(t, "proxy", c.srv.Env(), append(c.storeArgs(),
		"--node-timeout", clusterNodeTimeout.String(), "--registry-refresh", clusterRefresh, "--drain-timeout", "4s")...)
	pub := publish(t, src, px.url("live/cam"))
	c.liveOn("live/cam", "", 5*time.Second)
	px.cmd.Process.Signal(syscall.SIGTERM)
	termAt := time.Now()
	deadline := time.Now().Add(2 * time.Second)
	for {
		resp, err := http.Get("http://" + px.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still answers %v %v after SIGTERM", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-pub.done:
		t.Errorf("the relayed publish ended %s after SIGTERM, before the drain timeout", time.Since(termAt).Round(time.Millisecond))
	default:
	}
	short, _ := source(t, 1)
	late := publish(t, short, px.url("live/late"))
	if n := c.liveOn("live/late", "", 3*time.Second); n != "nodea" {
		t.Errorf("a late publish through the draining proxy landed on %q", n)
	}
	late.wait(t)
	select {
	case <-px.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("the proxy did not exit after its drain timeout")
	}
	if took := time.Since(termAt); took < 3*time.Second {
		t.Errorf("the proxy exited %s after SIGTERM, before its 4s drain timeout", took)
	}
	if code := px.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("proxy exited %d", code)
	}
}
