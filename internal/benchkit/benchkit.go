// Package benchkit holds what the benchmarks (bench/...) share: the source
// media, the origin subprocess's ports, its /metrics and its /proc figures.
package benchkit

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
	"time"

	"github.com/rewind-vod/rewind/internal/flvfile"
)

// Counts reads a flag's comma-separated list of positive counts (-n 10,50).
func Counts(s, flagName string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad %s %q", flagName, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// SourceTags is SourceFLV read into its tags, what the publishers send.
func SourceTags(out string) (string, []flvfile.Tag, error) {
	src, err := SourceFLV(out)
	if err != nil {
		return "", nil, err
	}
	f, err := os.Open(src)
	if err != nil {
		return "", nil, fmt.Errorf("source: %w", err)
	}
	defer f.Close()
	tags, err := flvfile.ReadAll(f)
	if err != nil {
		return "", nil, fmt.Errorf("source %s: %w", src, err)
	}
	return src, tags, nil
}

// SourceFLV encodes the bench media once into out and caches it: 1280x720
// 30 fps H.264 at 2.5 Mbit/s with 128 kbit/s AAC, 20 s, 2 s GOPs.
func SourceFLV(out string) (string, error) {
	path := filepath.Join(out, "src-720p30-2500k.flv")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	tmp := path + ".tmp.flv"
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k",
		"-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-bf", "2", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k", "-f", "flv", "-y", tmp)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("encode source: %w", err)
	}
	return path, os.Rename(tmp, path)
}

// FreeAddr returns a loopback address that was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitHTTP polls url until it answers or d passes.
func WaitHTTP(ctx context.Context, url string, d time.Duration) error {
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

// Scrape reads Prometheus text: each series under its full name (labels
// included) and each labelled family also summed under its bare name.
func Scrape(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("Scrape: %w", err)
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
		return nil, fmt.Errorf("Scrape: %w", err)
	}
	return m, nil
}

// CPUSeconds is user + system CPU time of a process ("self" or a pid).
func CPUSeconds(pid string) (float64, error) {
	user, sys, err := CPUTimes(pid)
	return user + sys, err
}

// CPUTimes is the user and the system CPU time of a process ("self" or a
// pid), in seconds.
func CPUTimes(pid string) (user, sys float64, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces: fields count from after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%s/stat: short", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%s/stat: bad utime/stime", pid)
	}
	return ut / 100, st / 100, nil // USER_HZ is 100 on Linux
}

// MasterCPU is the CPU time (and the system part of it) of a master
// process and its children, as nginx runs: one master, its workers. No
// child is an error, since a worker that died would take its time out of
// the figure.
func MasterCPU(master int) (total, sys float64, err error) {
	pid := strconv.Itoa(master)
	b, err := os.ReadFile("/proc/" + pid + "/task/" + pid + "/children")
	if err != nil {
		return 0, 0, fmt.Errorf("workers of %s: %w", pid, err)
	}
	children := strings.Fields(string(b))
	if len(children) == 0 {
		return 0, 0, fmt.Errorf("process %s has no worker", pid)
	}
	for _, p := range append([]string{pid}, children...) {
		u, s, err := CPUTimes(p)
		if err != nil {
			return 0, 0, fmt.Errorf("cpu of %s: %w", p, err)
		}
		total += u + s
		sys += s
	}
	return total, sys, nil
}

// HostBusySeconds is the CPU time all cores spent not idle (softirq
// included: loopback TCP work is not always charged to a process).
func HostBusySeconds() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("host cpu: %w", err)
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
	return busy / 100, nil // USER_HZ is 100 on Linux
}

// StatusBytes reads a kB field of /proc/{pid}/status (VmRSS, VmHWM).
func StatusBytes(pid, field string) (int64, error) {
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

// Quantile is the nearest-rank q-quantile (0 < q <= 1) of sorted, 0 when
// it is empty.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
