package proxy

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
)

// TestBadInput: what a proxy must survive, each refused clearly, quickly
// and counted, with the proxy serving on (a real origin behind it).
func TestBadInput(t *testing.T) {
	t.Parallel()
	o := startOrigin(t, "node_a")
	dir := newFixedDir(o.node)
	dir.timeout = time.Hour
	dir.liveOn["node_a"] = o.live
	px := startProxy(t, Config{Directory: dir, SetupTimeout: time.Second})

	rejected := func(reason string) float64 {
		return px.metric(t, "rewind_proxy_rejected_total", "reason", reason)
	}
	routes := func(kind, result string) float64 {
		return px.metric(t, "rewind_proxy_routes_total", "kind", kind, "result", result)
	}

	t.Run("garbage", func(t *testing.T) {
		c, err := net.Dial("tcp", px.rtmpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		if d := expectClosed(t, c, 2*time.Second); d > 500*time.Millisecond {
			t.Errorf("garbage took %s to be refused", d)
		}
		waitFor(t, 2*time.Second, "the refusal counted", func() bool { return rejected(rejectHandshake) == 1 })
	})

	t.Run("oversized chunk", func(t *testing.T) {
		rc := dialRaw(t, px.rtmpAddr)
		rc.c.Write(append(chunkHeader(10<<20, typeVideo), make([]byte, 100)...))
		if d := expectClosed(t, rc.c, 2*time.Second); d > 500*time.Millisecond {
			t.Errorf("an oversized chunk took %s to be refused", d)
		}
		waitFor(t, 2*time.Second, "the refusal counted", func() bool { return rejected(rejectTooLarge) == 1 })
	})

	t.Run("malformed chunk", func(t *testing.T) {
		rc := dialRaw(t, px.rtmpAddr)
		rc.c.Write([]byte{0xC7, 1, 2, 3, 4}) // fmt 3 continuing nothing
		expectClosed(t, rc.c, 2*time.Second)
		waitFor(t, 2*time.Second, "the refusal counted", func() bool { return rejected(rejectMalformed) == 1 })
	})

	t.Run("silent client", func(t *testing.T) {
		rc := dialRaw(t, px.rtmpAddr)
		if d := expectClosed(t, rc.c, 3*time.Second); d < 800*time.Millisecond {
			t.Errorf("dropped after %s, before the setup timeout", d)
		}
		waitFor(t, 2*time.Second, "the timeout counted", func() bool { return rejected(rejectTimeout) == 1 })
	})

	t.Run("bad name", func(t *testing.T) {
		for i, c := range []struct{ app, name string }{
			{"live", "bad.name?sig=1"},
			{"live/../x", "name"},
			{"live", strings.Repeat("n", 65)},
		} {
			rc := dialRaw(t, px.rtmpAddr)
			id := rc.connect(c.app)
			rc.send(id, "publish", nil, c.name, "live")
			code, desc := rc.await("onStatus").statusCode()
			if code != codePublishBadName || !strings.Contains(desc, catalog.ErrInvalidStream.Error()) {
				t.Errorf("publish %s/%s: %s %q", c.app, c.name, code, desc)
			}
			expectClosed(t, rc.c, 2*time.Second)
			if n := routes(kindPublish, resultBadName); n != float64(i+1) {
				t.Errorf("routes{publish,bad_name} = %v, want %d", n, i+1)
			}
		}
		rc := dialRaw(t, px.rtmpAddr)
		rc.send(0, "connect", []media.AMF0Prop{{Key: "app", Val: "live"}})
		rc.await("_result")
		rc.send(1, "play", nil, "no spaces allowed")
		if code, _ := rc.await("onStatus").statusCode(); code != codePlayFailed {
			t.Errorf("play of a bad name: %s", code)
		}
		if n := routes(kindPlay, resultBadName); n != 1 {
			t.Errorf("routes{play,bad_name} = %v", n)
		}
	})

	t.Run("ffmpeg bad name", func(t *testing.T) {
		src := sourceFile(t, 1)
		before := routes(kindPublish, resultBadName)
		start := time.Now()
		if err := publishFile(t, src, "rtmp://"+px.rtmpAddr+"/live/b@d").wait(t); err == nil {
			t.Fatal("ffmpeg published a bad name")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("refusal took %s", d)
		}
		if n := routes(kindPublish, resultBadName); n != before+1 {
			t.Errorf("routes{publish,bad_name} went %v -> %v", before, n)
		}
	})

	t.Run("unknown stream", func(t *testing.T) {
		rc := dialRaw(t, px.rtmpAddr)
		id := rc.connect("live")
		start := time.Now()
		rc.send(id, "play", nil, "nobody")
		code, desc := rc.await("onStatus").statusCode()
		if code != codePlayNotFound || !strings.Contains(desc, "live/nobody") {
			t.Errorf("play of an unknown stream: %s %q", code, desc)
		}
		expectClosed(t, rc.c, 2*time.Second)
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("not found took %s", d)
		}
		if n := routes(kindPlay, resultNotFound); n != 1 {
			t.Errorf("routes{play,not_found} = %v", n)
		}
		// ffprobe gives up at once rather than waiting.
		start = time.Now()
		if _, err := ffprobe(t, 10*time.Second, "rtmp://"+px.rtmpAddr+"/live/nobody"); err == nil {
			t.Error("ffprobe read an unknown stream")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("ffprobe took %s to hear not found", d)
		}
	})

	t.Run("http", func(t *testing.T) {
		for _, c := range []struct {
			path   string
			status int
			code   string
		}{
			{"/live/nobody.flv", http.StatusNotFound, "not_live"},
			{"/live/bad.name.flv", http.StatusBadRequest, "bad_stream"},
			{"/live/x.mp4", http.StatusNotFound, "not_found"},
			{"/a/b/c.flv", http.StatusNotFound, "not_found"},
			{"/healthz", http.StatusOK, ""},
			{"/readyz", http.StatusOK, ""},
		} {
			start := time.Now()
			resp, err := http.Get("http://" + px.httpAddr + c.path)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]string
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != c.status || err != nil || body["code"] != c.code || (c.code != "" && body["error"] == "") {
				t.Errorf("GET %s: %d %v (%v), want %d %s", c.path, resp.StatusCode, body, err, c.status, c.code)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("GET %s took %s", c.path, d)
			}
		}
		if routes(kindFLV, resultNotFound) != 1 || routes(kindFLV, resultBadName) != 1 {
			t.Errorf("flv routes: not_found %v, bad_name %v", routes(kindFLV, resultNotFound), routes(kindFLV, resultBadName))
		}
	})

	// After all that, the proxy still routes a publish.
	rc := dialRaw(t, px.rtmpAddr)
	id := rc.connect("live")
	rc.send(id, "publish", nil, "after", "live")
	if code, _ := rc.await("onStatus").statusCode(); code != "NetStream.Publish.Start" {
		t.Fatalf("publish after the bad input: %s", code)
	}
}

// TestNoReadyNode: with only a draining and a full node, a publish is
// refused with a status that says why; /readyz still answers 200 (nodes
// are alive), and 503 once the proxy drains.
func TestNoReadyNode(t *testing.T) {
	t.Parallel()
	draining := nodeDoc("drained", "127.0.0.1:1", "")
	draining.State = catalog.NodeDraining
	full := nodeDoc("full", "127.0.0.1:2", "")
	full.Load = catalog.NodeLoad{Publishers: 10, MaxPublishers: 10}
	dir := newFixedDir(draining, full)
	dir.timeout = time.Hour
	px := startProxy(t, Config{Directory: dir})
	rc := dialRaw(t, px.rtmpAddr)
	id := rc.connect("live")
	rc.send(id, "publish", nil, "cam", "live")
	code, desc := rc.await("onStatus").statusCode()
	if code != codePublishFailed || !strings.Contains(desc, "no ready origin node") {
		t.Errorf("publish with no ready node: %s %q", code, desc)
	}
	expectClosed(t, rc.c, 2*time.Second)
	if n := px.metric(t, "rewind_proxy_routes_total", "kind", kindPublish, "result", resultNoNode); n != 1 {
		t.Errorf("routes{publish,no_node} = %v", n)
	}

	readyz := func() int {
		resp, err := http.Get("http://" + px.httpAddr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := readyz(); s != http.StatusOK {
		t.Errorf("readyz with alive nodes: %d", s)
	}
	px.p.Drain()
	if s := readyz(); s != http.StatusServiceUnavailable {
		t.Errorf("readyz while draining: %d", s)
	}
	// Draining serves what still arrives.
	rc = dialRaw(t, px.rtmpAddr)
	rc.connect("live")

	empty := startProxy(t, Config{Directory: newFixedDir()})
	resp, err := http.Get("http://" + empty.httpAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz with no node: %d", resp.StatusCode)
	}
}

// TestMaxConns: connections past MaxConns are closed at accept, counted.
func TestMaxConns(t *testing.T) {
	t.Parallel()
	px := startProxy(t, Config{Directory: newFixedDir(), MaxConns: 2})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", px.rtmpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitFor(t, 2*time.Second, "two connections tracked", func() bool {
		return px.metric(t, "rewind_proxy_connections") == 2
	})
	c, err := net.Dial("tcp", px.rtmpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expectClosed(t, c, 2*time.Second)
	if n := px.metric(t, "rewind_proxy_rejected_total", "reason", rejectMaxConns); n != 1 {
		t.Errorf("rejected{max_conns} = %v", n)
	}
	// The held ones still get an answer.
	held[0].Write([]byte{3})
	held[0].Write(make([]byte, 1536))
	held[0].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(held[0], make([]byte, 3073)); err != nil {
		t.Errorf("a connection within the limit got no handshake: %v", err)
	}
}
