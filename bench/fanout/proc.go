package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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
	if o.rtmpAddr, err = freeAddr(); err == nil {
		o.httpAddr, err = freeAddr()
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Log level error: a drop is a warning per player, and drops are
	// counted from /metrics anyway.
	o.cmd = exec.Command(bin, "origin", "--rtmp-addr", o.rtmpAddr, "--http-addr", o.httpAddr,
		"--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--node", "bench", "--log-level", "error")
	o.cmd.Stderr = os.Stderr
	// Should the bench itself be killed, the origin must not outlive it.
	o.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := o.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	if err := waitHTTP(ctx, o.url("/healthz"), 10*time.Second); err != nil {
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

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHTTP(ctx context.Context, url string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not up: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// scrape reads Prometheus text: each series under its full name (labels
// included) and each labelled family also summed under its bare name.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		m[name] = v
		if family, _, ok := strings.Cut(name, "{"); ok {
			m[family] += v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	return m, nil
}

// waitMetric polls /metrics until ok(value of name) or d passes.
func waitMetric(ctx context.Context, url, name string, ok func(float64) bool, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		m, err := scrape(ctx, url)
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

// cpuSeconds is user + system CPU time of a process ("self" or a pid).
func cpuSeconds(pid string) (float64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields count from after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: short", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%s/stat: bad utime/stime", pid)
	}
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// hostBusySeconds is the CPU time all cores spent not idle (softirq
// included: loopback TCP work is not always charged to a process).
func hostBusySeconds() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var busy float64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += x
	}
	return busy / 100, nil
}

// statusBytes reads a kB field of /proc/{pid}/status (VmRSS, VmHWM).
func statusBytes(pid, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%s/status: no %s", pid, field)
}
