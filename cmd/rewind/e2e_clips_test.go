//go:build cgo

package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/internal/mediatest"
)

// clipNode is a dev node with its in-process editor, and the recording of
// two publishes (a reconnect) of the same 10 s source.
type clipNode struct {
	n      *proc
	dir    string
	api    string
	runs   []storedRun
	fps    float64
	hookMu sync.Mutex
	hooks  [][]byte
	bad    int
	hook   *httptest.Server
}

const clipHookSecret = "e2e-hook-secret"

func newClipNode(t *testing.T) *clipNode {
	t.Helper()
	src, _ := source(t, 10)
	c := &clipNode{dir: t.TempDir(), fps: 25}
	if err := os.Mkdir(filepath.Join(c.dir, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.n = startNode(t, nil, c.args()...)
	c.api = "http://" + c.n.httpAddr
	for range 2 {
		if err := publish(t, src, c.n.url("live/cam")).wait(t); err != nil {
			t.Fatal(err)
		}
	}
	st := fsStore(t, filepath.Join(c.dir, "store"))
	for _, r := range waitRuns(t, st, camStream, 2, 20*time.Second) {
		c.runs = append(c.runs, fetchRun(t, st, camStream, r))
	}
	c.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(clipHookSecret))
		mac.Write(body)
		sig, err := hex.DecodeString(r.Header.Get("X-Rewind-Signature"))
		c.hookMu.Lock()
		defer c.hookMu.Unlock()
		if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
			c.bad++
		}
		c.hooks = append(c.hooks, body)
	}))
	t.Cleanup(c.hook.Close)
	return c
}

func (c *clipNode) args() []string {
	return []string{"--store", "file://" + filepath.Join(c.dir, "store"), "--spool", filepath.Join(c.dir, "spool"),
		"--jobs", "file://" + filepath.Join(c.dir, "jobs"), "--webhook-secret", clipHookSecret,
		// The webhook receiver is an httptest server on loopback.
		"--webhook-allow", "127.0.0.0/8",
		"--editor-lease", "3s", "--editor-retry-delay", "1s", "--editor-work-dir", filepath.Join(c.dir, "work")}
}

func (sr storedRun) start() time.Time { return time.UnixMilli(sr.entries[0].StartMS).UTC() }
func (sr storedRun) end() time.Time {
	return time.UnixMilli(sr.entries[len(sr.entries)-1].EndMS()).UTC()
}

// submit posts a clip request and returns its id.
func (c *clipNode) submit(t *testing.T, body map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(c.api+"/v1/clips", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var acc struct{ ID, Status string }
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(out, &acc) != nil || acc.ID == "" {
		t.Fatalf("POST /v1/clips %s: %d %s", b, resp.StatusCode, out)
	}
	return acc.ID
}

func (c *clipNode) status(t *testing.T, id string) catalog.ClipView {
	t.Helper()
	var v catalog.ClipView
	body := httpGet(t, c.api+"/v1/clips/"+id)
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("GET /v1/clips/%s: %s", id, body)
	}
	return v
}

// wait polls the job until it has ended and downloads its output.
func (c *clipNode) wait(t *testing.T, id string, within time.Duration) (catalog.ClipView, string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := c.status(t, id)
		if v.Status == catalog.ClipSucceeded {
			if v.Progress != 100 || v.Output == nil {
				t.Fatalf("succeeded job %+v", v)
			}
			resp, err := http.Get(c.api + v.Output.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			path := filepath.Join(t.TempDir(), "clip."+v.Format)
			f, _ := os.Create(path)
			n, _ := io.Copy(f, resp.Body)
			f.Close()
			// HLS answers the playlist; Size counts every file.
			if resp.StatusCode != 200 || (n != v.Output.Size && v.Format != catalog.FormatHLS) {
				t.Fatalf("output: %d, %d bytes of %d", resp.StatusCode, n, v.Output.Size)
			}
			return v, path
		}
		if v.Status == catalog.ClipFailed {
			t.Fatalf("clip failed: %s", v.Error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("clip %s still %s (%d%%) after %s", id, v.Status, v.Progress, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func rfc(t time.Time) string { return t.Format(time.RFC3339Nano) }

// The clip tests of the issue, on one recorded ffmpeg publish with a
// reconnect, through `rewind dev`'s API and in-process editor.
func TestClips(t *testing.T) {
	c := newClipNode(t)
	r1, r2 := c.runs[0], c.runs[1]
	frame := time.Duration(float64(time.Second) / c.fps)

	t.Run("copy", func(t *testing.T) {
		start, end := r1.start().Add(3300*time.Millisecond), r1.start().Add(7700*time.Millisecond)
		id := c.submit(t, map[string]any{"stream": "live/cam", "start": rfc(start), "end": float64(end.UnixMilli()) / 1000,
			"format": "mp4", "webhook_url": c.hook.URL})
		v, path := c.wait(t, id, time.Minute)
		want := end.Sub(start).Seconds()
		// The start snaps back to a keyframe: at most one GOP (2 s) longer.
		if d := mediatest.Duration(t, path); d < want-0.05 || d > want+2+0.1 {
			t.Errorf("copy clip lasts %.3f s for a %.3f s range", d, want)
		}
		if math.Abs(v.Output.Duration-mediatest.Duration(t, path)) > 0.1 {
			t.Errorf("job says %.3f s", v.Output.Duration)
		}
		frames := mediatest.Frames(t, path, "v")
		if len(frames) == 0 || frames[0].KeyFrame != 1 || ptsOf(frames[0]) > 0.001 {
			t.Errorf("first frame %+v: want a keyframe at 0", frames[0])
		}
		mediatest.CountFrames(t, path) // decodes without errors
		if !moovFirst(t, path) {
			t.Error("MP4 is not faststart (moov after mdat)")
		}
		// The local store serves the output with Range.
		req, _ := http.NewRequest(http.MethodGet, c.api+v.Output.URL, nil)
		req.Header.Set("Range", "bytes=100-199")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		part, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		whole, _ := os.ReadFile(path)
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, whole[100:200]) || resp.Header.Get("Content-Type") != "video/mp4" {
			t.Errorf("range of the output: %d, %d bytes, %q", resp.StatusCode, len(part), resp.Header.Get("Content-Type"))
		}
		c.hookMu.Lock()
		hooks, bad := len(c.hooks), c.bad
		c.hookMu.Unlock()
		if hooks != 1 || bad != 0 {
			t.Errorf("%d webhooks, %d with a bad signature", hooks, bad)
		}
	})

	t.Run("accurate", func(t *testing.T) {
		start, end := r1.start().Add(3300*time.Millisecond), r1.start().Add(7700*time.Millisecond)
		id := c.submit(t, map[string]any{"stream": "live/cam", "start": rfc(start), "end": rfc(end), "mode": "accurate"})
		_, path := c.wait(t, id, time.Minute)
		want := end.Sub(start).Seconds()
		if d := mediatest.Duration(t, path); math.Abs(d-want) > frame.Seconds()+0.01 {
			t.Errorf("accurate clip lasts %.3f s for a %.3f s range (one frame is %s)", d, want, frame)
		}
		frames := mediatest.Frames(t, path, "v")
		if len(frames) == 0 || frames[0].KeyFrame != 1 || ptsOf(frames[0]) > 0.001 {
			t.Fatalf("first frame %+v", frames[0])
		}
		mediatest.CountFrames(t, path)
		// The first frame is the recorded frame at the asked time: the
		// first whose wall clock (segment start + PTS offset) is >= start.
		rec := recordedFrames(t, r1)
		k := 0
		for k < len(rec) && rec[k].wall.Before(start.Add(-time.Millisecond)) {
			k++
		}
		if k == len(rec) {
			t.Fatal("no recorded frame at the start")
		}
		if off := rec[k].wall.Sub(start); off < -time.Millisecond || off >= frame {
			t.Errorf("recorded frame %d is %s from the start", k, off)
		}
		first := grayFrames(t, path, 1)[0]
		best, bestD := -1, math.MaxFloat64
		for i := max(k-3, 0); i <= min(k+3, len(rec)-1); i++ {
			if d := mad(first, rec[i].gray); d < bestD {
				best, bestD = i, d
			}
		}
		if best != k {
			t.Errorf("the clip's first frame looks like recorded frame %d (%s), want %d (%s)",
				best, rec[best].wall.Sub(start), k, rec[k].wall.Sub(start))
		}
	})

	t.Run("transcode", func(t *testing.T) {
		id := c.submit(t, map[string]any{"stream": "live/cam", "start": rfc(r1.start().Add(time.Second)), "end": rfc(r1.end().Add(-time.Second)),
			"mode": "accurate", "transcode": map[string]any{"height": 180, "video_bitrate": 300_000, "audio_bitrate": 64_000}})
		v, path := c.wait(t, id, 2*time.Minute)
		w, h, vbr, abr := probeStreams(t, path)
		if h != 180 || w%2 != 0 || v.Output.Height != 180 {
			t.Errorf("transcoded to %dx%d (job says %dx%d)", w, h, v.Output.Width, v.Output.Height)
		}
		if vbr < 225_000 || vbr > 375_000 {
			t.Errorf("video bit rate %d, asked 300000", vbr)
		}
		if abr < 48_000 || abr > 80_000 {
			t.Errorf("audio bit rate %d, asked 64000", abr)
		}
	})

	t.Run("across reconnect", func(t *testing.T) {
		start, end := r1.end().Add(-3*time.Second), r2.start().Add(3*time.Second)
		id := c.submit(t, map[string]any{"stream": "live/cam", "start": rfc(start), "end": rfc(end), "format": "ts"})
		_, path := c.wait(t, id, time.Minute)
		// Both runs' shares, back to back (the gap between runs is not
		// media); copy may add up to one GOP at the start.
		want := r1.end().Sub(start).Seconds() + end.Sub(r2.start()).Seconds()
		if d := mediatest.Duration(t, path); d < want-0.2 || d > want+2+0.2 {
			t.Errorf("clip across the reconnect lasts %.3f s, want %.3f s (+ a GOP)", d, want)
		}
		if c := mediatest.CountFrames(t, path); float64(c.Video) < (want-0.2)*25 {
			t.Errorf("only %d video frames for %.1f s", c.Video, want)
		}
	})

	t.Run("thumbnails", func(t *testing.T) { checkThumbnails(t, c) })

	t.Run("hls", func(t *testing.T) {
		id := c.submit(t, map[string]any{"stream": "live/cam", "start": rfc(r1.start().Add(time.Second)), "end": rfc(r1.end()), "format": "hls"})
		c.wait(t, id, time.Minute)
		out, err := exec.Command("ffmpeg", "-v", "error", "-i", c.api+"/v1/clips/"+id+"/output", "-f", "null", "-").CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("HLS clip over HTTP: %v\n%s", err, out)
		}
	})
}

// A worker killed with -9 mid-job leaves the job to be taken again: after
// the restart it completes, on its second attempt.
func TestClipSurvivesKill(t *testing.T) {
	c := newClipNode(t)
	r1, r2 := c.runs[0], c.runs[1]
	// A slow job: both runs upscaled to 1080p.
	id := c.submit(t, map[string]any{"stream": "live/cam", "start": rfc(r1.start()), "end": rfc(r2.end()),
		"transcode": map[string]any{"height": 1080}})
	deadline := time.Now().Add(time.Minute)
	for v := c.status(t, id); v.Status != catalog.ClipRunning || v.Progress == 0; v = c.status(t, id) {
		if v.Status == catalog.ClipSucceeded || time.Now().After(deadline) {
			t.Fatalf("never saw the job running: %+v", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.n.kill()
	c.n.start()
	v, path := c.wait(t, id, 3*time.Minute)
	if v.Attempts != 2 {
		t.Errorf("attempts %d, want 2 (killed, then done)", v.Attempts)
	}
	if _, h, _, _ := probeStreams(t, path); h != 1080 {
		t.Errorf("height %d", h)
	}
	mediatest.CountFrames(t, path)
}

func ptsOf(f mediatest.Frame) float64 {
	v, _ := strconv.ParseFloat(f.PTSTime, 64)
	return v
}

// moovFirst says whether the MP4's moov box comes before its mdat.
func moovFirst(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off+8 <= len(b); {
		size := int(binary.BigEndian.Uint32(b[off:]))
		switch string(b[off+4 : off+8]) {
		case "moov":
			return true
		case "mdat":
			return false
		}
		if size < 8 {
			return false
		}
		off += size
	}
	return false
}

// probeStreams returns the video size and the video and audio bit rates.
func probeStreams(t *testing.T, path string) (w, h int, vbr, abr int64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,width,height,bit_rate", "-of", "json", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			BitRate   string `json:"bit_rate"`
		} `json:"streams"`
	}
	json.Unmarshal(out, &res)
	for _, s := range res.Streams {
		br, _ := strconv.ParseInt(s.BitRate, 10, 64)
		switch s.CodecType {
		case "video":
			w, h, vbr = s.Width, s.Height, br
		case "audio":
			abr = br
		}
	}
	return
}

// recFrame is a recorded video frame: its wall clock and a small gray copy.
type recFrame struct {
	wall time.Time
	gray []byte
}

// recordedFrames decodes a stored run and puts each frame at its wall
// clock, as the index defines it: the first segment starts at its StartMS,
// on the run's first video frame.
func recordedFrames(t *testing.T, sr storedRun) []recFrame {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=dts_time",
		"-read_intervals", "%+#1", "-of", "default=nw=1:nk=1", sr.all).Output()
	if err != nil {
		t.Fatal(err)
	}
	dts0, err := strconv.ParseFloat(strings.TrimSpace(strings.Split(string(out), "\n")[0]), 64)
	if err != nil {
		t.Fatalf("first dts %q: %v", out, err)
	}
	frames := mediatest.Frames(t, sr.all, "v")
	grays := grayFrames(t, sr.all, len(frames))
	base := sr.start()
	var rec []recFrame
	for i, f := range frames {
		off := time.Duration((ptsOf(f) - dts0) * float64(time.Second))
		rec = append(rec, recFrame{wall: base.Add(off), gray: grays[i]})
	}
	return rec
}

const grayW, grayH = 64, 48

// grayFrames decodes the first n video frames scaled to 64x48 gray.
func grayFrames(t *testing.T, path string, n int) [][]byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:v:0", "-frames:v", strconv.Itoa(n),
		"-vf", fmt.Sprintf("scale=%d:%d,format=gray", grayW, grayH), "-f", "rawvideo", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for len(out) >= grayW*grayH {
		frames = append(frames, out[:grayW*grayH])
		out = out[grayW*grayH:]
	}
	if len(frames) < n {
		t.Fatalf("%s: %d frames decoded, want %d", path, len(frames), n)
	}
	return frames
}

// mad is the mean absolute difference of two gray frames.
func mad(a, b []byte) float64 {
	var sum int
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		sum += d
	}
	return float64(sum) / float64(len(a))
}

// Thumbnails and the scrubbing track of the recording (both runs joined).
func checkThumbnails(t *testing.T, c *clipNode) {
	r1, r2 := c.runs[0], c.runs[1]
	at := r1.start().Add(4500 * time.Millisecond)
	resp, err := http.Get(fmt.Sprintf("%s/v1/streams/live/cam/thumbnail.jpg?at=%s&width=160", c.api, rfc(at)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("thumbnail: %d %s", resp.StatusCode, body)
	}
	if img, err := jpeg.Decode(bytes.NewReader(body)); err != nil || img.Bounds().Dx() != 160 || img.Bounds().Dy() != 120 {
		t.Errorf("thumbnail: %v %v", err, img.Bounds())
	}
	if resp.Header.Get("ETag") == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
		t.Errorf("thumbnail headers %v", resp.Header)
	}
	vtt := httpGet(t, c.api+"/v1/streams/live/cam/recordings/"+r1.manifest.Run+"/thumbnails.vtt")
	cues := strings.Count(vtt, " --> ")
	want := int(math.Ceil(r2.end().Sub(r1.start()).Seconds() / 10))
	if !strings.HasPrefix(vtt, "WEBVTT\n") || cues != want || !strings.Contains(vtt, "sprites/0.jpg#xywh=0,0,160,120") {
		t.Fatalf("track with %d cues (want %d):\n%s", cues, want, vtt)
	}
	resp, err = http.Get(c.api + "/v1/streams/live/cam/recordings/" + r1.manifest.Run + "/sprites/0.jpg")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	img, err := jpeg.Decode(bytes.NewReader(body))
	if resp.StatusCode != 200 || err != nil || img.Bounds().Dx() != 1600 || img.Bounds().Dy() != 120 {
		t.Errorf("sprite: %d %v %v", resp.StatusCode, err, img)
	}
}
