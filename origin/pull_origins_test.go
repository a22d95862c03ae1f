package origin

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
)

// Two real origin nodes: ffmpeg publishes to A; players ask B, which
// pulls the stream from A once and serves it over HTTP-FLV and RTMP,
// decodable and starting on a keyframe.
func TestPullBetweenOrigins(t *testing.T) {
	const linger = 2 * time.Second
	playersA := NewPlayers(PlayersConfig{}, testLogger(t), nil)
	tsA := startServer(t, Config{Node: "node_a"}, playersA)
	httpA := serveFLVNode(t, playersA)
	loc := newLocator("live/cam", catalog.Node{
		Version: catalog.NodeVersion, Name: "node_a", RTMP: tsA.addr, HTTP: httpA.addr,
		State: catalog.NodeReady, Time: time.Now(),
	})
	regB := prometheus.NewRegistry()
	playersB := NewPlayers(PlayersConfig{Upstreams: loc, Self: "node_b", PullLinger: linger}, testLogger(t), regB)
	t.Cleanup(playersB.Close)
	tsB := startServer(t, Config{Node: "node_b"}, playersB)
	httpB := serveFLVNode(t, playersB)
	nodeB := &pullNode{players: playersB, reg: regB, http: httpB}

	pub := ffmpeg(t, tsA.url("live/cam"), 25)
	waitFor(t, 10*time.Second, "stream live on A", func() bool { return len(tsA.srv.Live()) == 1 })
	time.Sleep(1500 * time.Millisecond) // mid-GOP (2 s GOPs)

	// Two players hold the stream on B while the others come and go.
	holdA := playFLV(t, httpB.url+"/live/cam.flv")
	holdB := playFLV(t, httpB.url+"/live/cam.flv")
	checkStartsOnKeyframe(t, holdA.waitFrames(t, 20))
	checkStartsOnKeyframe(t, holdB.waitFrames(t, 20))
	if n := httpA.pulls.Load(); n != 1 {
		t.Fatalf("two players on B made %d pull requests to A, want 1", n)
	}
	for proto, url := range map[string]string{"http-flv": httpB.url + "/live/cam.flv", "rtmp": tsB.url("live/cam")} {
		out, err := exec.Command("ffprobe", "-v", "error", "-rw_timeout", "10000000", "-select_streams", "v", "-read_intervals", "%+#5",
			"-show_entries", "frame=key_frame", "-of", "csv=p=0", url).Output()
		if err != nil {
			t.Fatalf("%s from B: ffprobe: %v", proto, err)
		}
		// "1" and then, for the stream's very first frame, its side data.
		first := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
		if key, _, _ := strings.Cut(first, ","); key != "1" {
			t.Errorf("%s from B: first frame key_frame=%q, want a keyframe first:\n%s", proto, first, out)
		}
		dec, err := exec.Command("ffmpeg", "-v", "error", "-rw_timeout", "10000000", "-i", url, "-t", "2", "-f", "null", "-").CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(dec))) > 0 {
			t.Errorf("%s from B: ffmpeg decode: %v\n%s", proto, err, dec)
		}
	}
	if n := httpA.pulls.Load(); n != 1 {
		t.Errorf("B's players made %d pull requests to A, want 1", n)
	}
	if got := flvPlayers(playersA); got != 1 {
		t.Errorf("A serves %v HTTP-FLV sessions, want B's one pull", got)
	}
	// B's pulled stream is not served to other nodes' pulls.
	if code, body := getStatus(t, httpB.url+"/live/cam.flv", PullHeader, "node_c"); code != 404 {
		t.Errorf("pull request to B: %d %s, want 404", code, body)
	}

	// The holders leave: after the linger B drops the upstream.
	holdA.close()
	holdB.close()
	waitFor(t, linger+10*time.Second, "upstream closed", func() bool {
		return nodeB.metric(t, "rewind_origin_pulls_active") == 0 && flvPlayers(playersA) == 0
	})
	if got := nodeB.metric(t, "rewind_origin_pulls_ended_total", "reason", "idle"); got != 1 {
		t.Errorf("pulls ended idle: %v, want 1", got)
	}
	if len(tsA.srv.Live()) != 1 {
		t.Errorf("A's publish was disturbed: %v", tsA.srv.Live())
	}
	if len(tsB.srv.Live()) != 0 {
		t.Errorf("B counts a pulled stream as a publication: %v", tsB.srv.Live())
	}
	// An RTMP player on B starts a pull of its own.
	out, err := exec.Command("ffprobe", "-v", "error", "-rw_timeout", "10000000", "-select_streams", "v", "-read_intervals", "%+#3",
		"-show_entries", "frame=key_frame", "-of", "csv=p=0", tsB.url("live/cam")).Output()
	if err != nil || !strings.HasPrefix(string(out), "1") {
		t.Errorf("rtmp from B starting the pull: %v\n%s", err, out)
	}
	if n := httpA.pulls.Load(); n != 2 {
		t.Errorf("%d pull requests to A, want 2 (one before the linger ran out, one after)", n)
	}
	tsA.srv.Kick("live", "cam")
	pub.wait(t) // kicked: ffmpeg reports the lost connection
}
