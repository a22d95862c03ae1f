package main

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/origin"
)

// adminCall calls the live management API of n with the test's token.
func adminCall(t *testing.T, n *proc, method, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+n.httpAddr+path, nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func recordingCall(t *testing.T, n *proc, method, path string) origin.RecordingState {
	t.Helper()
	code, body := adminCall(t, n, method, path)
	var st origin.RecordingState
	if err := json.Unmarshal(body, &st); code != http.StatusOK || err != nil {
		t.Fatalf("%s %s: %d %v %s", method, path, code, err, body)
	}
	return st
}

func liveList(t *testing.T, n *proc) []origin.LiveInfo {
	t.Helper()
	code, body := adminCall(t, n, "GET", "/v1/live")
	var list struct {
		Streams []origin.LiveInfo `json:"streams"`
	}
	if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil {
		t.Fatalf("/v1/live: %d %v %s", code, err, body)
	}
	return list.Streams
}

// videoPlayer is ffprobe playing a live stream to its end, listing the
// time of every video packet it gets.
type videoPlayer struct {
	cmd  *exec.Cmd
	out  strings.Builder
	done chan error
}

func playVideo(t *testing.T, url string) *videoPlayer {
	t.Helper()
	p := &videoPlayer{done: make(chan error, 1)}
	p.cmd = exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time",
		"-of", "csv=p=0", url)
	p.cmd.Stdout = &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done; p.done <- nil })
	return p
}

// wait waits for the player to end with its stream and returns the packet
// times it got, in order.
func (p *videoPlayer) wait(t *testing.T) []float64 {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("player: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("player still running after its stream ended")
	}
	var pts []float64
	for _, f := range strings.Fields(p.out.String()) {
		if v, err := strconv.ParseFloat(strings.TrimSuffix(f, ","), 64); err == nil {
			pts = append(pts, v)
		}
	}
	slices.Sort(pts)
	return pts
}

// Stop and start recording a live stream through the admin API, with an
// ffmpeg publisher and an HTTP-FLV player connected throughout: two runs in
// the store, both complete and playable, and the player's video has no
// hole across the switch.
func TestRecControlEndToEnd(t *testing.T) {
	t.Parallel()
	src, _ := source(t, 24)
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--admin-token", "tok", "--reconnect-window", "1s")
	pub := publish(t, src, n.url("live/cam"))
	deadline := time.Now().Add(10 * time.Second)
	for len(liveList(t, n)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the publish did not go live")
		}
		time.Sleep(100 * time.Millisecond)
	}
	player := playVideo(t, "http://"+n.httpAddr+"/live/cam.flv")
	time.Sleep(7 * time.Second) // a few segments into the first run

	live := liveList(t, n)
	if len(live) != 1 || live[0].Players != 1 || live[0].Recording == nil || !live[0].Recording.Recording {
		t.Fatalf("/v1/live before stop: %+v", live)
	}
	pubRun := live[0].Run
	base := "/v1/live/live/cam/recording"
	st := recordingCall(t, n, "POST", base+"/stop")
	if st.Recording || !slices.Equal(st.Runs, []string{pubRun}) {
		t.Fatalf("after stop: %+v", st)
	}
	time.Sleep(4 * time.Second) // not recorded
	if again := recordingCall(t, n, "POST", base+"/stop"); again.Recording || !again.Since.Equal(st.Since) {
		t.Errorf("stop when stopped: %+v, was %+v", again, st)
	}
	st = recordingCall(t, n, "POST", base+"/start")
	second := st.Run
	if !st.Recording || second == "" || second == pubRun || !slices.Equal(st.Runs, []string{pubRun, second}) {
		t.Fatalf("after start: %+v", st)
	}
	live = liveList(t, n)
	if len(live) != 1 || live[0].Run != pubRun || live[0].Players != 1 || live[0].Recording.Run != second {
		t.Errorf("/v1/live after start: %+v", live)
	}
	metrics := httpGet(t, "http://"+n.httpAddr+"/metrics")
	for _, m := range []string{`rewind_origin_recording_changes_total{to="off"} 1`, `rewind_origin_recording_changes_total{to="on"} 1`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	// The publisher ran to its end on its one connection, the player too.
	if err := pub.wait(t); err != nil {
		t.Fatal(err)
	}
	pts := player.wait(t)
	if len(pts) < 25*10 {
		t.Fatalf("player got %d video packets", len(pts))
	}
	for i := 1; i < len(pts); i++ {
		if pts[i]-pts[i-1] > 0.5 {
			t.Errorf("player: a %.2fs hole at %.2fs", pts[i]-pts[i-1], pts[i-1])
		}
	}

	st2 := fsStore(t, filepath.Join(dir, "store"))
	runs := waitRuns(t, st2, camStream, 2, 30*time.Second)
	if !slices.Equal(runs, []string{pubRun, second}) {
		t.Fatalf("runs %v, want %s then %s", runs, pubRun, second)
	}
	var first, last catalog.Manifest
	for i, run := range runs {
		sr := fetchRun(t, st2, camStream, run)
		counts := checkRun(t, sr) // every segment decodes and starts on a keyframe; run.json ended
		if counts.Video < 25*2 || counts.Audio == 0 {
			t.Errorf("run %s: %+v frames", run, counts)
		}
		if i == 0 {
			first = sr.manifest
		} else {
			last = sr.manifest
		}
		url := "http://" + n.httpAddr + "/hls/live/cam/runs/" + run + "/index.m3u8"
		if out, err := exec.Command("ffmpeg", "-v", "error", "-i", url, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("run %s playlist: %v\n%s", run, err, out)
		}
	}
	if first.EndedAt == nil || !last.StartedAt.After(*first.EndedAt) {
		t.Errorf("second run starts %v, first ended %v", last.StartedAt, first.EndedAt)
	}
	n.stop()
}

// The record policy from configuration: an app with recording off is
// published and played live but stores nothing; another app's segment
// duration is the policy's, not --segment-duration's.
func TestRecControlPolicyEndToEnd(t *testing.T) {
	t.Parallel()
	src, _ := source(t, 13)
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--admin-token", "tok", "--record-policy", "private=off,live=on:4s")
	pubLive := publish(t, src, n.url("live/cam"))
	pubPrivate := publish(t, src, n.url("private/x"))
	time.Sleep(4 * time.Second)

	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-read_intervals", "%+#3",
		"-show_entries", "frame=key_frame", "-of", "csv=p=0", "http://"+n.httpAddr+"/private/x.flv").Output()
	if first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); err != nil || strings.TrimRight(first, ",") != "1" { // "1," when the frame carries side data (x264's SEI)
		t.Errorf("live play of private/x: %v, first frame key_frame=%q", err, first)
	}
	if st := recordingCall(t, n, "GET", "/v1/live/private/x/recording"); st.Recording || st.Policy != "off" || len(st.Runs) != 0 {
		t.Errorf("private/x: %+v", st)
	}
	if st := recordingCall(t, n, "GET", "/v1/live/live/cam/recording"); !st.Recording || st.Policy != "on" || st.SegmentDurationMS != 4000 {
		t.Errorf("live/cam: %+v", st)
	}
	for _, p := range []*publisher{pubLive, pubPrivate} {
		if err := p.wait(t); err != nil {
			t.Fatal(err)
		}
	}

	st := fsStore(t, filepath.Join(dir, "store"))
	runs := waitRuns(t, st, camStream, 1, 30*time.Second)
	sr := fetchRun(t, st, camStream, runs[0])
	checkRun(t, sr)
	if sr.manifest.TargetDurationMS != 4000 || sr.manifest.MaxSegmentDurationMS != 12000 {
		t.Errorf("run.json target %d ms, max %d ms; want 4000 and 12000", sr.manifest.TargetDurationMS, sr.manifest.MaxSegmentDurationMS)
	}
	// 2 s GOPs: every segment but the last is cut at the keyframe at 4 s.
	if len(sr.entries) < 3 {
		t.Fatalf("%d segments in 13 s", len(sr.entries))
	}
	for i, e := range sr.entries[:len(sr.entries)-1] {
		if d := e.Dur().Seconds(); math.Abs(d-4) > 0.1 {
			t.Errorf("segment %d: index says %.3fs, want 4s", e.Seq, d)
		}
		if d := mediatest.Duration(t, sr.segments[i]); math.Abs(d-4) > 0.15 {
			t.Errorf("segment %d: ffprobe says %.3fs, want 4s", e.Seq, d)
		}
	}
	private := catalog.Stream{App: "private", Name: "x"}
	if runs, err := catalog.ListRuns(t.Context(), st, private); err != nil || len(runs) != 0 {
		t.Errorf("private/x is off, yet runs %v (%v)", runs, err)
	}
	n.stop()
	if matches, _ := filepath.Glob(filepath.Join(dir, "spool", "private", "*")); len(matches) != 0 {
		t.Errorf("private/x in the spool: %v", matches)
	}
}
