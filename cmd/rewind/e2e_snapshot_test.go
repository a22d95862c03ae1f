package main

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/mediatest"
)

// Live snapshots in `rewind dev`: while an ffmpeg publish is live, JPEGs of
// the stream's size appear on the interval, the latest one is served, and
// the run lists them.
func TestLiveSnapshots(t *testing.T) {
	t.Parallel()
	mediatest.Require(t)
	src := mediatest.WriteFLV(t, t.TempDir(), "src", mediatest.Source{Seconds: 18, Size: "640x360"})
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--snapshot-interval", "4s")
	p := publish(t, src, n.url("live/cam"))
	base := "http://" + n.httpAddr + "/v1/streams/live/cam"

	// The latest snapshot shows up while the stream is live.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/snapshots/latest.jpg")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			checkJPEG(t, "latest", body, 640, 360)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no latest snapshot while live: %d %s", resp.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}
	st := fsStore(t, filepath.Join(dir, "store"))
	runs := waitRuns(t, st, camStream, 1, 20*time.Second)

	var list struct {
		Snapshots []struct {
			Time time.Time `json:"time"`
			URL  string    `json:"url"`
		} `json:"snapshots"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, base+"/runs/"+runs[0]+"/snapshots")), &list); err != nil {
		t.Fatal(err)
	}
	// 18 s of 2 s segments, a snapshot at least 4 s after the last one, from
	// segments indexed while live: 0, 4, 8 and 12 s at most, 3 at least.
	if len(list.Snapshots) < 3 {
		t.Fatalf("%d snapshots of an 18 s publish every 4 s: %+v", len(list.Snapshots), list.Snapshots)
	}
	for i, s := range list.Snapshots {
		if i > 0 {
			if gap := s.Time.Sub(list.Snapshots[i-1].Time); gap < 3900*time.Millisecond || gap > 8100*time.Millisecond {
				t.Errorf("snapshot %d comes %v after the one before, want the 4 s interval rounded to a segment", i, gap)
			}
		}
		checkJPEG(t, s.URL, []byte(httpGet(t, "http://"+n.httpAddr+s.URL)), 640, 360)
	}
	metrics := httpGet(t, "http://"+n.httpAddr+"/metrics")
	for _, want := range []string{`rewind_snapshots_total{result="made"}`, "rewind_snapshot_lag_seconds_count"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if strings.Contains(metrics, `rewind_snapshots_total{result="failed"} `) && !strings.Contains(metrics, `rewind_snapshots_total{result="failed"} 0`) {
		t.Errorf("failed snapshots:\n%s", grepLines(metrics, "rewind_snapshots_total"))
	}
	n.stop()
}

func checkJPEG(t *testing.T, what string, b []byte, w, h int) {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: not a JPEG (%d bytes): %v", what, len(b), err)
	}
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Fatalf("%s: %dx%d, want the stream's %dx%d", what, got.X, got.Y, w, h)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
