package origin

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
)

func flvServer(t *testing.T, p *Players) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.ServeFLV(w, r) {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// ffmpeg plays a live stream over HTTP-FLV and over RTMP: it decodes and,
// thanks to the GOP cache, starts on a keyframe even when it joins mid-GOP.
func TestLivePlay(t *testing.T) {
	players := NewPlayers(PlayersConfig{}, testLogger(t), nil)
	ts := startServer(t, Config{}, players)
	base := flvServer(t, players)
	pub := ffmpeg(t, ts.url("live/cam"), 12)
	time.Sleep(3 * time.Second) // mid-GOP (2 s GOPs)
	for proto, url := range map[string]string{"http-flv": base + "/live/cam.flv", "rtmp": ts.url("live/cam")} {
		out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-read_intervals", "%+#5",
			"-show_entries", "frame=key_frame", "-of", "csv=p=0", url).Output()
		if err != nil {
			t.Fatalf("%s: ffprobe: %v", proto, err)
		}
		if first := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]; strings.TrimRight(first, ",") != "1" { // "1," when the frame carries side data (x264's SEI)
			t.Errorf("%s: first frame key_frame=%q, want a keyframe first:\n%s", proto, first, out)
		}
		dec, err := exec.Command("ffmpeg", "-v", "error", "-i", url, "-t", "2", "-f", "null", "-").CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(dec))) > 0 {
			t.Errorf("%s: ffmpeg decode of the live stream: %v\n%s", proto, err, dec)
		}
	}
	if err := pub.wait(t); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(base + "/live/cam.flv"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("ended stream: %v %v", err, resp)
	}
	if out, err := exec.Command("ffprobe", "-v", "error", "-rw_timeout", "5000000", ts.url("live/cam")).CombinedOutput(); err == nil {
		t.Errorf("rtmp play of an ended stream succeeded: %s", out)
	}
	for path, want := range map[string]int{"/live/bad.name.flv": 400, "/live/nobody.flv": 404} {
		if resp, err := http.Get(base + path); err != nil || resp.StatusCode != want {
			t.Errorf("%s: %v, want %d", path, resp, want)
		}
	}
}

// A player that stops reading is dropped; the publisher, the other sinks
// and the other players go on untouched.
func TestSlowPlayerDropped(t *testing.T) {
	players := NewPlayers(PlayersConfig{Queue: 64}, testLogger(t), nil)
	rec := newTestSink("rec")
	ts := startServer(t, Config{}, rec, players)
	base := flvServer(t, players)
	pub := ffmpeg(t, ts.url("live/cam"), 6)
	waitFor(t, 5*time.Second, "stream live", func() bool {
		players.mu.Lock()
		defer players.mu.Unlock()
		return players.streams["live/cam"] != nil
	})
	// The stalled player: a tiny receive buffer set before the handshake
	// (so the window stays small), headers read, then nothing.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
		return serr
	}}
	c, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /live/cam.flv HTTP/1.1\r\nHost: x\r\n\r\n")
	if line, _ := bufio.NewReader(c).ReadString('\n'); !strings.Contains(line, "200") {
		t.Fatalf("stalled player: %q", line)
	}
	// A healthy player alongside it.
	good, err := http.Get(base + "/live/cam.flv")
	if err != nil {
		t.Fatal(err)
	}
	goodBytes := make(chan int64, 1)
	go func() {
		var n int64
		buf := make([]byte, 64<<10)
		for {
			k, err := good.Body.Read(buf)
			n += int64(k)
			if err != nil {
				goodBytes <- n
				return
			}
		}
	}()
	if err := pub.wait(t); err != nil {
		t.Fatal(err)
	}
	if pub.duration() > 9*time.Second {
		t.Errorf("a 6 s publish took %v", pub.duration())
	}
	if n := testutil.ToFloat64(players.dropped); n != 1 {
		t.Errorf("%v players dropped, want the stalled one", n)
	}
	if n := <-goodBytes; n < 50<<10 {
		t.Errorf("the healthy player got %d bytes", n)
	}
	runs := rec.runsFor("live", "cam")
	waitFor(t, 5*time.Second, "run closed", func() bool { return rec.runsFor("live", "cam")[0].closed })
	runs = rec.runsFor("live", "cam")
	in := ts.metric(t, "rewind_origin_frames_in_total")
	got := runs[0].frames[media.FrameVideo] + runs[0].frames[media.FrameAudio] + runs[0].frames[media.FrameData]
	if float64(got) != in || got == 0 {
		t.Errorf("the recorder sink got %d frames of %v received", got, in)
	}
}

// With play secrets, both protocols need a signed query (the replay token).
func TestSignedLivePlay(t *testing.T) {
	players := NewPlayers(PlayersConfig{Secrets: []string{"old", "new"}}, testLogger(t), nil)
	ts := startServer(t, Config{}, players)
	base := flvServer(t, players)
	pub := ffmpeg(t, ts.url("live/cam"), 10)
	waitFor(t, 5*time.Second, "stream live", func() bool { return len(ts.srv.Live()) == 1 })
	time.Sleep(time.Second)
	st := catalog.Stream{App: "live", Name: "cam"}
	good := "?" + catalog.SignToken("old", catalog.PurposePlay, st, time.Now().Add(time.Hour))
	bad := map[string]string{
		"unsigned":     "",
		"expired":      "?" + catalog.SignToken("new", catalog.PurposePlay, st, time.Now().Add(-time.Minute)),
		"wrong secret": "?" + catalog.SignToken("guess", catalog.PurposePlay, st, time.Now().Add(time.Hour)),
		"other stream": "?" + catalog.SignToken("new", catalog.PurposePlay, catalog.Stream{App: "live", Name: "other"}, time.Now().Add(time.Hour)),
	}
	probe := func(url string) error {
		return exec.Command("ffprobe", "-v", "error", "-rw_timeout", "5000000", "-read_intervals", "%+#3", "-show_entries", "frame=key_frame", url).Run()
	}
	for proto, url := range map[string]string{"http-flv": base + "/live/cam.flv", "rtmp": ts.url("live/cam")} {
		if err := probe(url + good); err != nil {
			t.Errorf("%s signed: %v", proto, err)
		}
		for what, q := range bad {
			if err := probe(url + q); err == nil {
				t.Errorf("%s %s: played", proto, what)
			}
		}
	}
	if resp, err := http.Get(base + "/live/cam.flv" + bad["expired"]); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("expired http-flv: %v %v", err, resp)
	}
	pub.wait(t)
}
