package proxy

import (
	"slices"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
)

// twoOrigins runs two origin nodes (requiring publishes signed with one
// of secrets, if any), a
// directory that asks the origins themselves where a stream is live, and
// a proxy over them.
func twoOrigins(t *testing.T, secrets ...string) (*testProxy, *fixedDir, map[string]*testOrigin) {
	t.Helper()
	a, b := startOrigin(t, "node_a", secrets...), startOrigin(t, "node_b", secrets...)
	dir := newFixedDir(a.node, b.node)
	dir.timeout = time.Hour
	dir.liveOn["node_a"], dir.liveOn["node_b"] = a.live, b.live
	px := startProxy(t, Config{Directory: dir})
	return px, dir, map[string]*testOrigin{"node_a": a, "node_b": b}
}

// TestOriginPublishPlayAndFLVThroughProxy: ffmpeg publishes (signed)
// through the proxy and lands on the node rendezvous hashing picks; every
// media message arrives, as many as a direct publish of the same file
// brings; ffmpeg plays it back through the proxy over RTMP and HTTP-FLV,
// each starting on a keyframe and decoding cleanly.
func TestOriginPublishPlayAndFLVThroughProxy(t *testing.T) {
	t.Parallel()
	const secret = "s3cret"
	px, dir, nodes := twoOrigins(t, secret)
	st, _ := catalog.NewStream("live", "show1")
	pick := Rank(dir.Nodes(), st.String())[0].Name
	target := nodes[pick]
	var other *testOrigin
	for name, o := range nodes {
		if name != pick {
			other = o
		}
	}

	src := sourceFile(t, 8)
	exp := time.Now().Add(time.Hour)
	pub := publishFile(t, src, "rtmp://"+px.rtmpAddr+"/live/show1?"+catalog.SignToken(secret, catalog.PurposePublish, st, exp))
	// The control: the same file straight to the other node.
	direct, _ := catalog.NewStream("live", "direct")
	ctl := publishFile(t, src, "rtmp://"+other.node.RTMP+"/live/direct?"+catalog.SignToken(secret, catalog.PurposePublish, direct, exp))

	waitFor(t, 10*time.Second, "show1 live on "+pick, func() bool { return slices.Contains(target.live(), st.String()) })
	if slices.Contains(other.live(), st.String()) {
		t.Fatalf("show1 is live on %s too", other.node.Name)
	}

	rtmpFile, rp := record(t, "rtmp://"+px.rtmpAddr+"/live/show1", 3)
	flvFile, fp := record(t, "http://"+px.httpAddr+"/live/show1.flv", 3)
	if err := rp.wait(t); err != nil {
		t.Fatalf("RTMP play through the proxy: %v", err)
	}
	if err := fp.wait(t); err != nil {
		t.Fatalf("HTTP-FLV play through the proxy: %v", err)
	}
	checkStartsOnKeyframe(t, rtmpFile)
	checkStartsOnKeyframe(t, flvFile)

	if err := pub.wait(t); err != nil {
		t.Fatalf("publish through the proxy: %v", err)
	}
	if err := ctl.wait(t); err != nil {
		t.Fatalf("direct publish: %v", err)
	}
	waitFor(t, 10*time.Second, "both publishes ended", func() bool {
		return len(target.live()) == 0 && len(other.live()) == 0
	})
	got, want := target.sink.get(st.String()), other.sink.get(direct.String())
	if got.runs != 1 || want.runs != 1 {
		t.Fatalf("runs: through the proxy %d, direct %d", got.runs, want.runs)
	}
	if v, a := packetCounts(t, src); want.frames[media.FrameVideo] < v || want.frames[media.FrameAudio] < a {
		t.Fatalf("direct publish brought %v, the file has %d video and %d audio packets", want.frames, v, a)
	}
	for _, ft := range []media.FrameType{media.FrameVideo, media.FrameAudio, media.FrameData} {
		if got.frames[ft] != want.frames[ft] {
			t.Errorf("%s messages: %d through the proxy, %d direct", ft, got.frames[ft], want.frames[ft])
		}
	}
	if got.bytes != want.bytes {
		t.Errorf("payload bytes: %d through the proxy, %d direct", got.bytes, want.bytes)
	}
	if other.sink.get(st.String()).runs != 0 {
		t.Errorf("%s got a run of show1", other.node.Name)
	}

	for _, kind := range []string{kindPublish, kindPlay, kindFLV} {
		if n := px.metric(t, "rewind_proxy_routes_total", "kind", kind, "result", resultOK); n != 1 {
			t.Errorf("routes{%s,ok} = %v, want 1", kind, n)
		}
	}
	if n := px.metric(t, "rewind_proxy_bytes_total", "proto", "rtmp", "direction", dirToNode); n < float64(got.bytes) {
		t.Errorf("bytes to node %v, less than the %d payload bytes the node got", n, got.bytes)
	}
	for _, proto := range []string{"rtmp", "flv"} {
		if n := px.metric(t, "rewind_proxy_bytes_total", "proto", proto, "direction", dirToClient); n < 10000 {
			t.Errorf("%s bytes to clients: %v", proto, n)
		}
	}
	if n := px.metric(t, "rewind_proxy_upstream_connect_seconds", "kind", kindPublish); n != 1 {
		t.Errorf("publish connect time observed %v times, want 1", n)
	}
	waitFor(t, 5*time.Second, "no sessions left", func() bool { return px.p.Sessions() == 0 })
}

// TestOriginAuthStaysOnTheOrigin: a publish with a bad signature goes
// through the proxy untouched and the origin refuses it; the good one in
// the test above passed, so the query reached the origin unchanged.
func TestOriginAuthStaysOnTheOrigin(t *testing.T) {
	t.Parallel()
	const secret = "s3cret"
	px, dir, nodes := twoOrigins(t, secret)
	st, _ := catalog.NewStream("live", "forged")
	target := nodes[Rank(dir.Nodes(), st.String())[0].Name]
	src := sourceFile(t, 2)
	exp := time.Now().Add(time.Hour)
	pub := publishFile(t, src, "rtmp://"+px.rtmpAddr+"/live/forged?"+catalog.SignToken("wrong", catalog.PurposePublish, st, exp))
	if err := pub.wait(t); err == nil {
		t.Fatal("a publish with a forged signature succeeded")
	}
	if n := metric(t, target.reg, "rewind_origin_auth_denied_total", "reason", "bad_signature"); n != 1 {
		t.Errorf("origin %s denied %v publishes for a bad signature, want 1", target.node.Name, n)
	}
	if got := target.sink.get(st.String()); got.runs != 0 {
		t.Errorf("the forged publish made %d runs", got.runs)
	}
	// Routed fine: the refusal is the origin's.
	if n := px.metric(t, "rewind_proxy_routes_total", "kind", kindPublish, "result", resultOK); n != 1 {
		t.Errorf("routes{publish,ok} = %v", n)
	}
}
