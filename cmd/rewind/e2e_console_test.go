//go:build cgo

package main

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/internal/browsertest"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// The operator console in Debian's Chromium against `rewind dev` (with its
// editor) and real ffmpeg publishes: live/cam is recorded (12 s) and
// live/kick stays live. The page asks for the admin token (and again after
// a wrong one), lists live/kick live with its codecs and snapshot, shows
// the scrub sprite of live/cam's recording on hover, makes an accurate MP4
// clip of a range dragged on the timeline (downloaded: ffprobe says it
// lasts the marked range within one frame) and kicks live/kick (it leaves
// the live table and its run.json says ended).
//
// REWIND_CONSOLE_SCREENSHOTS=dir keeps the README's screenshots there.
func TestConsole(t *testing.T) {
	t.Parallel()
	nm := browsertest.NodeModules(t)
	mediatest.Require(t)
	const token = "console-admin"
	const fps = 25
	src := mediatest.WriteFLV(t, t.TempDir(), "src", mediatest.Source{Seconds: 12, Size: "640x360", FPS: fps})
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--jobs", "file://"+filepath.Join(dir, "jobs"), "--editor-work-dir", filepath.Join(dir, "work"),
		"--admin-token", token, "--snapshot-interval", "2s")
	api := "http://" + n.httpAddr
	kickStream := catalog.Stream{App: "live", Name: "kick"}

	// live/kick loops the source until it is kicked.
	kick := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1",
		"-i", src, "-c", "copy", "-f", "flv", n.url(kickStream.String()))
	kickOut := &testproc.Buffer{}
	kick.Stdout, kick.Stderr = kickOut, kickOut
	if err := kick.Start(); err != nil {
		t.Fatal(err)
	}
	kickDone := make(chan struct{})
	go func() { kick.Wait(); close(kickDone) }()
	t.Cleanup(func() { kick.Process.Kill(); <-kickDone })

	if err := publish(t, src, n.url(camStream.String())).wait(t); err != nil {
		t.Fatal(err)
	}
	st := fsStore(t, filepath.Join(dir, "store"))
	waitRuns(t, st, camStream, 1, 20*time.Second)

	download := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := browsertest.Command(nm, "testdata/console.cjs", api+"/", token, camStream.String(), kickStream.String(), download)
	if shots := os.Getenv("REWIND_CONSOLE_SCREENSHOTS"); shots != "" {
		abs, _ := filepath.Abs(shots)
		cmd.Env = append(cmd.Env, "SCREENSHOT_DIR="+abs)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s\n%s", err, out, stderr.String())
	}
	var res struct {
		Errors            []string `json:"errors"`
		Console           []string `json:"console"`
		HTTP              []string `json:"http"`
		TokenWhy          string   `json:"tokenWhy"`
		AskedAgain        bool     `json:"askedAgain"`
		LiveCells         []string `json:"liveCells"`
		LiveHeaders       []string `json:"liveHeaders"`
		Session           string   `json:"session"`
		Local             int      `json:"local"`
		LiveSnapshotWidth int      `json:"liveSnapshotWidth"`
		Tile              struct {
			Sprite     string `json:"sprite"`
			Background string `json:"background"`
			Position   string `json:"position"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
		} `json:"tile"`
		Snapshots  int              `json:"snapshots"`
		In         string           `json:"in"`
		Out        string           `json:"out"`
		Progress   [][]any          `json:"progress"`
		ClipStatus string           `json:"clipStatus"`
		Clip       catalog.ClipView `json:"clip"`
		ClipPlayed bool             `json:"clipPlayed"`
		Kicked     bool             `json:"kicked"`
		RecStopped bool             `json:"recordingStopped"`
		RecStarted bool             `json:"recordingRestarted"`
		Confirm    string           `json:"confirm"`
		Download   string           `json:"downloadName"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	t.Logf("live row %q; tile %+v; marks %s - %s; progress %v; %s; http errors %v", res.LiveCells, res.Tile, res.In, res.Out, res.Progress, res.ClipStatus, res.HTTP)
	if len(res.Errors) > 0 || len(res.Console) > 0 {
		t.Fatalf("errors %v; console %v", res.Errors, res.Console)
	}

	// The token: asked, asked again after a wrong one, kept for the tab only.
	if !strings.Contains(res.TokenWhy, "admin token") || !res.AskedAgain || res.Session != token || res.Local != 0 {
		t.Errorf("token dialog %q, asked again %v, sessionStorage %q, localStorage %d entries", res.TokenWhy, res.AskedAgain, res.Session, res.Local)
	}
	if !slices.Contains(res.HTTP, "401 /v1/live") {
		t.Errorf("no 401 for the wrong token: %v", res.HTTP)
	}

	// The live row: the columns the operator reads.
	want := []string{"stream", "state", "recording", "codecs", "resolution", "fps", "bit rate in", "players", "relays", "uptime", "snapshot", "actions"}
	if !slices.Equal(res.LiveHeaders, want) {
		t.Errorf("live columns %q, want %q", res.LiveHeaders, want)
	}
	if len(res.LiveCells) != len(want) || res.LiveCells[0] != "live/kick" || res.LiveCells[1] != "live" ||
		!strings.HasPrefix(res.LiveCells[3], "avc1.") || res.LiveCells[4] != "640×360" {
		t.Errorf("live row %q", res.LiveCells)
	}
	if res.LiveSnapshotWidth != 640 {
		t.Errorf("the live snapshot is %d px wide, want the stream's 640", res.LiveSnapshotWidth)
	}

	// The sprite: a tile cropped from a sheet under sprites/ that loads (at
	// the middle of 12 s, a tile every 2 s: not the sheet's first).
	if !strings.Contains(res.Tile.Sprite, "/sprites/") || !strings.Contains(res.Tile.Background, res.Tile.Sprite) ||
		res.Tile.Width < 100 || res.Tile.Height < 50 || res.Tile.Position == "0px 0px" {
		t.Errorf("hover tile %+v: want a background from sprites/", res.Tile)
	} else {
		resp, err := http.Get(strings.SplitN(res.Tile.Sprite, "#", 2)[0])
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, err := jpeg.Decode(bytes.NewReader(b)); resp.StatusCode != 200 || err != nil {
			t.Errorf("sprite sheet %s: %d, %v", res.Tile.Sprite, resp.StatusCode, err)
		}
	}
	if res.Snapshots == 0 {
		t.Error("no snapshots in the strip of the recording")
	}

	// The clip: accurate MP4 of the marked range, within one frame.
	in, err1 := time.Parse(time.RFC3339Nano, res.In)
	outT, err2 := time.Parse(time.RFC3339Nano, res.Out)
	if err1 != nil || err2 != nil || !outT.After(in) {
		t.Fatalf("marks %q, %q", res.In, res.Out)
	}
	if res.Clip.Status != catalog.ClipSucceeded || res.Clip.Mode != "accurate" || res.Clip.Format != "mp4" ||
		!res.Clip.Start.Equal(in) || !res.Clip.End.Equal(outT) {
		t.Fatalf("clip job %+v for %s - %s", res.Clip, in, outT)
	}
	if last := res.Progress[len(res.Progress)-1]; len(res.Progress) < 2 || last[0] != "succeeded" || last[1] != float64(100) {
		t.Errorf("progress seen %v: want it watched through to succeeded 100", res.Progress)
	}
	head, err := os.ReadFile(download)
	if err != nil || len(head) < 12 || string(head[4:8]) != "ftyp" {
		t.Fatalf("download %s (%s): not an MP4 (%v)", download, res.Download, err)
	}
	wantDur := outT.Sub(in).Seconds()
	if d := mediatest.Duration(t, download); math.Abs(d-wantDur) > 1.0/fps+0.01 {
		t.Errorf("the clip lasts %.3f s for the marked %.3f s (one frame is %.3f s)", d, wantDur, 1.0/fps)
	}
	if !res.ClipPlayed {
		t.Error("the clip did not play in the page")
	}

	// Kick: the publisher is gone and its run ended.
	if !res.Kicked || !strings.Contains(res.Confirm, "Kick live/kick") {
		t.Fatalf("kick: %v (confirm %q)", res.Kicked, res.Confirm)
	}
	select {
	case <-kickDone:
	case <-time.After(30 * time.Second):
		t.Fatalf("the kicked ffmpeg still publishes: %s", kickOut.String())
	}
	// Before the kick, recording was stopped and started from the page: the
	// stopped run and the restarted one, both ended now.
	if !res.RecStopped || !res.RecStarted {
		t.Fatalf("recording stop %v, start %v from the page", res.RecStopped, res.RecStarted)
	}
	runs := waitRuns(t, st, kickStream, 2, 20*time.Second)
	for _, run := range runs {
		m, err := catalog.ReadManifest(t.Context(), st, kickStream, run)
		if err != nil || m.State != catalog.StateEnded || m.EndedAt == nil {
			t.Errorf("run.json of run %s of the kicked stream: %+v, %v", run, m, err)
		}
	}
}
