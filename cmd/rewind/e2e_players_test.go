//go:build cgo

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/browsertest"
	"github.com/rewind-vod/rewind/internal/mediatest"
)

// Players other than hls.js play what rewind serves from real recordings:
// Shaka Player and video.js (its VHS engine) in Debian's Chromium play a
// run's playlist, a window across a publisher reconnect (two runs, a
// discontinuity between them), a copy HLS clip across that reconnect and an
// accurate HLS clip (its own edges around referenced source segments), each
// from the start to `ended`, with no player error and the duration the
// playlist lists; GStreamer's hlsdemux fetches and decodes each to the end
// (gst-launch exits 0) and hands on every frame listed.
// REWIND_PLAYER=shaka|videojs|gstreamer runs one of them.
func TestOtherPlayers(t *testing.T) {
	t.Parallel()
	nm := browsertest.NodeModules(t, "shaka-player", "video.js")
	requireGStreamer(t, "souphttpsrc", "hlsdemux", "tsdemux", "h264parse", "avdec_h264")
	c := newClipNode(t)
	r1, r2 := c.runs[0], c.runs[1]
	copyClip := c.submit(t, map[string]any{"stream": "live/cam", "start": rfc(r1.start().Add(time.Second)),
		"end": rfc(r2.end().Add(-time.Second)), "format": "hls"})
	accurate := c.submit(t, map[string]any{"stream": "live/cam", "start": rfc(r1.start().Add(1500 * time.Millisecond)),
		"end": rfc(r1.end().Add(-1500 * time.Millisecond)), "format": "hls", "mode": "accurate"})
	c.wait(t, copyClip, time.Minute)
	c.wait(t, accurate, 2*time.Minute)

	plays := []struct{ name, path string }{
		{"run", "/hls/live/cam/runs/" + r1.manifest.Run + "/index.m3u8"},
		{"window across a reconnect", fmt.Sprintf("/hls/live/cam/index.m3u8?start=%d&end=%d", r1.start().Unix()+3, r2.end().Unix()-3)},
		{"copy HLS clip across a reconnect", "/v1/clips/" + copyClip + "/output"},
		{"accurate HLS clip", "/v1/clips/" + accurate + "/output"},
	}
	urls := make([]string, len(plays))
	listed := make([]float64, len(plays))
	for i, p := range plays {
		urls[i] = c.api + p.path
		listed[i] = extinfSum(t, waitEndlist(t, urls[i]))
	}
	players := []string{"shaka", "videojs", "gstreamer"}
	if p := os.Getenv("REWIND_PLAYER"); p != "" {
		players = []string{p}
	}
	type play struct {
		MaxTime  float64      `json:"maxTime"`
		Duration float64      `json:"duration"`
		Ended    int          `json:"ended"`
		Waiting  int          `json:"waiting"`
		Errors   []string     `json:"errors"`
		Console  []string     `json:"console"`
		Buffered [][2]float64 `json:"buffered"`
	}
	var wg sync.WaitGroup
	for _, player := range players {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if player == "gstreamer" {
				for i, u := range urls {
					gstPlay(t, plays[i].name, u, listed[i], c.fps)
				}
				return
			}
			// Twice real time: each playlist is still fetched, demuxed and
			// played whole.
			cmd := browsertest.Command(nm, "testdata/players.cjs", append([]string{player, c.api, nm, "2", "60000"}, urls...)...)
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("%s: browser: %v\n%s", player, err, out)
				return
			}
			var res struct {
				Plays  []play   `json:"plays"`
				Errors []string `json:"errors"`
			}
			if err := json.Unmarshal(out, &res); err != nil || len(res.Errors) > 0 || len(res.Plays) != len(plays) {
				t.Errorf("%s: browser output %q: %v", player, out, err)
				return
			}
			for i, got := range res.Plays {
				t.Logf("%s, %s: played to %.3fs of %.3fs (listed %.3fs), ended %d, waiting %d", player, plays[i].name,
					got.MaxTime, got.Duration, listed[i], got.Ended, got.Waiting)
				if got.Ended != 1 || len(got.Errors) > 0 || math.Abs(got.Duration-listed[i]) > 0.35 || got.MaxTime < listed[i]-0.3 {
					t.Errorf("%s, %s: played to %.3fs of %.3fs, listed %.3fs; ended %d; errors %v; buffered %v; console %s",
						player, plays[i].name, got.MaxTime, got.Duration, listed[i], got.Ended, got.Errors, got.Buffered,
						strings.Join(got.Console, " | "))
				}
			}
		}()
	}
	wg.Wait()
}

// gstPlay plays url with GStreamer's HLS demuxer, decoding the video to
// the end, and checks the demuxer handed on the frames of the listed
// duration (the TS it passed on is kept and counted).
func gstPlay(t *testing.T, name, url string, listed, fps float64) {
	ts := filepath.Join(t.TempDir(), "gst.ts")
	out, err := exec.Command("gst-launch-1.0", "-q", "souphttpsrc", "location="+url, "!", "hlsdemux", "!", "tee", "name=t",
		"!", "queue", "!", "filesink", "location="+ts,
		"t.", "!", "queue", "!", "tsdemux", "!", "h264parse", "!", "avdec_h264", "!", "fakesink").CombinedOutput()
	if err != nil {
		t.Errorf("gstreamer, %s: %v\n%s", name, err, out)
		return
	}
	frames := mediatest.CountFrames(t, ts).Video
	t.Logf("gstreamer, %s: %d video frames (listed %.3fs)", name, frames, listed)
	if want := listed * fps; math.Abs(float64(frames)-want) > 5 {
		t.Errorf("gstreamer, %s: %d video frames, want %.0f", name, frames, want)
	}
}

// waitEndlist polls a playlist until it has ENDLIST: a window that ends
// just now stays an EVENT playlist while a run from another node could
// still show up in it (arrivalSlack), and players start live playlists at
// their live edge.
func waitEndlist(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m3u8 := httpGet(t, url)
		if strings.Contains(m3u8, "#EXT-X-ENDLIST") {
			return m3u8
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never got ENDLIST:\n%s", url, m3u8)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// extinfSum is the media duration a playlist lists.
func extinfSum(t *testing.T, m3u8 string) float64 {
	t.Helper()
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(m3u8))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "#EXTINF:"); ok {
			d, err := strconv.ParseFloat(strings.TrimSuffix(strings.SplitN(v, ",", 2)[0], ","), 64)
			if err != nil {
				t.Fatalf("playlist line %q: %v", sc.Text(), err)
			}
			sum += d
		}
	}
	if sum == 0 {
		t.Fatalf("no segments in\n%s", m3u8)
	}
	return sum
}
