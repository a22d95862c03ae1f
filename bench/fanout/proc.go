package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
)

// originProc is a `rewind origin` subprocess on free loopback ports,
// recording to a file store in its own temp dir.
type originProc struct {
	cmd                *exec.Cmd
	dir                string
	rtmpAddr, httpAddr string
}

func startOrigin(ctx context.Context, bin string) (*originProc, error) {
	dir, err := os.MkdirTemp("", "rewind-fanout-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	o := &originProc{dir: dir}
	if o.rtmpAddr, err = benchkit.FreeAddr(); err == nil {
		o.httpAddr, err = benchkit.FreeAddr()
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Log level error: a drop is a warning per player, and drops are
	// counted from /metrics anyway. FANOUT_ORIGIN_LOG_LEVEL overrides it,
	// to see why a round failed.
	o.cmd = exec.Command(bin, "origin", "--rtmp-addr", o.rtmpAddr, "--http-addr", o.httpAddr,
		"--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--node", "bench", "--log-level", cmp.Or(os.Getenv("FANOUT_ORIGIN_LOG_LEVEL"), "error"))
	o.cmd.Stderr = os.Stderr
	// Should the bench itself be killed, the origin must not outlive it.
	o.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := o.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	if err := benchkit.WaitHTTP(ctx, o.url("/healthz"), 10*time.Second); err != nil {
		o.stop()
		return nil, err
	}
	return o, nil
}

func (o *originProc) pid() string { return strconv.Itoa(o.cmd.Process.Pid) }

func (o *originProc) url(path string) string { return "http://" + o.httpAddr + path }

// stop kills the origin (its spool and store are thrown away, so there is
// nothing to drain) and removes its temp dir.
func (o *originProc) stop() {
	o.cmd.Process.Kill()
	o.cmd.Wait()
	os.RemoveAll(o.dir)
}

// waitMetric polls /metrics until ok(value of name) or d passes.
func waitMetric(ctx context.Context, url, name string, ok func(float64) bool, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		m, err := benchkit.Scrape(ctx, url)
		if err == nil && ok(m[name]) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s (now %v): %v", name, m[name], err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
