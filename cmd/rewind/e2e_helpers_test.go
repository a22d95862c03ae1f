package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// binPath is the rewind binary built once by TestMain: the end-to-end
// tests run it as a real subprocess, as users do.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rewind-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "rewind")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build rewind: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is one running `rewind dev` process.
type proc struct {
	t        *testing.T
	args     []string
	env      []string
	rtmpAddr string
	httpAddr string
	cmd      *exec.Cmd
	log      *testproc.Buffer
	exited   chan struct{}
}

// startNode runs `rewind dev` on free ports with the given extra flags.
func startNode(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startRole(t, "dev", env, append([]string{"--segment-duration", "2s"}, args...)...)
}

// startRole runs `rewind <role>` (one with an RTMP and an HTTP address:
// dev, origin, proxy) on free loopback ports with the given extra flags.
func startRole(t *testing.T, role string, env []string, args ...string) *proc {
	t.Helper()
	n := &proc{t: t, env: env, rtmpAddr: freeAddr(t), httpAddr: freeAddr(t)}
	n.args = append([]string{role, "--rtmp-addr", n.rtmpAddr, "--http-addr", n.httpAddr}, args...)
	n.start()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("rewind %s log:\n%s", role, n.log.String())
		}
	})
	return n
}

func (n *proc) start() {
	n.t.Helper()
	n.cmd = exec.Command(binPath, n.args...)
	n.cmd.Env = append(os.Environ(), n.env...)
	if n.log == nil {
		n.log = &testproc.Buffer{}
	}
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func() { n.cmd.Wait(); close(n.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + n.httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-n.exited:
			n.t.Fatalf("rewind exited at start:\n%s", n.log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	n.t.Fatalf("rewind not healthy:\n%s", n.log.String())
}

func (n *proc) kill() {
	if n.cmd.Process != nil {
		n.cmd.Process.Kill()
		<-n.exited
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (n *proc) stop() {
	n.t.Helper()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(60 * time.Second):
		n.t.Fatal("rewind did not stop on SIGTERM")
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		n.t.Fatalf("rewind exited %d", code)
	}
}

func (n *proc) url(stream string) string { return "rtmp://" + n.rtmpAddr + "/" + stream }

// publisher is a running ffmpeg that replays a file over RTMP in real time.
type publisher struct {
	cmd    *exec.Cmd
	out    *testproc.Buffer
	done   chan struct{}
	err    error
	start  time.Time
	finish time.Time
}

func publish(t *testing.T, file, url string) *publisher {
	t.Helper()
	p := &publisher{out: &testproc.Buffer{}, done: make(chan struct{}), start: time.Now()}
	p.cmd = exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", file, "-c", "copy", "-f", "flv", url)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); p.finish = time.Now(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

func (p *publisher) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		t.Fatal("ffmpeg publisher hangs")
	}
	if p.err != nil {
		return fmt.Errorf("ffmpeg: %w: %s", p.err, p.out.String())
	}
	return nil
}

var camStream = catalog.Stream{App: "live", Name: "cam"}

// waitRuns waits until the stream has n runs whose run.json says ended.
func waitRuns(t *testing.T, st store.Store, s catalog.Stream, n int, timeout time.Duration) []string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		runs, err := catalog.ListRuns(ctx, st, s)
		ended := 0
		if err == nil {
			for _, r := range runs {
				if m, err := catalog.ReadManifest(ctx, st, s, r); err == nil && m.State == catalog.StateEnded {
					ended++
				}
			}
		}
		if err == nil && ended >= n {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d ended runs; have %v (%d ended), err %v", n, runs, ended, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// storedRun is what a run holds in the store, fetched to local files.
type storedRun struct {
	manifest catalog.Manifest
	entries  []catalog.Entry
	segments []string // local copies, in index order
	all      string   // their concatenation
}

func fetchRun(t *testing.T, st store.Store, s catalog.Stream, run string) storedRun {
	t.Helper()
	ctx := context.Background()
	var sr storedRun
	var err error
	if sr.manifest, err = catalog.ReadManifest(ctx, st, s, run); err != nil {
		t.Fatal(err)
	}
	if sr.entries, err = catalog.ReadIndex(ctx, st, s, run); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sr.all = filepath.Join(dir, "all.ts")
	all, err := os.Create(sr.all)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	for _, e := range sr.entries {
		rc, info, err := st.Get(ctx, catalog.SegmentKey(s, run, e.Seq), nil)
		if err != nil {
			t.Fatalf("segment %d: %v", e.Seq, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != int64(e.Size) || info.Size != int64(e.Size) {
			t.Errorf("segment %d is %d bytes, index says %d", e.Seq, len(b), e.Size)
		}
		p := filepath.Join(dir, fmt.Sprintf("%d.ts", e.Seq))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		all.Write(b)
		sr.segments = append(sr.segments, p)
	}
	// Nothing but listed segments under seg/.
	res, err := st.List(ctx, catalog.SegmentPrefix(s, run), store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != len(sr.entries) {
		t.Errorf("%d segment objects, %d index entries", len(res.Objects), len(sr.entries))
	}
	return sr
}

// checkRun asserts what DESIGN.md promises of a finished run: every segment
// decodes on its own and starts on a keyframe, the index lists them in order
// with durations that sum to the media, and run.json says ended.
func checkRun(t *testing.T, sr storedRun) mediatest.Counts {
	t.Helper()
	if sr.manifest.State != catalog.StateEnded || sr.manifest.EndedAt == nil {
		t.Errorf("run.json: state %q ended_at %v", sr.manifest.State, sr.manifest.EndedAt)
	}
	if len(sr.entries) == 0 {
		t.Fatal("no segments")
	}
	var sum time.Duration
	for i, e := range sr.entries {
		if e.Seq != uint64(i+1) {
			t.Errorf("entry %d: seq %d", i, e.Seq)
		}
		if i > 0 && e.StartMS < sr.entries[i-1].StartMS {
			t.Errorf("entry %d starts before entry %d", i, i-1)
		}
		sum += e.Dur()
		mediatest.CountFrames(t, sr.segments[i]) // fails on decoder errors
		if f := mediatest.Frames(t, sr.segments[i], "v"); len(f) == 0 || f[0].KeyFrame != 1 {
			t.Errorf("segment %d does not start on a keyframe", e.Seq)
		}
	}
	if d := mediatest.Duration(t, sr.all); math.Abs(d-sum.Seconds()) > 0.15 {
		t.Errorf("index durations sum to %.3fs, the media lasts %.3fs", sum.Seconds(), d)
	}
	return mediatest.CountFrames(t, sr.all)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
