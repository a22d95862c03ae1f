package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/infra/store/s3store"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/internal/s3test"
)

// source12 is the publisher: 12 s of testsrc2 + sine, libx264 with
// B-frames and a 2 s GOP, AAC; encoded once, replayed in real time.
func source(t *testing.T, seconds float64) (string, mediatest.Counts) {
	t.Helper()
	mediatest.Require(t)
	f := mediatest.WriteFLV(t, t.TempDir(), "src", mediatest.Source{Seconds: seconds})
	return f, mediatest.CountFrames(t, f)
}

func fsStore(t *testing.T, root string) store.Store {
	t.Helper()
	st, err := fsstore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRecordEndToEndFS(t *testing.T) {
	t.Parallel()
	src, want := source(t, 12)
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"), "--reconnect-window", "2s")
	p := publish(t, src, n.url("live/cam"))
	// While live, the latest-recording playlist is an EVENT that grows.
	url := "http://" + n.httpAddr + "/hls/live/cam/index.m3u8"
	time.Sleep(7 * time.Second)
	if body := httpGet(t, url); !strings.Contains(body, "#EXT-X-PLAYLIST-TYPE:EVENT") || strings.Contains(body, "#EXT-X-ENDLIST") {
		t.Errorf("live playlist is not a growing EVENT:\n%s", body)
	}
	// The same HTTP address plays the live stream as FLV, from a keyframe.
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-read_intervals", "%+#3",
		"-show_entries", "frame=key_frame", "-of", "csv=p=0", "http://"+n.httpAddr+"/live/cam.flv").Output()
	if first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); err != nil || strings.TrimRight(first, ",") != "1" { // "1," when the frame carries side data (x264's SEI)
		t.Errorf("live HTTP-FLV: %v, first frame key_frame=%q", err, first)
	}
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}
	st := fsStore(t, filepath.Join(dir, "store"))
	runs := waitRuns(t, st, camStream, 1, 20*time.Second)
	got := checkRun(t, fetchRun(t, st, camStream, runs[0]))
	if got != want {
		t.Errorf("stored frames %+v, published %+v", got, want)
	}
	// Once no reconnect can join it any more, the same EVENT gets ENDLIST
	// (it was VOD here before: a live URL may only append), and rewind dev
	// replays it.
	deadline := time.Now().Add(30 * time.Second)
	for body := httpGet(t, url); !strings.Contains(body, "#EXT-X-PLAYLIST-TYPE:EVENT") || !strings.Contains(body, "#EXT-X-ENDLIST"); body = httpGet(t, url) {
		if time.Now().After(deadline) {
			t.Fatalf("playlist did not end:\n%s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", url, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("replay of the recording: %v\n%s", err, out)
	}
	n.stop()
}

func s3Node(t *testing.T, srv *s3test.Server, dir string, args ...string) (*proc, store.Store) {
	t.Helper()
	st := srv.Store(t)
	prefix := st.(*s3store.S3).Prefix()
	args = append([]string{"--store", "s3://" + srv.Bucket + "/" + strings.TrimSuffix(prefix, "/"),
		"--s3-path-style", "--spool", filepath.Join(dir, "spool")}, args...)
	return startNode(t, srv.Env(), args...), st
}

func TestRecordEndToEndS3(t *testing.T) {
	t.Parallel()
	src, want := source(t, 12)
	srv := s3test.Start(t)
	n, st := s3Node(t, srv, t.TempDir())
	if err := publish(t, src, n.url("live/cam")).wait(t); err != nil {
		t.Fatal(err)
	}
	runs := waitRuns(t, st, camStream, 1, 20*time.Second)
	got := checkRun(t, fetchRun(t, st, camStream, runs[0]))
	if got != want {
		t.Errorf("stored frames %+v, published %+v", got, want)
	}
	n.stop()
}

// Every publish is its own run; reject refuses a second live publisher.
func TestTwoPublishesAndReject(t *testing.T) {
	t.Parallel()
	src, want := source(t, 5)
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"), "--takeover", "reject")
	first := publish(t, src, n.url("live/cam"))
	time.Sleep(2 * time.Second)
	if err := publish(t, src, n.url("live/cam")).wait(t); err == nil {
		t.Error("second publisher of a live stream was accepted under reject")
	}
	if err := first.wait(t); err != nil {
		t.Fatalf("first publisher: %v", err)
	}
	if err := publish(t, src, n.url("live/cam")).wait(t); err != nil {
		t.Fatal(err)
	}
	st := fsStore(t, filepath.Join(dir, "store"))
	runs := waitRuns(t, st, camStream, 2, 20*time.Second)
	if len(runs) != 2 {
		t.Fatalf("runs %v, want 2", runs)
	}
	if runs[0] >= runs[1] {
		t.Errorf("run ids do not sort by time: %v", runs)
	}
	for _, r := range runs {
		if got := checkRun(t, fetchRun(t, st, camStream, r)); got != want {
			t.Errorf("run %s: frames %+v, published %+v", r, got, want)
		}
	}
}

// replace: the newcomer takes over mid-stream; the old run ends cleanly.
func TestTakeoverReplace(t *testing.T) {
	t.Parallel()
	src, want := source(t, 8)
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"), "--takeover", "replace")
	first := publish(t, src, n.url("live/cam"))
	time.Sleep(5 * time.Second)
	second := publish(t, src, n.url("live/cam"))
	if err := first.wait(t); err == nil && first.finish.Sub(first.start) > 7*time.Second {
		t.Error("the first publisher was not disconnected")
	}
	if err := second.wait(t); err != nil {
		t.Fatal(err)
	}
	st := fsStore(t, filepath.Join(dir, "store"))
	runs := waitRuns(t, st, camStream, 2, 20*time.Second)
	if len(runs) != 2 {
		t.Fatalf("runs %v, want 2", runs)
	}
	old := fetchRun(t, st, camStream, runs[0])
	checkRun(t, old)
	if d := old.entries[len(old.entries)-1].EndMS() - old.entries[0].StartMS; d < 3000 || d > 7000 {
		t.Errorf("old run lasts %d ms, want about 5 s", d)
	}
	if got := checkRun(t, fetchRun(t, st, camStream, runs[1])); got != want {
		t.Errorf("new run: frames %+v, published %+v", got, want)
	}
	// The old run ended before the new one started.
	if old.manifest.EndedAt.After(time.Now()) {
		t.Error("old run ended in the future")
	}
}

// kill -9 mid-publish, restart: every segment up to the kill is stored and
// indexed, the torn one included and decodable.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	src, _ := source(t, 12)
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"))
	p := publish(t, src, n.url("live/cam"))
	time.Sleep(7 * time.Second)
	n.kill()
	killedAfter := time.Since(p.start)
	p.wait(t)
	n.start() // same flags, same spool
	st := fsStore(t, filepath.Join(dir, "store"))
	runs := waitRuns(t, st, camStream, 1, 30*time.Second)
	sr := fetchRun(t, st, camStream, runs[0])
	got := checkRun(t, sr)
	if !strings.Contains(n.log.String(), "kept torn segment") {
		t.Error("no torn segment was recovered")
	}
	var recorded time.Duration
	for _, e := range sr.entries {
		recorded += e.Dur()
	}
	// All media sent before the kill, less what was in flight (network,
	// the frame being written).
	if recorded < killedAfter-2*time.Second || recorded > killedAfter+time.Second {
		t.Errorf("recorded %v of media, killed after %v", recorded, killedAfter)
	}
	if got.Video < int(recorded.Seconds()*25)-3 {
		t.Errorf("%d video frames for %v", got.Video, recorded)
	}
	n.stop()
}

// The store goes away for 20 s mid-publish: ingest goes on, the spool
// grows, and when the store is back every segment arrives and is indexed.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	src, want := source(t, 30)
	srv := s3test.Start(t)
	n, st := s3Node(t, srv, t.TempDir(), "--upload-retry-max", "1s")
	p := publish(t, src, n.url("live/cam"))
	time.Sleep(5 * time.Second)
	srv.Stop()
	time.Sleep(20 * time.Second)
	srv.Restart()
	if err := p.wait(t); err != nil {
		t.Fatalf("ingest interrupted: %v", err)
	}
	if d := p.finish.Sub(p.start); d > 34*time.Second {
		t.Errorf("a 30 s publish took %v: ingest waited for the store", d)
	}
	runs := waitRuns(t, st, camStream, 1, 30*time.Second)
	got := checkRun(t, fetchRun(t, st, camStream, runs[0]))
	if got != want {
		t.Errorf("stored frames %+v, published %+v", got, want)
	}
	if !strings.Contains(n.log.String(), "store put failed, retrying") {
		t.Error("the outage was not seen")
	}
	n.stop()
}

// SIGTERM during a publish: readyz fails at once and new publishes are
// refused; the live publisher goes on until the drain timeout, then its run
// is ended, the spool uploaded, and the process exits 0.
func TestDrainOnSIGTERM(t *testing.T) {
	t.Parallel()
	src, _ := source(t, 12)
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--drain-timeout", "3s", "--admin-token", "tok")
	p := publish(t, src, n.url("live/cam"))
	time.Sleep(4 * time.Second)
	n.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	resp, err := http.Get("http://" + n.httpAddr + "/readyz")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz while draining: %v %v", err, resp)
	}
	if err := publish(t, src, n.url("live/other")).wait(t); err == nil {
		t.Error("a new publish was accepted while draining")
	}
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("did not exit after the drain")
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	p.wait(t)
	if d := p.finish.Sub(p.start); d < 6*time.Second || d > 10*time.Second {
		t.Errorf("the publisher was cut after %v, want about 4 s + the 3 s drain", d)
	}
	st := fsStore(t, filepath.Join(dir, "store"))
	runs := waitRuns(t, st, camStream, 1, time.Second) // already there: nothing left to do after exit
	sr := fetchRun(t, st, camStream, runs[0])
	checkRun(t, sr)
	if d := sr.entries[len(sr.entries)-1].EndMS() - sr.entries[0].StartMS; d < 5500 {
		t.Errorf("run holds %d ms; the publisher was live about 7 s", d)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "spool")); len(entries) != 0 {
		t.Errorf("spool not empty after the drain: %v", entries)
	}
}
