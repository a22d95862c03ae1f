//go:build cgo

package main

import (
	"context"
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

// TestHEVCClips: a copy clip of an HEVC recording (published over
// enhanced RTMP) has the asked duration, starts on a keyframe and decodes,
// as for H.264. Accurate clips are not tested: the editor's accurate mode
// re-encodes with H.264 only and refuses HEVC sources ("accurate mode
// needs H.264 video"), which is editor work.
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
	c.n = startNode(t, nil, c.args()...)
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
	c.n.stop()
}
