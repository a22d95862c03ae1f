package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store/s3store"
	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// config is what the cluster runs with.
type config struct {
	rewind, versitygw string
	nodes, proxies    int
	heartbeat         time.Duration // --heartbeat-interval of the nodes
	refresh           time.Duration // --registry-refresh of nodes and proxies
	nodeTimeout       time.Duration
	pullLinger        time.Duration
	logLevel          string
}

// proc is one process of the cluster.
type proc struct {
	kind, name         string // kind: "origin", "proxy" or "versitygw"
	cmd                *exec.Cmd
	p                  *testproc.Proc
	rtmpAddr, httpAddr string
}

func (p *proc) pid() string { return strconv.Itoa(p.cmd.Process.Pid) }

func (p *proc) url(path string) string { return "http://" + p.httpAddr + path }

func (p *proc) cpu() (float64, error) {
	v, err := benchkit.CPUSeconds(p.pid())
	if err != nil {
		return 0, fmt.Errorf("%s %s: cpu: %w (it may have died; its last output:\n%s)", p.kind, p.name, err, p.p.Output())
	}
	return v, nil
}

func (p *proc) metrics(ctx context.Context) (map[string]float64, error) {
	m, err := benchkit.Scrape(ctx, p.url("/metrics"))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", p.kind, p.name, err)
	}
	return m, nil
}

// cluster is versitygw, the origin nodes and the proxies on loopback
// ports, all in one temp dir, and a registry reader of the bench's own (it
// finds where a stream is live; its store requests are not in any
// process's metrics).
type cluster struct {
	cfg     config
	dir     string
	s3      *proc
	nodes   []*proc
	proxies []*proc
	reg     *catalog.Directory

	endpoint, bucket, prefix string
	access, secret, region   string
}

func startCluster(ctx context.Context, cfg config) (c *cluster, err error) {
	dir, err := os.MkdirTemp("", "rewind-cluster-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	c = &cluster{cfg: cfg, dir: dir,
		bucket: "bench-" + testproc.RandHex(4), prefix: "cluster/",
		access: "AK" + strings.ToUpper(testproc.RandHex(8)), secret: testproc.RandHex(20), region: "us-east-1"}
	defer func() {
		if err != nil {
			c.close()
			c = nil
		}
	}()
	if err := c.startS3(ctx); err != nil {
		return c, err
	}
	for i := range cfg.nodes {
		if err := c.startOrigin(fmt.Sprintf("node%c", 'a'+i)); err != nil {
			return c, err
		}
	}
	for i := range cfg.proxies {
		if err := c.startProxy(fmt.Sprintf("proxy-%c", 'a'+i)); err != nil {
			return c, err
		}
	}
	st, err := s3store.New(ctx, s3store.Config{Bucket: c.bucket, Prefix: c.prefix, Endpoint: c.endpoint, Region: c.region,
		PathStyle: true, Credentials: credentials.NewStaticCredentialsProvider(c.access, c.secret, "")})
	if err != nil {
		return c, fmt.Errorf("open the store: %w", err)
	}
	c.reg, err = catalog.NewDirectory(st, catalog.DirectoryConfig{Timeout: cfg.nodeTimeout, Refresh: cfg.refresh},
		slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return c, fmt.Errorf("registry reader: %w", err)
	}
	return c, c.waitReady(ctx)
}

// close kills every process (nothing the bench recorded is kept, so there
// is nothing to drain) and removes the temp dir.
func (c *cluster) close() {
	for _, p := range append(append(c.proxies, c.nodes...), c.s3) {
		if p != nil {
			p.p.Kill()
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		slog.Warn("removing the bench's temp dir", "dir", c.dir, "err", err)
	}
}

// start runs a process on fresh loopback ports (addrs gives it its
// command line), retrying with new ports when one was taken meanwhile.
func (c *cluster) start(kind, name string, env []string, health string, args func(rtmp, http string) []string) (*proc, error) {
	var last error
	for range 3 {
		rtmpAddr, err := benchkit.FreeAddr()
		if err != nil {
			return nil, err
		}
		httpAddr, err := benchkit.FreeAddr()
		if err != nil {
			return nil, err
		}
		bin := c.cfg.rewind
		if kind == "versitygw" {
			bin = c.cfg.versitygw
		}
		cmd := exec.Command(bin, args(rtmpAddr, httpAddr)...)
		cmd.Env = env
		p := &proc{kind: kind, name: name, cmd: cmd, rtmpAddr: rtmpAddr, httpAddr: httpAddr}
		p.p, err = testproc.Start(cmd, 20*time.Second, testproc.HTTPCheck(p.url(health), nil))
		if err == nil {
			return p, nil
		}
		last = err
	}
	return nil, fmt.Errorf("start %s %s: %w", kind, name, last)
}

func (c *cluster) startS3(ctx context.Context) error {
	data := filepath.Join(c.dir, "s3")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("s3 data dir: %w", err)
	}
	// versitygw answers an unsigned GET / with 403: up is up.
	p, err := c.start("versitygw", "s3", cleanEnv(), "/", func(_, http string) []string {
		return []string{"--port", http, "--access", c.access, "--secret", c.secret, "--region", c.region, "--quiet", "posix", data}
	})
	if err != nil {
		return err
	}
	c.s3 = p
	c.endpoint = "http://" + p.httpAddr
	client := s3.New(s3.Options{Region: c.region, BaseEndpoint: aws.String(c.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(c.access, c.secret, "")})
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(cctx, &s3.CreateBucketInput{Bucket: aws.String(c.bucket)}); err != nil {
		return fmt.Errorf("create bucket %s: %w\n%s", c.bucket, err, p.p.Output())
	}
	return nil
}

// rewindEnv is the environment of the rewind processes: the store's keys
// through the standard AWS chain, no other AWS configuration.
func (c *cluster) rewindEnv() []string {
	return append(cleanEnv(), "AWS_ACCESS_KEY_ID="+c.access, "AWS_SECRET_ACCESS_KEY="+c.secret,
		"AWS_REGION="+c.region, "AWS_ENDPOINT_URL="+c.endpoint, "AWS_EC2_METADATA_DISABLED=true")
}

func (c *cluster) storeArgs() []string {
	return []string{"--store", "s3://" + c.bucket + "/" + c.prefix, "--s3-path-style", "--s3-endpoint", c.endpoint}
}

func (c *cluster) startOrigin(name string) error {
	spool := filepath.Join(c.dir, name, "spool")
	p, err := c.start("origin", name, c.rewindEnv(), "/healthz", func(rtmp, http string) []string {
		return append([]string{"origin"}, append(c.storeArgs(),
			"--spool", spool, "--node", name, "--rtmp-addr", rtmp, "--http-addr", http,
			"--heartbeat-interval", c.cfg.heartbeat.String(), "--registry-refresh", c.cfg.refresh.String(),
			"--node-timeout", c.cfg.nodeTimeout.String(), "--pull-linger", c.cfg.pullLinger.String(),
			"--max-publishers", "1000", "--max-conns", "4000", "--log-level", c.cfg.logLevel)...)
	})
	if err != nil {
		return err
	}
	c.nodes = append(c.nodes, p)
	return nil
}

func (c *cluster) startProxy(name string) error {
	p, err := c.start("proxy", name, c.rewindEnv(), "/healthz", func(rtmp, http string) []string {
		return append([]string{"proxy"}, append(c.storeArgs(),
			"--rtmp-addr", rtmp, "--http-addr", http,
			"--node-timeout", c.cfg.nodeTimeout.String(), "--registry-refresh", c.cfg.refresh.String(),
			"--log-level", c.cfg.logLevel)...)
	})
	if err != nil {
		return err
	}
	c.proxies = append(c.proxies, p)
	return nil
}

// waitReady waits until the registry lists every node and every proxy is
// ready (it sees an alive node).
func (c *cluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var notReady []string
		if err := c.reg.Refresh(ctx); err != nil {
			notReady = append(notReady, "registry: "+err.Error())
		} else if n := len(c.reg.Nodes()); n != len(c.nodes) {
			notReady = append(notReady, fmt.Sprintf("registry lists %d nodes of %d", n, len(c.nodes)))
		}
		for _, p := range c.proxies {
			if err := testproc.HTTPCheck(p.url("/readyz"), func(s int) bool { return s == http.StatusOK })(); err != nil {
				notReady = append(notReady, p.name+": "+err.Error())
			}
		}
		if len(notReady) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ready: %s", strings.Join(notReady, "; "))
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// liveOn waits until stream ("app/name") is live on a node and returns it.
func (c *cluster) liveOn(ctx context.Context, stream string, timeout time.Duration) (*proc, error) {
	deadline := time.Now().Add(timeout)
	for {
		if n, ok := c.reg.Live(ctx, stream); ok {
			for _, p := range c.nodes {
				if p.name == n.Name {
					return p, nil
				}
			}
			return nil, fmt.Errorf("%s is live on %q, not a node of the bench", stream, n.Name)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s not live on any node within %s", stream, timeout)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// sumNodes is the sum of a metric over the nodes.
func (c *cluster) sumNodes(ctx context.Context, name string) (float64, error) {
	var sum float64
	for _, n := range c.nodes {
		m, err := n.metrics(ctx)
		if err != nil {
			return 0, err
		}
		sum += m[name]
	}
	return sum, nil
}

// waitNodes polls sumNodes(name) until ok or d passes.
func (c *cluster) waitNodes(ctx context.Context, name string, ok func(float64) bool, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		v, err := c.sumNodes(ctx, name)
		if err == nil && ok(v) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s over the nodes (now %v): %v", name, v, err)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// cleanEnv is the bench's environment without what versitygw or the AWS
// SDK would read as configuration, so the command lines alone decide.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "VGW_") || strings.HasPrefix(name, "ROOT_") ||
			strings.HasPrefix(name, "AWS_") || name == "LOGFILE" || name == "WEBHOOK" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// series is the value of the series of family whose labels include every
// name=value pair of labels (the exposition sorts labels by name, so exact
// keys are not relied on); the sum when several match.
func series(m map[string]float64, family string, labels ...string) float64 {
	var sum float64
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, family+"{")
		if !ok {
			continue
		}
		rest = "," + rest
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(rest, ","+labels[i]+`="`+labels[i+1]+`"`) {
				match = false
				break
			}
		}
		if match {
			sum += v
		}
	}
	return sum
}
