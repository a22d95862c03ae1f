// Package promtest runs a private Prometheus for tests: Debian's package
// (`make deps` installs it; never its system service), with its
// configuration and TSDB in a temp dir, on a free loopback port, scraping
// the caller's targets at a short interval. It is stopped at the test's
// end and its log shown when the test failed.
package promtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/rewind-vod/rewind/internal/testproc"
)

// Env names the Prometheus binary to use instead of the one on $PATH.
const Env = "REWIND_PROMETHEUS"

// Config is what Prometheus scrapes. Zero fields take the defaults below.
type Config struct {
	// Job is the scrape job's name, the job label of its series
	// (default "collect").
	Job string
	// Targets are the host:port the job scrapes.
	Targets []string
	// MetricsPath is the path scraped on each target (default /metrics).
	MetricsPath string
	// Interval is the scrape interval and timeout (default 1 s).
	Interval time.Duration
}

// Server is a running Prometheus.
type Server struct {
	// URL is its root (http://127.0.0.1:port), the base of /api/v1.
	URL  string
	Job  string
	API  v1.API
	proc *testproc.Proc
	n    int // targets
}

// Start runs Prometheus with cfg and returns it once it answers ready.
// It skips t when the binary is missing; it fails t when it does not
// start.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin := os.Getenv(Env)
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("prometheus"); err != nil {
			t.Skip("prometheus not installed (make deps installs Debian's prometheus package; or set " + Env + ")")
		}
	}
	if len(cfg.Targets) == 0 {
		t.Fatal("promtest: no scrape target")
	}
	if cfg.Job == "" {
		cfg.Job = "collect"
	}
	if cfg.MetricsPath == "" {
		cfg.MetricsPath = "/metrics"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	quoted := make([]string, len(cfg.Targets))
	for i, tg := range cfg.Targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
scrape_configs:
  - job_name: %[2]q
    metrics_path: %[3]q
    static_configs:
      - targets: [%[4]s]
`, model.Duration(cfg.Interval), cfg.Job, cfg.MetricsPath, strings.Join(quoted, ", "))
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatalf("promtest: %v", err)
	}
	port, err := testproc.FreePort()
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin,
		"--config.file="+confPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	proc, err := testproc.Start(cmd, 30*time.Second, testproc.HTTPCheck("http://"+addr+"/-/ready", func(s int) bool { return s == 200 }))
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	t.Cleanup(func() {
		proc.Kill()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", proc.Output())
		}
	})
	s := &Server{URL: "http://" + addr, Job: cfg.Job, proc: proc, n: len(cfg.Targets)}
	client, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	s.API = v1.NewAPI(client)
	return s
}

// Stop kills Prometheus (a crash, as far as its clients can tell); the
// test's cleanup does it too.
func (s *Server) Stop() { s.proc.Kill() }

// Output is what Prometheus has logged.
func (s *Server) Output() string { return s.proc.Output() }

// WaitScraped waits (up to 20 s) until Prometheus has scraped every
// target after since, successfully, so that everything they exposed
// before since is in its storage.
func (s *Server) WaitScraped(t testing.TB, since time.Time) {
	t.Helper()
	// timestamp() of the selector itself: of any other expression it is
	// the evaluation time.
	q := fmt.Sprintf(`timestamp(up{job=%q})`, s.Job)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		val, _, err := s.API.Query(ctx, q, time.Now())
		cancel()
		if vec, ok := val.(model.Vector); err == nil && ok && len(vec) == s.n && scrapedAfter(vec, since) {
			// up is 0 after a failed scrape; its time is that of the scrape
			// the timestamp query saw, or a later one.
			if down, err := s.Value(context.Background(), fmt.Sprintf(`count(up{job=%q} == 0) or vector(0)`, s.Job)); err == nil && down == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("promtest: prometheus has not scraped its %d targets since %v (last answer %v, %v)", s.n, since, val, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func scrapedAfter(vec model.Vector, since time.Time) bool {
	for _, smp := range vec {
		if float64(smp.Value) <= float64(since.UnixMilli())/1000 {
			return false
		}
	}
	return true
}

// Value is the value of the instant query q now, when it is one sample.
func (s *Server) Value(ctx context.Context, q string) (float64, error) {
	val, _, err := s.API.Query(ctx, q, time.Now())
	if err != nil {
		return 0, fmt.Errorf("promtest: query %s: %w", q, err)
	}
	vec, ok := val.(model.Vector)
	if !ok || len(vec) != 1 {
		return 0, fmt.Errorf("promtest: query %s: want one sample, got %v", q, val)
	}
	return float64(vec[0].Value), nil
}
