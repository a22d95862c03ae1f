package proxy

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// hasVideo reports whether a node plays stream right now: ffprobe reads
// two seconds of it directly from the node. nginx-rtmp keeps a player of
// an unknown stream waiting, so "not there" is ffprobe giving up.
func hasVideo(t *testing.T, node catalog.Node, stream string) bool {
	t.Helper()
	p, err := ffprobe(t, 8*time.Second, "rtmp://"+node.RTMP+"/"+stream, "-rw_timeout", "5000000", "-read_intervals", "%+2")
	if err != nil {
		return false
	}
	for _, s := range p.Streams {
		if s.CodecType == "video" && s.CodecName == "h264" {
			return len(p.Packets) > 0
		}
	}
	return false
}

// TestNginxNodes: two nginx-rtmp servers as origin nodes. ffmpeg publishes
// two streams through the proxy, each landing on the node rendezvous
// hashing picks (checked by playing from each node directly); then ffmpeg
// plays one through the proxy, re-chunked from nginx's encoding, and it
// starts on a keyframe.
func TestNginxNodes(t *testing.T) {
	t.Parallel()
	a, b := startNginx(t, "ngx_a"), startNginx(t, "ngx_b")
	dir := newFixedDir(a, b)
	dir.timeout = time.Hour
	px := startProxy(t, Config{Directory: dir})

	// One stream for each node, as the routing contract places them.
	names := map[string]string{} // node -> stream
	for i := 0; len(names) < 2; i++ {
		s := fmt.Sprintf("app/cam%d", i)
		n := Rank(dir.Nodes(), s)[0].Name
		if _, ok := names[n]; !ok {
			names[n] = s
		}
	}
	nodes := map[string]catalog.Node{"ngx_a": a, "ngx_b": b}
	pubs := map[string]*proc{}
	for _, s := range names {
		pubs[s] = publishLive(t, "rtmp://"+px.rtmpAddr+"/"+s, 12)
	}
	waitFor(t, 10*time.Second, "two publishes routed", func() bool {
		return px.metric(t, "rewind_proxy_routes_total", "kind", kindPublish, "result", resultOK) == 2
	})
	time.Sleep(time.Second) // a keyframe or two at the nodes

	var wg sync.WaitGroup
	for want, s := range names {
		for name, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got := hasVideo(t, n, s); got != (name == want) {
					t.Errorf("%s plays from %s: %v; the proxy should have sent it to %s", s, name, got, want)
				}
			}()
		}
	}
	wg.Wait()

	// Play through the proxy from where the stream is live.
	s := names["ngx_a"]
	dir.setLive(s, "ngx_a")
	file, rp := record(t, "rtmp://"+px.rtmpAddr+"/"+s, 3)
	if err := rp.wait(t); err != nil {
		t.Fatalf("play through the proxy from nginx: %v", err)
	}
	checkStartsOnKeyframe(t, file)
	if n := px.metric(t, "rewind_proxy_routes_total", "kind", kindPlay, "result", resultOK); n != 1 {
		t.Errorf("routes{play,ok} = %v", n)
	}
	for s, p := range pubs {
		if err := p.wait(t); err != nil {
			t.Errorf("publish of %s through the proxy: %v", s, err)
		}
	}
}
