package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// mediamtxConfig is MediaMTX's YAML for the round: RTMP on rtmpAddr,
// metrics (the health check) on metricsAddr, every other server off so
// that nothing binds a default port, and every path recorded to MPEG-TS in
// 4 s segments under recDir.
func mediamtxConfig(rtmpAddr, metricsAddr, recDir string) string {
	return fmt.Sprintf(`logLevel: warn
logDestinations: [stdout]
api: no
metrics: yes
metricsAddress: %s
pprof: no
playback: no
rtsp: no
rtmp: yes
rtmpAddress: %s
rtmpEncryption: "no"
hls: no
webrtc: no
srt: no
pathDefaults:
  record: yes
  recordFormat: mpegts
  recordSegmentDuration: 4s
  recordPath: '%s'
paths:
  all_others:
`, metricsAddr, rtmpAddr, filepath.Join(recDir, "%path", "%Y-%m-%d_%H-%M-%S-%f"))
}

// mediamtxRound runs the same n publishers into MediaMTX, measured like
// rewind's origin, and checks that every stream was recorded and that the
// recording grew during the round.
func mediamtxRound(bin string, tags []flvfile.Tag, n int, dur time.Duration) (result, error) {
	var r result
	dir, err := os.MkdirTemp("", "rewind-bench-mediamtx-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	recDir := filepath.Join(dir, "rec")
	conf := filepath.Join(dir, "mediamtx.yml")
	var p *testproc.Proc
	var cmd *exec.Cmd
	var rtmpAddr, metricsAddr string
	for range 3 {
		if rtmpAddr, err = benchkit.FreeAddr(); err != nil {
			return r, err
		}
		if metricsAddr, err = benchkit.FreeAddr(); err != nil {
			return r, err
		}
		if err := os.WriteFile(conf, []byte(mediamtxConfig(rtmpAddr, metricsAddr, recDir)), 0o644); err != nil {
			return r, fmt.Errorf("mediamtx config: %w", err)
		}
		cmd = exec.Command(bin, conf)
		cmd.Dir = dir
		if p, err = testproc.Start(cmd, 20*time.Second, testproc.HTTPCheck("http://"+metricsAddr+"/metrics", nil)); err == nil {
			break
		}
	}
	if err != nil {
		return r, fmt.Errorf("start mediamtx: %w", err)
	}
	defer p.Kill()
	pr, err := startProbe(cmd.Process.Pid)
	if err != nil {
		return r, err
	}
	// Three quarters through, every stream is up and recorded (MediaMTX
	// starts recording a stream sent without onMetaData only after 2 s of
	// track probing): the size then is what the end must exceed.
	type midway struct {
		bytes int64
		paths float64
		err   error
	}
	midc := make(chan midway, 1)
	go func() {
		time.Sleep(dur * 3 / 4)
		var m midway
		m.bytes, m.err = dirBytes(recDir)
		if mm, err := benchkit.Scrape(context.Background(), "http://"+metricsAddr+"/metrics"); err == nil {
			m.paths = mm["paths"]
		} else if m.err == nil {
			m.err = err
		}
		midc <- m
	}()
	sentBytes, err := publishAll(rtmpAddr, tags, n, dur, &r)
	mid := <-midc
	if err != nil {
		pr.cancel()
		return r, fmt.Errorf("%w\n%s", err, p.Output())
	}
	if mid.err != nil {
		pr.cancel()
		return r, fmt.Errorf("midway: %w\n%s", mid.err, p.Output())
	}
	if int(mid.paths) != n {
		pr.cancel()
		return r, fmt.Errorf("midway: %v paths up, want %d\n%s", mid.paths, n, p.Output())
	}
	// MediaMTX closes each segment when its publisher leaves: wait until
	// the recording stops growing, so its CPU for that counts as rewind's
	// last uploads do.
	if _, err := waitStable(recDir, 500*time.Millisecond, time.Minute); err != nil {
		pr.cancel()
		return r, err
	}
	if err := pr.finish(&r, n, dur); err != nil {
		return r, err
	}
	stored, files, err := checkRecorded(recDir, n, mid.bytes)
	if err != nil {
		return r, fmt.Errorf("%w\n%s", err, p.Output())
	}
	if os.Getenv("BENCH_DEBUG") != "" {
		fmt.Printf("mediamtx: %d segments, %d bytes (%d before the end)\n", files, stored, mid.bytes)
	}
	r.storedPerIngested = float64(stored) / float64(sentBytes)
	return r, nil
}

// waitStable polls root's size until two polls quiet apart agree, or
// limit passes.
func waitStable(root string, quiet, limit time.Duration) (int64, error) {
	deadline := time.Now().Add(limit)
	last := int64(-1)
	for {
		n, err := dirBytes(root)
		if err != nil {
			return 0, err
		}
		if n == last {
			return n, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("recording under %s still growing after %s", root, limit)
		}
		last = n
		time.Sleep(quiet)
	}
}

// checkRecorded checks MediaMTX's recording under root: each of bench/s0 ..
// bench/s<n-1> has at least one non-empty .ts segment, and the total grew
// past midBytes, what was there before the end. It returns the total bytes and
// segment count.
func checkRecorded(root string, n int, midBytes int64) (int64, int, error) {
	var total int64
	files := 0
	for i := range n {
		path := filepath.Join(root, "bench", fmt.Sprintf("s%d", i))
		ents, err := os.ReadDir(path)
		if err != nil {
			return 0, 0, fmt.Errorf("recording of bench/s%d: %w", i, err)
		}
		segs := 0
		for _, e := range ents {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".ts") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				return 0, 0, err
			}
			if fi.Size() > 0 {
				segs++
				total += fi.Size()
			}
		}
		if segs == 0 {
			return 0, 0, fmt.Errorf("recording of bench/s%d: no non-empty .ts segment in %s", i, path)
		}
		files += segs
	}
	if midBytes <= 0 || total <= midBytes {
		return 0, 0, fmt.Errorf("recording did not grow: %d bytes before the end, %d at the end", midBytes, total)
	}
	return total, files, nil
}
