//go:build soak

// Package soak runs rewind under faults for a bounded time (`make soak`,
// about ten minutes, loopback only): publishers that drop and come back, a
// kill -9 and restart of the origin, a 60 s stop of the S3 server, a relay
// target that flaps, and players that join, stall and leave. It ends by
// checking that nothing was lost: every segment the store acknowledged is
// indexed and decodes, every run ended, every recording's playlist plays in
// ffmpeg, no process panicked and memory stayed bounded; it prints those
// figures.
package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/s3test"
)

const (
	envDuration = "REWIND_SOAK_DURATION" // default 10m
	envBinary   = "REWIND_BIN"           // a built rewind; default: built here
	streams     = 4
	flvPlayers  = 6
	hlsPlayers  = 2
	// rssLimit bounds each rewind process for the whole run.
	rssLimit = 512 << 20
)

// figures is what the soak measured, printed at the end.
type figures struct {
	publishes, publishFails         atomic.Int64
	flvSessions, flvStalls          atomic.Int64
	flvBytes                        atomic.Int64
	hlsFetches, hlsErrors           atomic.Int64
	targetFlaps, originKills        atomic.Int64
	s3Outage                        time.Duration
	maxRSS                          sync.Map // name -> int64
	runs, runsEnded, segments       int
	indexed, unindexed, missingObjs int
	decodedRuns, decodeErrors       int
	tornTails                       int
	recordings, recordingsPlayed    int
	panics                          []string
	spoolLeft                       int
	drain                           time.Duration
}

func TestSoak(t *testing.T) {
	dur := 10 * time.Minute
	if v := os.Getenv(envDuration); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: %v", envDuration, err)
		}
		dur = d
	}
	work := t.TempDir()
	bin := rewindBinary(t, work)
	src, err := benchkit.SourceFLV(filepath.Join(os.TempDir(), "rewind-bench-media"))
	if err != nil {
		t.Fatal(err)
	}
	s3 := s3test.Start(t)
	const prefix = "soak/"
	addr := func() string {
		a, err := benchkit.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	// The relay target stands in for a CDN ingest: another rewind on local
	// disk, flapping.
	tRTMP, tHTTP := addr(), addr()
	target := newProc("target", bin, filepath.Join(work, "target.log"), nil, "origin",
		"--rtmp-addr", tRTMP, "--http-addr", tHTTP, "--node", "cdn", "--log-level", "warn",
		"--store", "file://"+filepath.Join(work, "target", "store"), "--spool", filepath.Join(work, "target", "spool"))
	oRTMP, oHTTP, vHTTP := addr(), addr(), addr()
	s3Flags := []string{"--store", s3.URL(prefix), "--s3-endpoint", s3.Endpoint, "--s3-path-style", "--s3-region", s3.Region}
	spool := filepath.Join(work, "origin", "spool")
	origin := newProc("origin", bin, filepath.Join(work, "origin.log"), s3.Env(), append([]string{"origin",
		"--rtmp-addr", oRTMP, "--http-addr", oHTTP, "--node", "soak", "--log-level", "warn",
		"--segment-duration", "2s", "--spool", spool, "--upload-retry-max", "5s", "--drain-timeout", "90s",
		"--relay", "*=rtmp://" + tRTMP + "/cdn/{app}-{name}", "--relay-timeout", "3s"}, s3Flags...)...)
	vodapi := newProc("vodapi", bin, filepath.Join(work, "vodapi.log"), s3.Env(), append([]string{"vodapi",
		"--http-addr", vHTTP, "--segment-duration", "2s", "--log-level", "warn"}, s3Flags...)...)
	for _, p := range []*proc{target, origin, vodapi} {
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { target.kill9(); origin.kill9(); vodapi.kill9() })
	ctx := context.Background()
	for _, u := range []string{"http://" + tHTTP + "/healthz", "http://" + oHTTP + "/healthz", "http://" + vHTTP + "/healthz"} {
		if err := benchkit.WaitHTTP(ctx, u, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	var fig figures
	load, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	names := make([]string, streams)
	for i := range names {
		names[i] = "s" + strconv.Itoa(i+1)
	}
	for _, name := range names {
		wg.Go(func() { publisher(load, &fig, src, "rtmp://"+oRTMP+"/live/"+name) })
	}
	for range flvPlayers {
		wg.Go(func() { flvPlayer(load, &fig, "http://"+oHTTP+"/live/", names) })
	}
	for range hlsPlayers {
		wg.Go(func() { hlsPlayer(load, &fig, "http://"+vHTTP+"/hls/live/", names) })
	}
	wg.Go(func() { flap(load, &fig, target) })
	sampler, stopSampler := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sampleRSS(sampler, &fig, target, origin, vodapi)
	}()

	start := time.Now()
	at := func(frac float64) {
		time.Sleep(time.Until(start.Add(time.Duration(frac * float64(dur)))))
	}
	at(0.25)
	t.Logf("%s: kill -9 the origin", time.Since(start).Round(time.Second))
	origin.kill9()
	fig.originKills.Add(1)
	time.Sleep(3 * time.Second)
	if err := origin.start(); err != nil {
		t.Fatal(err)
	}
	at(0.45)
	outage := min(60*time.Second, dur/4)
	t.Logf("%s: S3 down for %s", time.Since(start).Round(time.Second), outage)
	s3.Stop()
	time.Sleep(outage)
	s3.Restart()
	fig.s3Outage = outage
	at(1)

	t.Logf("%s: stopping the load", time.Since(start).Round(time.Second))
	stopLoad()
	wg.Wait()
	if target.pid() == "" {
		_ = target.start()
	}
	// Drain: every run ended, every spooled segment stored.
	drainStart := time.Now()
	if err := origin.stop(2 * time.Minute); err != nil {
		t.Errorf("origin drain: %v", err)
	}
	fig.drain = time.Since(drainStart)
	stopSampler()
	<-sampled
	fig.spoolLeft = countFiles(spool, ".ts")

	st := s3.StoreAt(t, prefix)
	checkStore(t, ctx, st, &fig, work)
	checkRecordings(t, "http://"+vHTTP, names, &fig)
	for _, p := range []*proc{target, origin, vodapi} {
		lines, err := p.panics()
		if err != nil {
			t.Error(err)
		}
		fig.panics = append(fig.panics, lines...)
	}
	report(t, dur, &fig)
	if len(fig.panics) > 0 {
		t.Errorf("panics:\n%s", strings.Join(fig.panics, "\n"))
	}
	fig.maxRSS.Range(func(k, v any) bool {
		if v.(int64) > rssLimit {
			t.Errorf("%s peaked at %d MiB RSS (limit %d MiB)", k, v.(int64)>>20, rssLimit>>20)
		}
		return true
	})
	if fig.spoolLeft != 0 {
		t.Errorf("%d segments left in the spool after the drain", fig.spoolLeft)
	}
}

// rewindBinary is $REWIND_BIN, else a fresh build of ./cmd/rewind.
func rewindBinary(t *testing.T, dir string) string {
	if b := os.Getenv(envBinary); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	out := filepath.Join(dir, "rewind")
	cmd := exec.Command("go", "build", "-o", out, "github.com/rewind-vod/rewind/cmd/rewind")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build rewind: %v\n%s", err, b)
	}
	return out
}

// publisher publishes name in sessions of 15-60 s, each ended by a kill -9
// of the encoder or a clean stop, then comes back after a short gap (same
// recording) or, one time in five, a gap longer than the reconnect window.
func publisher(ctx context.Context, fig *figures, src, url string) {
	for ctx.Err() == nil {
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
			"-stream_loop", "-1", "-i", src, "-c", "copy", "-f", "flv", url)
		if err := cmd.Start(); err != nil {
			fig.publishFails.Add(1)
			sleep(ctx, time.Second)
			continue
		}
		fig.publishes.Add(1)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-exited: // refused or dropped (origin killed): come back soon
			fig.publishFails.Add(1)
			sleep(ctx, time.Second)
			continue
		case <-time.After(randDur(15*time.Second, 60*time.Second)):
		case <-ctx.Done():
		}
		if rand.IntN(2) == 0 {
			_ = cmd.Process.Kill()
		} else {
			_ = cmd.Process.Signal(os.Interrupt)
		}
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		gap := randDur(time.Second, 10*time.Second)
		if rand.IntN(5) == 0 {
			gap = randDur(61*time.Second, 70*time.Second)
		}
		sleep(ctx, gap)
	}
}

// flvPlayer joins a random stream over HTTP-FLV, reads for a while, and
// sometimes stalls (stops reading) before leaving.
func flvPlayer(ctx context.Context, fig *figures, base string, names []string) {
	client := &http.Client{}
	buf := make([]byte, 32<<10)
	for ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(ctx, randDur(5*time.Second, 20*time.Second))
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, base+names[rand.IntN(len(names))]+".flv", nil)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			if err == nil {
				resp.Body.Close()
			}
			cancel()
			sleep(ctx, time.Second)
			continue
		}
		fig.flvSessions.Add(1)
		stall := rand.IntN(3) == 0
		stallAt := time.Now().Add(randDur(time.Second, 4*time.Second))
		for sctx.Err() == nil {
			if stall && time.Now().After(stallAt) {
				fig.flvStalls.Add(1)
				<-sctx.Done() // hold the connection without reading
				break
			}
			n, err := resp.Body.Read(buf)
			fig.flvBytes.Add(int64(n))
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		cancel()
	}
}

// hlsPlayer polls the latest playlist of a random stream and fetches its
// last segments, like a player at the live edge.
func hlsPlayer(ctx context.Context, fig *figures, base string, names []string) {
	client := &http.Client{Timeout: 10 * time.Second}
	for ctx.Err() == nil {
		dir := base + names[rand.IntN(len(names))] + "/"
		body, status, err := fetch(ctx, client, dir+"index.m3u8")
		fig.hlsFetches.Add(1)
		switch {
		case err != nil || status >= 500:
			fig.hlsErrors.Add(1)
		case status == http.StatusOK:
			var uris []string
			for l := range strings.SplitSeq(string(body), "\n") {
				if l != "" && !strings.HasPrefix(l, "#") {
					uris = append(uris, l)
				}
			}
			for _, u := range uris[max(len(uris)-2, 0):] {
				if _, status, err := fetch(ctx, client, dir+u); err != nil || status >= 500 {
					fig.hlsErrors.Add(1)
				}
			}
		}
		sleep(ctx, 2*time.Second)
	}
}

func fetch(ctx context.Context, c *http.Client, url string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, err
}

// flap kills the relay target every 30-60 s and starts it again 5-15 s
// later.
func flap(ctx context.Context, fig *figures, target *proc) {
	for {
		sleep(ctx, randDur(30*time.Second, 60*time.Second))
		if ctx.Err() != nil {
			return
		}
		target.kill9()
		fig.targetFlaps.Add(1)
		sleep(ctx, randDur(5*time.Second, 15*time.Second))
		_ = target.start()
	}
}

func sampleRSS(ctx context.Context, fig *figures, procs ...*proc) {
	for ctx.Err() == nil {
		for _, p := range procs {
			pid := p.pid()
			if pid == "" {
				continue
			}
			rss, err := benchkit.StatusBytes(pid, "VmRSS")
			if err != nil {
				continue
			}
			prev, _ := fig.maxRSS.LoadOrStore(p.name, rss)
			if rss > prev.(int64) {
				fig.maxRSS.Store(p.name, rss)
			}
		}
		sleep(ctx, time.Second)
	}
}

// checkStore checks every run of every stream: ended, its segment objects
// and its index agree both ways, and its segments decode (a run's
// segments back to back are one valid TS).
func checkStore(t *testing.T, ctx context.Context, st store.Store, fig *figures, work string) {
	all, err := catalog.ListStreams(ctx, st)
	if err != nil {
		t.Fatalf("list streams: %v", err)
	}
	for _, s := range all {
		runs, err := catalog.ListRuns(ctx, st, s)
		if err != nil {
			t.Fatalf("list runs of %s: %v", s, err)
		}
		for _, run := range runs {
			fig.runs++
			m, err := catalog.ReadManifest(ctx, st, s, run)
			if err != nil {
				t.Errorf("%s %s: manifest: %v", s, run, err)
				continue
			}
			if m.State == catalog.StateEnded {
				fig.runsEnded++
			} else {
				t.Errorf("%s %s: run.json says %s after the drain", s, run, m.State)
			}
			entries, err := catalog.ReadIndex(ctx, st, s, run)
			if err != nil {
				t.Errorf("%s %s: index: %v", s, run, err)
				continue
			}
			objs, err := listAll(ctx, st, catalog.SegmentPrefix(s, run))
			if err != nil {
				t.Errorf("%s %s: list segments: %v", s, run, err)
				continue
			}
			indexed := map[uint64]bool{}
			for _, e := range entries {
				indexed[e.Seq] = true
			}
			stored := map[uint64]bool{}
			for _, o := range objs {
				seq, err := catalog.ParseSegmentName(filepath.Base(o.Key))
				if err != nil {
					t.Errorf("%s %s: stray object %s", s, run, o.Key)
					continue
				}
				stored[seq] = true
				fig.segments++
				if indexed[seq] {
					fig.indexed++
				} else {
					fig.unindexed++
					t.Errorf("%s %s: segment %d stored but not indexed", s, run, seq)
				}
			}
			for _, e := range entries {
				if !stored[e.Seq] {
					fig.missingObjs++
					t.Errorf("%s %s: segment %d indexed but not stored", s, run, e.Seq)
				}
			}
			decodeRun(t, ctx, st, s, run, entries, fig, work)
		}
	}
}

// decodeRun decodes the run's segments back to back with ffmpeg. On errors
// it finds the segments that fail alone: only the last segment of a run may
// (a torn tail, cut back to whole packets after a kill -9).
func decodeRun(t *testing.T, ctx context.Context, st store.Store, s catalog.Stream, run string, entries []catalog.Entry, fig *figures, work string) {
	if len(entries) == 0 {
		return
	}
	var all bytes.Buffer
	segs := make([][]byte, len(entries))
	for i, e := range entries {
		b, err := getAll(ctx, st, catalog.SegmentKey(s, run, e.Seq))
		if err != nil {
			t.Errorf("%s %s: get segment %d: %v", s, run, e.Seq, err)
			return
		}
		segs[i] = b
		all.Write(b)
	}
	if decodes(t, work, all.Bytes()) {
		fig.decodedRuns++
		return
	}
	for i, b := range segs {
		if decodes(t, work, b) {
			continue
		}
		if i == len(segs)-1 {
			fig.tornTails++
			continue
		}
		fig.decodeErrors++
		t.Errorf("%s %s: segment %d does not decode", s, run, entries[i].Seq)
	}
	fig.decodedRuns++
}

func decodes(t *testing.T, work string, ts []byte) bool {
	f := filepath.Join(work, "decode.ts")
	if err := os.WriteFile(f, ts, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", f, "-f", "null", "-").CombinedOutput()
	return err == nil && len(bytes.TrimSpace(out)) == 0
}

// checkRecordings plays every recording's playlist through vodapi in
// ffmpeg (stream copy: the segments were decoded already).
func checkRecordings(t *testing.T, api string, names []string, fig *figures) {
	for _, name := range names {
		resp, err := http.Get(api + "/v1/streams/live/" + name + "/recordings?from=0")
		if err != nil {
			t.Errorf("recordings of %s: %v", name, err)
			continue
		}
		var list struct {
			Recordings []struct {
				ID       string `json:"id"`
				Playlist string `json:"playlist_url"`
			} `json:"recordings"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			t.Errorf("recordings of %s: %v", name, err)
			continue
		}
		for _, r := range list.Recordings {
			fig.recordings++
			out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error",
				"-i", api+r.Playlist, "-c", "copy", "-f", "null", "-").CombinedOutput()
			if err != nil {
				t.Errorf("recording %s of %s does not play: %v\n%s", r.ID, name, err, out)
				continue
			}
			fig.recordingsPlayed++
		}
	}
}

func report(t *testing.T, dur time.Duration, fig *figures) {
	rss := map[string]int64{}
	fig.maxRSS.Range(func(k, v any) bool { rss[k.(string)] = v.(int64); return true })
	names := make([]string, 0, len(rss))
	for n := range rss {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "soak %s: %d publishes (%d refused or dropped), origin kill -9 x%d, S3 down %s, relay target flaps x%d\n",
		dur, fig.publishes.Load(), fig.publishFails.Load(), fig.originKills.Load(), fig.s3Outage, fig.targetFlaps.Load())
	fmt.Fprintf(&b, "players: %d HTTP-FLV sessions (%d stalled), %d MiB read; %d HLS fetches (%d failed, S3 outage included)\n",
		fig.flvSessions.Load(), fig.flvStalls.Load(), fig.flvBytes.Load()>>20, fig.hlsFetches.Load(), fig.hlsErrors.Load())
	fmt.Fprintf(&b, "store: %d runs (%d ended), %d segments stored, %d indexed, %d stored but not indexed, %d indexed but missing\n",
		fig.runs, fig.runsEnded, fig.segments, fig.indexed, fig.unindexed, fig.missingObjs)
	fmt.Fprintf(&b, "decode: %d runs decoded, %d segments failing, %d torn tails; %d/%d recordings play in ffmpeg\n",
		fig.decodedRuns, fig.decodeErrors, fig.tornTails, fig.recordingsPlayed, fig.recordings)
	fmt.Fprintf(&b, "drain %s, %d segments left in the spool; panics: %d; peak RSS:", fig.drain.Round(time.Millisecond), fig.spoolLeft, len(fig.panics))
	for _, n := range names {
		fmt.Fprintf(&b, " %s %d MiB", n, rss[n]>>20)
	}
	fmt.Println(b.String())
	t.Log(b.String())
}

func listAll(ctx context.Context, st store.Store, prefix string) ([]store.Info, error) {
	var out []store.Info
	after := ""
	for {
		res, err := st.List(ctx, prefix, store.ListOptions{StartAfter: after, MaxKeys: 1000})
		if err != nil {
			return nil, err
		}
		out = append(out, res.Objects...)
		if !res.Truncated || len(res.Objects) == 0 {
			return out, nil
		}
		after = res.Objects[len(res.Objects)-1].Key
	}
}

func getAll(ctx context.Context, st store.Store, key string) ([]byte, error) {
	rc, _, err := st.Get(ctx, key, nil)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func countFiles(dir, ext string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ext) {
			n++
		}
		return nil
	})
	return n
}

func randDur(lo, hi time.Duration) time.Duration {
	return lo + rand.N(hi-lo+1)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
