package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/internal/s3test"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// apart is an origin that only slices (--agent external) and a rewind
// agent uploading its spool, sharing one S3 store (versitygw).
type apart struct {
	t      *testing.T
	srv    *s3test.Server
	url    string
	st     store.Store
	spool  string
	origin *proc
	agent  *proc
}

func startApart(t *testing.T, agentArgs ...string) *apart {
	t.Helper()
	srv := s3test.Start(t)
	prefix := "t-" + testproc.RandHex(6) + "/"
	a := &apart{t: t, srv: srv, url: srv.URL(prefix), st: srv.StoreAt(t, prefix), spool: filepath.Join(t.TempDir(), "spool")}
	a.origin = startRole(t, "origin", srv.Env(), "--store", a.url, "--s3-path-style", "--spool", a.spool,
		"--agent", "external", "--node", "nodea", "--segment-duration", "2s")
	a.agent = a.startAgent(agentArgs...)
	return a
}

// startAgent runs `rewind agent` on the origin's spool and store (it has
// no RTMP address, so not through startRole).
func (a *apart) startAgent(extra ...string) *proc {
	a.t.Helper()
	p := &proc{t: a.t, env: a.srv.Env(), httpAddr: freeAddr(a.t)}
	p.args = append([]string{"agent", "--http-addr", p.httpAddr, "--store", a.url, "--s3-path-style",
		"--spool", a.spool, "--scan-interval", "100ms", "--upload-retry-max", "1s"}, extra...)
	p.start()
	a.t.Cleanup(func() {
		p.kill()
		if a.t.Failed() {
			a.t.Logf("rewind agent log:\n%s", p.log.String())
		}
	})
	return p
}

// runDirOf waits for the one run directory of live/cam in the spool.
func (a *apart) runDirOf() string {
	a.t.Helper()
	var dirs []string
	waitUntil(a.t, 10*time.Second, "a run directory in the spool", func() bool {
		dirs, _ = filepath.Glob(filepath.Join(a.spool, "live", "cam", "2*"))
		return len(dirs) == 1
	})
	return dirs[0]
}

// spooledTS counts the finished segments waiting in a run directory.
func spooledTS(dir string) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*.ts"))
	return len(files)
}

func indexedEntries(st store.Store, run string) int {
	e, _ := catalog.ReadIndex(context.Background(), st, camStream, run)
	return len(e)
}

// metricSum sums the samples of a metric family on a process's /metrics
// (-1: the family has no sample at all).
func metricSum(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	sum, seen := 0.0, false
	sc := bufio.NewScanner(strings.NewReader(httpGet(t, "http://"+p.httpAddr+"/metrics")))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum, seen = sum+v, true
	}
	if !seen {
		return -1
	}
	return sum
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// kill -9 of the agent mid-upload: the publisher and a live HTTP-FLV
// player go on untouched while the spool grows; the restarted agent stores
// and indexes every segment, and the recording holds every published frame.
// The live process never talks to the store for recordings.
func TestAgentKill(t *testing.T) {
	t.Parallel()
	mediatest.Require(t)
	src := mediatest.WriteFLV(t, t.TempDir(), "src", mediatest.Source{Seconds: 30, Bitrate: "2500k"})
	want := mediatest.CountFrames(t, src)
	// Capped below the stream's ~180 kB/s, the first agent is always in
	// the middle of an upload, with a backlog behind it.
	a := startApart(t, "--upload-bandwidth", "100000")
	pub := publish(t, src, a.origin.url("live/cam"))
	dir := a.runDirOf()
	run := filepath.Base(dir)
	time.Sleep(time.Second)
	out := filepath.Join(t.TempDir(), "player.flv")
	player := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-i", "http://"+a.origin.httpAddr+"/live/cam.flv", "-c", "copy", "-f", "flv", "-y", out)
	playerOut := &testproc.Buffer{}
	player.Stdout, player.Stderr = playerOut, playerOut
	if err := player.Start(); err != nil {
		t.Fatal(err)
	}
	playerDone := make(chan error, 1)
	go func() { playerDone <- player.Wait() }()
	t.Cleanup(func() { player.Process.Kill() })

	waitUntil(t, 15*time.Second, "a segment indexed by the agent", func() bool { return indexedEntries(a.st, run) > 0 })
	time.Sleep(3 * time.Second)
	a.agent.kill()
	killedAt := indexedEntries(a.st, run)
	spooled, played := spooledTS(dir), fileSize(out)
	t.Logf("agent killed with %d segments indexed, %d in the spool, player at %d bytes", killedAt, spooled, played)
	if spooled == 0 {
		t.Error("no backlog in the spool when the agent died: it was not mid-upload")
	}
	time.Sleep(8 * time.Second)
	select {
	case <-pub.done:
		t.Fatalf("the publisher stopped while the agent was dead: %v %s", pub.err, pub.out.String())
	case err := <-playerDone:
		t.Fatalf("the player stopped while the agent was dead: %v %s", err, playerOut.String())
	default:
	}
	if n := spooledTS(dir); n < spooled+3 {
		t.Errorf("spool went from %d to %d segments in 8 s without an agent, want it to grow by about 4", spooled, n)
	}
	if n := fileSize(out); n < played+8*100_000 {
		t.Errorf("player went from %d to %d bytes in 8 s without an agent", played, n)
	}
	if n := indexedEntries(a.st, run); n != killedAt {
		t.Errorf("%d segments indexed while no agent ran, %d at the kill", n, killedAt)
	}

	a.agent = a.startAgent() // no cap: it catches up
	if err := pub.wait(t); err != nil {
		t.Fatal(err)
	}
	if d := pub.finish.Sub(pub.start); d > 34*time.Second {
		t.Errorf("a 30 s publish took %v", d)
	}
	select {
	case err := <-playerDone:
		if err != nil {
			t.Errorf("player: %v %s", err, playerOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Error("the player did not end with the stream")
	}
	if got := mediatest.CountFrames(t, out); got.Video < want.Video-3*25 {
		t.Errorf("the player got %d video frames of the %d published", got.Video, want.Video)
	}

	runs := waitRuns(t, a.st, camStream, 1, 40*time.Second)
	got := checkRun(t, fetchRun(t, a.st, camStream, runs[0]))
	if got != want {
		t.Errorf("stored frames %+v, published %+v", got, want)
	}
	if v := metricSum(t, a.origin, "rewind_recorder_store_requests_total"); v != -1 {
		t.Errorf("the origin made %v recorder store requests; with --agent external it makes none", v)
	}
	if v := metricSum(t, a.agent, "rewind_recorder_segments_uploaded_total"); v <= 0 {
		t.Errorf("the restarted agent uploaded %v segments", v)
	}
	waitUntil(t, 10*time.Second, "an empty spool", func() bool {
		e, _ := os.ReadDir(a.spool)
		return len(e) == 0
	})
	a.origin.stop()
	a.agent.stop()
}

// kill -9 of the live process: the agent goes on uploading what is
// spooled, sees the run's lock dropped, keeps its torn last segment and
// ends it, with no origin restart; a restarted origin records again
// through the same agent.
func TestAgentOriginKill(t *testing.T) {
	t.Parallel()
	mediatest.Require(t)
	src := mediatest.WriteFLV(t, t.TempDir(), "src", mediatest.Source{Seconds: 30, Bitrate: "2500k"})
	// Capped below the stream's rate: segments wait in the spool.
	a := startApart(t, "--upload-bandwidth", "120000")
	pub := publish(t, src, a.origin.url("live/cam"))
	dir := a.runDirOf()
	run := filepath.Base(dir)
	time.Sleep(9 * time.Second)
	a.origin.kill()
	killedAfter := time.Since(pub.start)
	pub.wait(t) // it fails: its server died
	spooled, indexed := spooledTS(dir), indexedEntries(a.st, run)
	t.Logf("origin killed after %v: %d segments indexed, %d waiting in the spool", killedAfter, indexed, spooled)
	if spooled == 0 {
		t.Error("nothing waited in the spool when the origin died")
	}

	runs := waitRuns(t, a.st, camStream, 1, 40*time.Second)
	sr := fetchRun(t, a.st, camStream, runs[0])
	got := checkRun(t, sr)
	if len(sr.entries) <= indexed {
		t.Errorf("%d segments indexed in the end, %d when the origin died: the spool was not uploaded", len(sr.entries), indexed)
	}
	log := a.agent.log.String()
	for _, s := range []string{"ended a run whose slicer died", "kept torn segment"} {
		if !strings.Contains(log, s) {
			t.Errorf("agent log lacks %q", s)
		}
	}
	var recorded time.Duration
	for _, e := range sr.entries {
		recorded += e.Dur()
	}
	// All media sent before the kill, less what was in flight.
	if recorded < killedAfter-2*time.Second || recorded > killedAfter+time.Second {
		t.Errorf("recorded %v of media, killed after %v", recorded, killedAfter)
	}
	if got.Video < int(recorded.Seconds()*25)-3 {
		t.Errorf("%d video frames for %v", got.Video, recorded)
	}
	last := sr.entries[len(sr.entries)-1]
	if end := last.Start().Add(last.Dur()); sr.manifest.EndedAt == nil || sr.manifest.EndedAt.Sub(end).Abs() > time.Millisecond {
		t.Errorf("ended_at %v, the last segment ends %v", sr.manifest.EndedAt, end)
	}

	a.origin.start() // same flags, same spool
	short, want := source(t, 6)
	if err := publish(t, short, a.origin.url("live/cam")).wait(t); err != nil {
		t.Fatal(err)
	}
	runs = waitRuns(t, a.st, camStream, 2, 40*time.Second)
	if len(runs) != 2 || runs[0] != run {
		t.Fatalf("runs %v, want %s and a new one", runs, run)
	}
	if got := checkRun(t, fetchRun(t, a.st, camStream, runs[1])); got != want {
		t.Errorf("after the restart: stored %+v, published %+v", got, want)
	}
	waitUntil(t, 10*time.Second, "an empty spool", func() bool {
		e, _ := os.ReadDir(a.spool)
		return len(e) == 0
	})
	a.origin.stop()
	a.agent.stop()
}
