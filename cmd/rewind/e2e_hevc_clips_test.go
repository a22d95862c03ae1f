//go:build cgo

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/internal/ertmppub"
	"github.com/rewind-vod/rewind/internal/mediatest"
)

// TestHEVCClips: clips, thumbnails and snapshots of an HEVC recording
// (published over enhanced RTMP), as for H.264. A copy clip has the asked
// duration, starts on a keyframe and decodes; an accurate clip (edges
// re-encoded with libx265) has the asked duration within one frame, is
// hevc and holds exactly the recorded frames of the range, every one
// decoding; an accurate HLS clip (edges cut anew, the middle referenced)
// plays in ffmpeg; a thumbnail and the run's snapshots decode as JPEGs of
// the stream's size.
func TestHEVCClips(t *testing.T) {
	t.Parallel()
	mediatest.Require(t)
	frames, err := ertmppub.Encode(context.Background(), ertmppub.Source{Seconds: 8, Size: "640x360"})
	if err != nil {
		t.Fatal(err)
	}
	c := &clipNode{dir: t.TempDir(), fps: 25}
	if err := os.Mkdir(filepath.Join(c.dir, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.n = startNode(t, nil, append(c.args(), "--snapshot-interval", "2s")...)
	c.api = "http://" + c.n.httpAddr
	if err := ertmppub.Publish(context.Background(), c.n.rtmpAddr, "live", "hevc", frames, true); err != nil {
		t.Fatal(err)
	}
	s := catalog.Stream{App: "live", Name: "hevc"}
	st := fsStore(t, filepath.Join(c.dir, "store"))
	run := fetchRun(t, st, s, waitRuns(t, st, s, 1, 30*time.Second)[0])

	check := func(t *testing.T, path string) {
		t.Helper()
		out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_name",
			"-of", "default=nw=1:nk=1", path).Output()
		if err != nil || strings.TrimSpace(string(out)) != "hevc" {
			t.Errorf("clip codec %q %v", out, err)
		}
		if f := mediatest.Frames(t, path, "v"); len(f) == 0 || f[0].KeyFrame != 1 {
			t.Error("clip does not start on a keyframe")
		}
		mediatest.CountFrames(t, path) // decodes without errors
	}
	t.Run("copy", func(t *testing.T) {
		start, end := run.start().Add(2300*time.Millisecond), run.start().Add(5700*time.Millisecond)
		id := c.submit(t, map[string]any{"stream": "live/hevc", "start": rfc(start), "end": rfc(end), "format": "mp4"})
		_, path := c.wait(t, id, time.Minute)
		want := end.Sub(start).Seconds()
		// The start snaps back to a keyframe: at most one GOP (2 s) longer.
		if d := mediatest.Duration(t, path); d < want-0.05 || d > want+2+0.1 {
			t.Errorf("copy clip lasts %.3f s for a %.3f s range", d, want)
		}
		check(t, path)
	})
	rec := recordedFrames(t, run)
	// framesIn counts the recorded frames shown in [start, end).
	framesIn := func(start, end time.Time) int {
		n := 0
		for _, f := range rec {
			if !f.wall.Before(start.Add(-time.Millisecond)) && f.wall.Before(end.Add(-time.Millisecond)) {
				n++
			}
		}
		return n
	}
	frame := time.Second / time.Duration(c.fps)
	t.Run("accurate", func(t *testing.T) {
		start, end := run.start().Add(2300*time.Millisecond), run.start().Add(5700*time.Millisecond)
		id := c.submit(t, map[string]any{"stream": "live/hevc", "start": rfc(start), "end": rfc(end), "format": "mp4", "mode": "accurate"})
		_, path := c.wait(t, id, time.Minute)
		want := end.Sub(start).Seconds()
		if d := mediatest.Duration(t, path); math.Abs(d-want) > frame.Seconds()+0.01 {
			t.Errorf("accurate clip lasts %.3f s for a %.3f s range (one frame is %s)", d, want, frame)
		}
		check(t, path)
		if got, want := mediatest.CountFrames(t, path).Video, framesIn(start, end); got != want {
			t.Errorf("accurate clip decodes to %d frames, the range holds %d", got, want)
		}
	})
	t.Run("accurate hls", func(t *testing.T) {
		start, end := run.start().Add(1300*time.Millisecond), run.start().Add(6500*time.Millisecond)
		id := c.submit(t, map[string]any{"stream": "live/hevc", "start": rfc(start), "end": rfc(end), "format": "hls", "mode": "accurate"})
		c.wait(t, id, time.Minute)
		url := c.api + "/v1/clips/" + id + "/output"
		if out, err := exec.Command("ffmpeg", "-v", "error", "-i", url, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("HLS clip over HTTP: %v\n%s", err, out)
		}
		if got, want := mediatest.CountFrames(t, url).Video, framesIn(start, end); got != want {
			t.Errorf("HLS accurate clip decodes to %d frames, the range holds %d", got, want)
		}
	})
	t.Run("thumbnail", func(t *testing.T) {
		at := run.start().Add(4500 * time.Millisecond)
		for _, q := range []string{"", "&width=160"} {
			resp, err := http.Get(fmt.Sprintf("%s/v1/streams/live/hevc/thumbnail.jpg?at=%s%s", c.api, rfc(at), q))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
				t.Fatalf("thumbnail%s: %d %s", q, resp.StatusCode, body)
			}
			w, h := 640, 360
			if q != "" {
				w, h = 160, 90
			}
			checkJPEG(t, "thumbnail"+q, body, w, h)
		}
	})
	t.Run("snapshots", func(t *testing.T) {
		var list struct {
			Snapshots []struct {
				URL string `json:"url"`
			} `json:"snapshots"`
		}
		base := c.api + "/v1/streams/live/hevc"
		if err := json.Unmarshal([]byte(httpGet(t, base+"/runs/"+run.manifest.Run+"/snapshots")), &list); err != nil {
			t.Fatal(err)
		}
		// 8 s published, a snapshot every 2 s from the segments indexed
		// while live.
		if len(list.Snapshots) < 2 {
			t.Fatalf("%d snapshots of an 8 s publish every 2 s", len(list.Snapshots))
		}
		for _, s := range list.Snapshots {
			checkJPEG(t, s.URL, []byte(httpGet(t, c.api+s.URL)), 640, 360)
		}
	})
	c.n.stop()
}
