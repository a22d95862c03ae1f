package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/browsertest"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/internal/nginxtest"
)

// startCDN runs one nginx as a CDN in front of rewind's replay API at
// origin: a caching reverse proxy that names itself to the origin with
// X-Rewind-CDN, so the CMCD on its misses is counted against it. The
// cache key leaves the query out: hls.js's CMCD query differs on every
// request.
func startCDN(t *testing.T, name, origin string) *nginxtest.Server {
	t.Helper()
	return nginxtest.StartHTTP(t, func(addr, dir string) string {
		return fmt.Sprintf(`  proxy_cache_path %s levels=1:2 keys_zone=%s:1m max_size=200m inactive=10m use_temp_path=off;
  log_format cdn '$remote_addr "$request" $status $upstream_cache_status';
  access_log %s cdn;
  server {
    listen %s;
    location / {
      proxy_pass http://%s;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Rewind-CDN %s;
      proxy_cache %s;
      proxy_cache_key $uri;
      proxy_cache_lock on;
      add_header X-Cache $upstream_cache_status always;
    }
  }`, filepath.Join(dir, "cache"), name, filepath.Join(dir, "cdn.log"), addr, origin, name, name)
	})
}

// pageState is what the test page reports (testdata/sched/player.js).
type pageState struct {
	Now         int64   `json:"now"`
	SID         string  `json:"sid"`
	CurrentTime float64 `json:"currentTime"`
	Paused      bool    `json:"paused"`
	Playing     bool    `json:"playing"`
	Manifests   []struct {
		At       int64    `json:"at"`
		URL      string   `json:"url"`
		Priority []string `json:"priority"`
	} `json:"manifests"`
	Frags []struct {
		At  int64  `json:"at"`
		CDN string `json:"cdn"`
		URL string `json:"url"`
	} `json:"frags"`
	Fatal    []pageError `json:"fatal"`
	NonFatal []pageError `json:"nonFatal"`
	Pathways []struct {
		At      int64  `json:"at"`
		Pathway string `json:"pathway"`
	} `json:"pathways"`
	Beacons      map[string]int `json:"beacons"`
	BeaconErrors []string       `json:"beaconErrors"`
	PageErrors   []string       `json:"pageErrors"`
	Console      []string       `json:"console"`
}

type pageError struct {
	At   int64  `json:"at"`
	CDN  string `json:"cdn"`
	What string `json:"what"`
	URL  string `json:"url"`
}

// firstManifestSince is the first steering manifest the page loaded at or
// after since (ms) whose PATHWAY-PRIORITY starts with cdn, or nil.
func (s *pageState) firstManifestSince(since int64, cdn string) *int64 {
	for _, m := range s.Manifests {
		if m.At >= since && len(m.Priority) > 0 && m.Priority[0] == cdn {
			return &m.At
		}
	}
	return nil
}

// fragsSince counts the fragments loaded from cdn at or after since (ms).
func (s *pageState) fragsSince(since int64, cdn string) int {
	n := 0
	for _, f := range s.Frags {
		if f.At >= since && f.CDN == cdn {
			n++
		}
	}
	return n
}

// browserRun is the running driver (testdata/sched/steer.cjs).
type browserRun struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	last  pageState
	final *pageState
	ended chan struct{}
	errs  strings.Builder
}

func (b *browserRun) state() pageState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// stop asks the driver for its final report and waits for it.
func (b *browserRun) stop(t *testing.T) pageState {
	t.Helper()
	io.WriteString(b.stdin, "stop\n")
	b.stdin.Close()
	select {
	case <-b.ended:
	case <-time.After(30 * time.Second):
		b.cmd.Process.Kill()
		<-b.ended
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.final == nil {
		t.Errorf("no final report from the browser; stderr:\n%s", b.errs.String())
		return b.last
	}
	return *b.final
}

func startBrowser(t *testing.T, nm string, args ...string) *browserRun {
	t.Helper()
	b := &browserRun{ended: make(chan struct{})}
	b.cmd = browsertest.Command(nm, "testdata/sched/steer.cjs", args...)
	// Its own process group, so that the cleanup ends Chromium with it.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.cmd.Stderr = &syncWriter{mu: &b.mu, w: &b.errs}
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(b.ended)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
		for sc.Scan() {
			var line struct {
				Status *pageState `json:"status"`
				Final  *pageState `json:"final"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				b.mu.Lock()
				fmt.Fprintf(&b.errs, "unparsed line %q: %v\n", sc.Text(), err)
				b.mu.Unlock()
				continue
			}
			b.mu.Lock()
			if line.Status != nil {
				b.last = *line.Status
			}
			if line.Final != nil {
				b.final, b.last = line.Final, *line.Final
			}
			b.mu.Unlock()
		}
		b.cmd.Wait()
	}()
	t.Cleanup(func() {
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.ended
	})
	return b
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// metricValue sums the samples of a metric in a Prometheus text exposition
// whose labels include all of want (name="value" pairs).
func metricValue(exposition, name string, want ...string) float64 {
	var sum float64
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? (\S+)$`)
	for _, line := range strings.Split(exposition, "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(m[1], w)
		}
		if v, err := strconv.ParseFloat(m[2], 64); ok && err == nil {
			sum += v
		}
	}
	return sum
}

// TestSchedSteering is the multi-CDN scheduler end to end: two real HTTP
// caches (nginx) as cdn-a (cheaper) and cdn-b in front of `rewind dev`,
// and hls.js 1.7.4 in Chromium playing a recording through dev's steered
// multivariant playlist, with CMCD on and the JSON beacon an SDK would
// send. The policy prefers cdn-a; when cdn-a's nginx is stopped mid-play,
// the player's errors on it reach the collector, the policy fails cdn-a,
// the steering manifest ranks cdn-b first and the player's fragments come
// from cdn-b; once cdn-a is back on its port (its probes pass again) and
// the recover and dwell times have passed, the manifest ranks cdn-a first
// again and the fragments come from cdn-a. Playback never stops with a
// fatal error.
func TestSchedSteering(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Fatal("nginx not found: run `make deps`")
	}
	nm := browsertest.NodeModules(t, "hls.js/dist/hls.min.js")
	mediatest.Require(t)

	// A 90 s recording of 1 s segments, published faster than real time:
	// the test plays about 35 s of it, the rest is slack for a slow machine.
	src := mediatest.WriteFLV(t, t.TempDir(), "src", mediatest.Source{Seconds: 90, GOP: 25})
	dir := t.TempDir()
	const span, recoverAfter = 6 * time.Second, 4 * time.Second
	dev := &proc{t: t, rtmpAddr: freeAddr(t), httpAddr: freeAddr(t)}
	cdnA, cdnB := startCDN(t, "cdn-a", dev.httpAddr), startCDN(t, "cdn-b", dev.httpAddr)
	cdnOf := map[string]string{cdnA.Addr: "cdn-a", cdnB.Addr: "cdn-b"}
	cdns := fmt.Sprintf("cdn-a;hls=http://%[1]s;probe=http://%[1]s/healthz;billing=per_gb:*@0.01 cdn-b;hls=http://%[2]s;probe=http://%[2]s/healthz;billing=per_gb:*@0.05",
		cdnA.Addr, cdnB.Addr)
	dev.args = []string{"dev", "--rtmp-addr", dev.rtmpAddr, "--http-addr", dev.httpAddr,
		"--segment-duration", "1s", "--store", "file://" + filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--cdns", cdns, "--steer-public-url", "http://" + dev.httpAddr, "--steer-ttl", "1s",
		"--sched-interval", "1s", "--sched-span", span.String(), "--sched-min-sessions", "1", "--sched-min-attempts", "2",
		"--sched-recover-after", recoverAfter.String(), "--sched-min-dwell", "4s", "--probe-interval", "500ms", "--probe-timeout", "400ms"}
	dev.start()
	t.Cleanup(func() {
		dev.kill()
		if t.Failed() {
			t.Logf("rewind dev log:\n%s", dev.log.String())
		}
	})

	pub := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", src, "-c", "copy", "-f", "flv", dev.url("live/cam"))
	if out, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	runs := waitRuns(t, fsStore(t, filepath.Join(dir, "store")), camStream, 1, 30*time.Second)
	// Both are caches: a segment's second request is a hit, whatever its
	// query (CMCD differs on every request).
	for _, c := range []*nginxtest.Server{cdnA, cdnB} {
		for i, want := range []string{"MISS", "HIT"} {
			resp, err := http.Get(fmt.Sprintf("http://%s/hls/live/cam/%s/1.ts?CMCD=sid%%3D%%22x%d%%22", c.Addr, runs[0], i))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if got := resp.Header.Get("X-Cache"); resp.StatusCode != 200 || got != want {
				t.Errorf("%s: request %d of a segment: %d, X-Cache %q, want 200 %s", cdnOf[c.Addr], i+1, resp.StatusCode, got, want)
			}
		}
	}

	front := http.NewServeMux()
	front.HandleFunc("/hls.min.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(nm, "hls.js", "dist", "hls.min.js"))
	})
	front.HandleFunc("/player.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "testdata/sched/player.js")
	})
	front.HandleFunc("/page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><html><body><video id="video" muted playsinline></video><script src="/hls.min.js"></script><script src="/player.js"></script></body></html>`)
	})
	pageSrv := httptest.NewServer(front)
	defer pageSrv.Close()

	config, _ := json.Marshal(map[string]any{"cdns": cdnOf, "beacon": "http://" + dev.httpAddr + "/v1/qos/beacon", "stream": "live/cam"})
	playlist := "http://" + dev.httpAddr + "/v1/steer/hls/live/cam/runs/" + runs[0] + "/index.m3u8"
	br := startBrowser(t, nm, pageSrv.URL+"/page.html", playlist, string(config), "170000")

	var steps []string // what happened when, for the failure report
	t0 := time.Now()
	step := func(format string, args ...any) {
		s := fmt.Sprintf("%6.2fs ", time.Since(t0).Seconds()) + fmt.Sprintf(format, args...)
		steps = append(steps, s)
		t.Log(s)
	}
	report := func(st pageState) {
		for _, s := range steps {
			t.Logf("step %s", s)
		}
		for _, m := range st.Manifests {
			t.Logf("manifest at %+.2fs %v", float64(m.At-t0.UnixMilli())/1000, m.Priority)
		}
		for _, f := range st.Frags {
			t.Logf("fragment at %+.2fs %s %s", float64(f.At-t0.UnixMilli())/1000, f.CDN, f.URL)
		}
		for _, e := range append(st.Fatal, st.NonFatal...) {
			t.Logf("hls.js error at %+.2fs %s %s %s", float64(e.At-t0.UnixMilli())/1000, e.CDN, e.What, e.URL)
		}
		t.Logf("pathways %v; beacons %v %v; page errors %v; console %v", st.Pathways, st.Beacons, st.BeaconErrors, st.PageErrors, st.Console)
		t.Logf("played to %.2fs (paused %v)", st.CurrentTime, st.Paused)
		if resp, err := http.Get("http://" + dev.httpAddr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("dev metrics:\n%s", schedMetrics(string(b)))
		}
		for name, c := range map[string]*nginxtest.Server{"cdn-a": cdnA, "cdn-b": cdnB} {
			b, _ := os.ReadFile(filepath.Join(c.Dir, "cdn.log"))
			t.Logf("%s access log:\n%s", name, b)
		}
		t.Logf("browser stderr:\n%s", br.errs.String())
	}
	// waitFor polls the page's reports until cond holds; on timeout or a
	// fatal hls.js error it fails with the diagnostics.
	waitFor := func(what string, d time.Duration, cond func(st *pageState) bool) pageState {
		t.Helper()
		deadline := time.Now().Add(d)
		for {
			st := br.state()
			if len(st.Fatal) > 0 {
				report(br.stop(t))
				t.Fatalf("fatal hls.js error while waiting for %s: %+v", what, st.Fatal)
			}
			if cond(&st) {
				step("%s (played to %.2fs)", what, st.CurrentTime)
				return st
			}
			select {
			case <-br.ended:
				report(br.stop(t))
				t.Fatalf("browser ended while waiting for %s", what)
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				report(br.stop(t))
				t.Fatalf("%s: not within %s", what, d)
			}
		}
	}
	ms := func(tm time.Time) int64 { return tm.UnixMilli() }

	// Phase 1: both healthy, cdn-a (cheaper) first.
	waitFor("playing from cdn-a, which the steering server ranks first", 60*time.Second, func(st *pageState) bool {
		return st.CurrentTime > 2 && st.fragsSince(0, "cdn-a") >= 3 && st.firstManifestSince(0, "cdn-a") != nil
	})
	if st := br.state(); st.fragsSince(0, "cdn-b") > 0 {
		t.Errorf("%d fragments from cdn-b while cdn-a was first and healthy", st.fragsSince(0, "cdn-b"))
	}

	// Phase 2: cdn-a goes down.
	cdnA.Stop()
	down := time.Now()
	step("cdn-a stopped")
	downTime := waitFor("the steering server ranks cdn-b first", 20*time.Second, func(st *pageState) bool {
		return st.firstManifestSince(ms(down), "cdn-b") != nil
	}).CurrentTime
	waitFor("fragments from cdn-b while cdn-a is down", 20*time.Second, func(st *pageState) bool {
		return st.fragsSince(ms(down), "cdn-b") >= 3 && st.CurrentTime > downTime+2
	})
	// It stays down until the player's errors have left the scoring window
	// and the recover time has passed: its failing probes must keep it
	// failed.
	if st := br.state(); st.firstManifestSince(ms(down), "cdn-b") != nil {
		time.Sleep(time.Until(time.UnixMilli(*st.firstManifestSince(ms(down), "cdn-b")).Add(span + recoverAfter + 2*time.Second)))
	}

	// Phase 3: cdn-a is back on its port.
	cdnA.Start()
	back := time.Now()
	step("cdn-a started again")
	st := waitFor("the steering server ranks cdn-a first again", 40*time.Second, func(st *pageState) bool {
		return st.firstManifestSince(ms(back), "cdn-a") != nil
	})
	firstA := *st.firstManifestSince(ms(back), "cdn-a")
	backTime := waitFor("fragments from cdn-a again", 20*time.Second, func(st *pageState) bool {
		return st.fragsSince(firstA, "cdn-a") >= 3
	}).CurrentTime
	waitFor("playback goes on", 20*time.Second, func(st *pageState) bool { return st.CurrentTime > backTime+2 })

	final := br.stop(t)
	metrics := httpGet(t, "http://"+dev.httpAddr+"/metrics")
	if len(final.Fatal) > 0 || len(final.PageErrors) > 0 {
		t.Errorf("fatal hls.js errors %+v; page errors %v", final.Fatal, final.PageErrors)
	}
	// From the first manifest that ranked cdn-b first after cdn-a stopped
	// until cdn-a was back, every manifest ranked cdn-b first: no flapping
	// to the dead CDN once its errors left the scoring window (its probes
	// keep it failed).
	if at := final.firstManifestSince(ms(down), "cdn-b"); at != nil {
		for _, m := range final.Manifests {
			if m.At >= *at && m.At < ms(back) && (len(m.Priority) == 0 || m.Priority[0] != "cdn-b") {
				t.Errorf("manifest %+.2fs after cdn-a stopped ranks %v", float64(m.At-ms(down))/1000, m.Priority)
			}
		}
	}
	// hls.js followed: the _HLS_pathway it sent with each reload changed
	// from cdn-a to cdn-b and back.
	var sent []string
	for _, m := range final.Manifests {
		u, err := url.Parse(m.URL)
		if err != nil {
			t.Errorf("manifest URL %q: %v", m.URL, err)
			continue
		}
		if p := u.Query().Get("_HLS_pathway"); p != "" && (len(sent) == 0 || sent[len(sent)-1] != p) {
			sent = append(sent, p)
		}
	}
	if !slices.Equal(sent, []string{"cdn-a", "cdn-b", "cdn-a"}) {
		t.Errorf("_HLS_pathway sent, in order of change: %v; want cdn-a, cdn-b, cdn-a", sent)
	}
	// The last fragments came from cdn-a.
	if n := len(final.Frags); n < 2 || final.Frags[n-1].CDN != "cdn-a" || final.Frags[n-2].CDN != "cdn-a" {
		t.Errorf("the last fragments are not from cdn-a")
	}
	// The player's errors on cdn-a went to the collector under cdn-a, the
	// CMCD of both caches' misses reached the origin under the name their
	// X-Rewind-CDN gave, and the policy switched away and back.
	if n := metricValue(metrics, "rewind_qos_errors_total", `cdn="cdn-a"`); n < 1 {
		t.Errorf("collector counted %v errors on cdn-a", n)
	}
	for _, cdn := range []string{"cdn-a", "cdn-b"} {
		if n := metricValue(metrics, "rewind_qos_bytes_total", `cdn="`+cdn+`"`); n <= 0 {
			t.Errorf("no CMCD bytes attributed to %s", cdn)
		}
	}
	if n := metricValue(metrics, "rewind_sched_switches_total", `from="cdn-a"`, `to="cdn-b"`, `reason="failed"`); n < 1 {
		t.Errorf("%v switches from the failed cdn-a to cdn-b", n)
	}
	if n := metricValue(metrics, "rewind_sched_switches_total", `from="cdn-b"`, `to="cdn-a"`, `reason="recovered"`); n < 1 {
		t.Errorf("%v switches back to the recovered cdn-a", n)
	}
	// The policy's decisions, for the record.
	for _, l := range strings.Split(dev.log.String(), "\n") {
		if strings.Contains(l, "part=policy") {
			t.Log(l)
		}
	}
	// hls.js moved because the steering server told it to (this page
	// retries a failing fragment rather than fail over on its own), and
	// soon after: within the TTL plus a fragment or two.
	for _, c := range []struct {
		cdn   string
		since int64
	}{{"cdn-b", ms(down)}, {"cdn-a", ms(back)}} {
		m := final.firstManifestSince(c.since, c.cdn)
		var f *int64
		for _, fr := range final.Frags {
			if fr.At >= c.since && fr.CDN == c.cdn {
				f = &fr.At
				break
			}
		}
		if m == nil || f == nil {
			t.Errorf("%s: first manifest ranking it first %v, first fragment %v", c.cdn, m, f)
			continue
		}
		t.Logf("%s: first fragment %.2fs after the first manifest ranking it first", c.cdn, float64(*f-*m)/1000)
		if *f < *m || *f-*m > 5000 {
			t.Errorf("%s: first fragment %.2fs after the first manifest ranking it first", c.cdn, float64(*f-*m)/1000)
		}
	}
	if t.Failed() {
		report(final)
	}
}

// schedMetrics keeps the scheduler's and the collector's lines of an
// exposition, for the failure report.
func schedMetrics(exposition string) string {
	var out []string
	for _, l := range strings.Split(exposition, "\n") {
		if (strings.HasPrefix(l, "rewind_sched_") || strings.HasPrefix(l, "rewind_qos_") || strings.HasPrefix(l, "rewind_steer_")) && !strings.Contains(l, "_bucket{") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
