package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/internal/ertmppub"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/internal/rtmpclient"
	"github.com/rewind-vod/rewind/media"
)

// TestHEVCEndToEnd: our enhanced RTMP publisher (ffmpeg 5.1 cannot publish
// it) sends 10 s of 720p HEVC + AAC to `rewind dev`. /v1/live shows the
// codec and size; RTMP play gets the enhanced tags unchanged, sequence start
// first; HTTP-FLV play decodes (ffmpeg 5.1 cannot demux enhanced FLV
// either, so its HEVC tags are turned back into Annex B with our media
// code and that is decoded); every stored segment is HEVC to ffprobe,
// decodes on its own and starts on a keyframe; a window playlist plays in
// ffmpeg.
func TestHEVCEndToEnd(t *testing.T) {
	t.Parallel()
	mediatest.Require(t)
	frames, err := ertmppub.Encode(context.Background(), ertmppub.Source{Seconds: 10, Size: "1280x720"})
	if err != nil {
		t.Fatal(err)
	}
	published := map[string]bool{}
	pictures := 0
	for _, f := range frames {
		if f.Type == media.FrameVideo {
			published[string(f.Payload)] = true
			if !media.IsVideoSeqHeader(f.Payload) {
				pictures++
			}
		}
	}
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--reconnect-window", "1s", "--admin-token", "tok")
	began := time.Now()
	pubDone := make(chan error, 1)
	go func() {
		pubDone <- ertmppub.Publish(context.Background(), n.rtmpAddr, "live", "hevc", frames, true)
	}()

	// /v1/live, once the sequence start is in.
	type liveVideo struct {
		Codec         string
		Width, Height int
	}
	var live []struct{ Video *liveVideo }
	deadline := time.Now().Add(15 * time.Second)
	for len(live) == 0 || live[0].Video == nil || live[0].Video.Codec == "" {
		if time.Now().After(deadline) {
			t.Fatalf("/v1/live: %+v", live)
		}
		time.Sleep(200 * time.Millisecond)
		req, _ := http.NewRequest("GET", "http://"+n.httpAddr+"/v1/live", nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Streams []struct{ Video *liveVideo }
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		live = body.Streams
	}
	if v := live[0].Video; !strings.HasPrefix(v.Codec, "hvc1.") || v.Width != 1280 || v.Height != 720 {
		t.Errorf("/v1/live video %+v", v)
	}

	// Live play, both ways, joining mid-stream.
	flvFrames := make(chan []media.Frame, 1)
	go func() { flvFrames <- readHTTPFLV(t, "http://"+n.httpAddr+"/live/hevc.flv", 75) }()
	checkRTMPPlay(t, n.rtmpAddr, published)
	got := <-flvFrames
	if len(got) == 0 {
		t.Fatal("no HTTP-FLV frames")
	}
	var firstVideo []media.Frame
	for _, f := range got {
		if f.Type == media.FrameVideo && len(firstVideo) < 2 {
			firstVideo = append(firstVideo, f)
		}
		if f.Type == media.FrameVideo && !published[string(f.Payload)] {
			t.Errorf("HTTP-FLV video tag changed on the way: % x", f.Payload[:min(8, len(f.Payload))])
			break
		}
	}
	if len(firstVideo) < 2 || !media.IsVideoSeqHeader(firstVideo[0].Payload) || !media.IsVideoKeyframe(firstVideo[1].Payload) {
		t.Errorf("HTTP-FLV does not start with the sequence start and a keyframe")
	}
	annexB, err := ertmppub.AnnexB(got)
	if err != nil {
		t.Fatal(err)
	}
	flvHEVC := filepath.Join(dir, "http-flv.hevc")
	if err := os.WriteFile(flvHEVC, annexB, 0o644); err != nil {
		t.Fatal(err)
	}
	if c := mediatest.CountFrames(t, flvHEVC); c.Video < 50 {
		t.Errorf("HTTP-FLV video decodes to %d pictures", c.Video)
	}

	if err := <-pubDone; err != nil {
		t.Fatalf("publisher: %v", err)
	}
	st := fsStore(t, filepath.Join(dir, "store"))
	hevc := catalog.Stream{App: "live", Name: "hevc"}
	runs := waitRuns(t, st, hevc, 1, 30*time.Second)
	sr := fetchRun(t, st, hevc, runs[0])
	counts := checkRun(t, sr) // each segment decodes, starts on a keyframe
	if counts.Video != pictures || counts.Audio == 0 {
		t.Errorf("stored %+v, published %d pictures", counts, pictures)
	}
	for i, seg := range sr.segments {
		out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_name",
			"-of", "default=nw=1:nk=1", seg).Output()
		if name, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); err != nil || name != "hevc" {
			t.Errorf("segment %d: codec %q %v", i+1, out, err)
		}
	}
	if m := sr.manifest.Video; m == nil || !strings.HasPrefix(m.Codec, "hvc1.") || m.Width != 1280 || m.Height != 720 {
		t.Errorf("run.json video %+v", sr.manifest.Video)
	}
	window := fmt.Sprintf("http://%s/hls/live/hevc/index.m3u8?start=%d&end=%d", n.httpAddr, began.Add(-2*time.Second).Unix(), time.Now().Add(2*time.Second).Unix())
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", window, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("window playlist %s: %v\n%s", window, err, out)
	}
	n.stop()
}

// readHTTPFLV plays url as HTTP-FLV until it has n video tags (or the
// stream ends).
func readHTTPFLV(t *testing.T, url string, n int) []media.Frame {
	resp, err := http.Get(url)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET %s: %s", url, resp.Status)
		return nil
	}
	fr, err := flvfile.NewReader(resp.Body)
	if err != nil {
		t.Error(err)
		return nil
	}
	var out []media.Frame
	for videos := 0; videos < n; {
		tag, err := fr.Next()
		if err != nil {
			break
		}
		out = append(out, media.Frame{Type: media.FrameType(tag.Type), Timestamp: tag.Timestamp, Payload: tag.Body})
		if tag.Type == 9 {
			videos++
		}
	}
	return out
}

// checkRTMPPlay plays the stream over RTMP: the video starts with the
// enhanced sequence start and a keyframe, and every tag is one the
// publisher sent, byte for byte.
func checkRTMPPlay(t *testing.T, addr string, published map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := rtmpclient.Dial(ctx, addr, "live", "hevc", "LNX 9,0,124,2")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var videos [][]byte
	for len(videos) < 50 {
		m, err := p.Next()
		if err != nil {
			t.Fatalf("rtmp play: %v", err)
		}
		if err := rtmpclient.StatusError(m); err != nil {
			t.Fatal(err)
		}
		if m.TypeID == rtmpclient.TypeVideo {
			videos = append(videos, m.Payload)
		}
	}
	if !media.IsVideoSeqHeader(videos[0]) || !media.IsVideoKeyframe(videos[1]) {
		t.Errorf("rtmp play starts with % x, % x", videos[0][:5], videos[1][:5])
	}
	for _, v := range videos {
		if !published[string(v)] {
			t.Fatalf("rtmp play: a video tag changed on the way: % x", v[:min(8, len(v))])
		}
	}
}

// TestHEVCRelay: A relays an enhanced RTMP HEVC publish to B, a second
// rewind standing in for a CDN; the relay passes the enhanced tags on as
// they are, so B records HEVC segments that decode and start on keyframes.
func TestHEVCRelay(t *testing.T) {
	t.Parallel()
	mediatest.Require(t)
	frames, err := ertmppub.Encode(context.Background(), ertmppub.Source{Seconds: 6, Size: "640x360"})
	if err != nil {
		t.Fatal(err)
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	b := startNode(t, nil, "--store", "file://"+filepath.Join(dirB, "store"), "--spool", filepath.Join(dirB, "spool"), "--node", "cdn")
	a := startNode(t, nil, "--store", "file://"+filepath.Join(dirA, "store"), "--spool", filepath.Join(dirA, "spool"),
		"--relay", "live=rtmp://"+b.rtmpAddr+"/cdn/{name}", "--relay-timeout", "3s")
	if err := ertmppub.Publish(context.Background(), a.rtmpAddr, "live", "hevc", frames, true); err != nil {
		t.Fatal(err)
	}
	copyStream := catalog.Stream{App: "cdn", Name: "hevc"}
	stB := fsStore(t, filepath.Join(dirB, "store"))
	runs := waitRuns(t, stB, copyStream, 1, 30*time.Second)
	sr := fetchRun(t, stB, copyStream, runs[0])
	got := checkRun(t, sr) // decodes, every segment starts on a keyframe
	if got.Video < 100 || got.Audio == 0 {
		t.Errorf("B recorded %+v", got)
	}
	if m := sr.manifest.Video; m == nil || !strings.HasPrefix(m.Codec, "hvc1.") || m.Width != 640 || m.Height != 360 {
		t.Errorf("B's run.json video %+v", sr.manifest.Video)
	}
	a.stop()
	b.stop()
}
