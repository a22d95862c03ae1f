package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/internal/nginxtest"
)

// startNginx runs a private nginx-rtmp with the given rtmp {} block.
func startNginx(t *testing.T, rtmpBlock func(addr string) string) string {
	return nginxtest.Start(t, rtmpBlock)
}

// TestNginxRTMPPushAndPull: nginx-rtmp, a client using the digest
// handshake, pushes an ffmpeg publish into rewind, which records it; and
// nginx pulls from rewind the stream ffmpeg publishes to rewind directly,
// for an ffprobe reading nginx.
func TestNginxRTMPPushAndPull(t *testing.T) {
	t.Parallel()
	src, want := source(t, 10)
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"))
	ngx := startNginx(t, func(addr string) string {
		return fmt.Sprintf(`  server {
    listen %s;
    application push {
      live on;
      # nginx's defaults: each codec header is relayed just before that
      # codec's first frame, so the AAC header may follow the first video
      # keyframe (the recorder waits for it).
      push rtmp://%s/live/viangx;
    }
    application pull {
      live on;
      pull rtmp://%s/live;
    }
  }`, addr, n.rtmpAddr, n.rtmpAddr)
	})

	pushed := publish(t, src, "rtmp://"+ngx+"/push/src")
	direct := publish(t, src, n.url("live/direct"))
	time.Sleep(3 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v", "-read_intervals", "%+#3",
		"-show_entries", "frame=key_frame", "-of", "csv=p=0", "rtmp://"+ngx+"/pull/direct").Output()
	if first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); err != nil || strings.TrimRight(first, ",") != "1" { // "1," when the frame carries side data (x264's SEI)
		t.Errorf("play through nginx's pull from rewind: %v, first frame key_frame=%q", err, first)
	}
	if err := pushed.wait(t); err != nil {
		t.Fatal(err)
	}
	if err := direct.wait(t); err != nil {
		t.Fatal(err)
	}

	st := fsStore(t, filepath.Join(dir, "store"))
	viaNginx := catalog.Stream{App: "live", Name: "viangx"}
	runs := waitRuns(t, st, viaNginx, 1, 20*time.Second)
	got := checkRun(t, fetchRun(t, st, viaNginx, runs[0]))
	// nginx starts relaying once its push connection is up, so the first
	// frames may be missing; the rest must all be there.
	if got.Video < want.Video*8/10 || got.Audio < want.Audio*8/10 {
		t.Errorf("recorded through nginx %+v, published %+v", got, want)
	}
	directStream := catalog.Stream{App: "live", Name: "direct"}
	runs = waitRuns(t, st, directStream, 1, 20*time.Second)
	if got := checkRun(t, fetchRun(t, st, directStream, runs[0])); got != want {
		t.Errorf("recorded direct %+v, published %+v", got, want)
	}
	if log := n.log.String(); strings.Contains(log, "rtmp connection dropped") {
		t.Errorf("a connection was dropped:\n%s", log)
	}
	n.stop()
}

// requireGStreamer fails (as a missing ffmpeg does) when gst-launch or the
// elements the test uses are missing: make deps installs them.
func requireGStreamer(t *testing.T, elements ...string) {
	t.Helper()
	for _, el := range elements {
		if err := exec.Command("gst-inspect-1.0", "--exists", el).Run(); err != nil {
			t.Fatalf("GStreamer element %s not found: run `make deps` (gstreamer1.0-tools and plugins)", el)
		}
	}
}

// TestGStreamerRTMP2Sink publishes with GStreamer's rtmp2sink, which ends
// a publish with FCUnpublish and deleteStream carrying the stream name,
// not its id: gst-launch must exit 0 and the run be recorded and ended.
// A second publish sends deleteStream alone, which must end the run itself.
func TestGStreamerRTMP2Sink(t *testing.T) {
	t.Parallel()
	mediatest.Require(t)
	requireGStreamer(t, "rtmp2sink", "x264enc", "flvmux", "voaacenc")
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"))
	const frames = 125 // 5 s at 25 fps
	gst := func(name, stop string) *exec.Cmd {
		args := []string{"-e",
			"videotestsrc", fmt.Sprintf("num-buffers=%d", frames), "!", "video/x-raw,width=320,height=240,framerate=25/1", "!",
			"x264enc", "speed-preset=veryfast", "tune=zerolatency", "key-int-max=50", "!", "h264parse", "!",
			"flvmux", "name=mux", "streamable=true", "!",
			"rtmp2sink", "location=" + n.url("live/"+name)}
		if stop != "" {
			args = append(args, "stop-commands="+stop)
		}
		// 5 s of audio too: 1024-sample buffers at 44.1 kHz.
		args = append(args, "audiotestsrc", "num-buffers=215", "!", "audioconvert", "!", "voaacenc", "!", "aacparse", "!", "mux.")
		return exec.Command("gst-launch-1.0", args...)
	}
	type result struct {
		out []byte
		err error
	}
	run := func(c *exec.Cmd) chan result {
		ch := make(chan result, 1)
		go func() { out, err := c.CombinedOutput(); ch <- result{out, err} }()
		return ch
	}
	def := run(gst("gst", ""))                // the default: fcunpublish+deletestream
	del := run(gst("gstdel", "deletestream")) // deleteStream alone
	for name, ch := range map[string]chan result{"gst": def, "gstdel": del} {
		select {
		case r := <-ch:
			if r.err != nil {
				t.Errorf("gst-launch to live/%s: %v\n%s", name, r.err, r.out)
			}
		case <-time.After(90 * time.Second):
			t.Fatalf("gst-launch to live/%s hangs", name)
		}
	}
	st := fsStore(t, filepath.Join(dir, "store"))
	for _, name := range []string{"gst", "gstdel"} {
		s := catalog.Stream{App: "live", Name: name}
		runs := waitRuns(t, st, s, 1, 20*time.Second)
		got := checkRun(t, fetchRun(t, st, s, runs[0]))
		if got.Video < frames-5 || got.Audio == 0 {
			t.Errorf("live/%s recorded %+v, published %d video frames and audio", name, got, frames)
		}
	}
	log := n.log.String()
	if strings.Contains(log, "rtmp connection dropped") {
		t.Errorf("a GStreamer connection was dropped:\n%s", log)
	}
	if !strings.Contains(log, "stream=live/gstdel") || !strings.Contains(log, "why=deleteStream") {
		t.Errorf("deleteStream with the stream name did not end the publish:\n%s", log)
	}
	n.stop()
}
