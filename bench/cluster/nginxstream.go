package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// streamModule is where Debian's libnginx-mod-stream puts nginx's L4 proxy.
const streamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// nginxStream is the peer of table 2: nginx's stream module relaying the
// same publishers to the nodes at L4 (round-robin, it cannot route by
// stream name). It is the floor of what any TCP relay costs on this
// host's loopback, where the sender is billed for the receiver's TCP work
// too: the proxy's figure is read against it.
type nginxStream struct {
	cmd      *exec.Cmd
	p        *testproc.Proc
	rtmpAddr string
	version  string
}

func startNginxStream(dir string, nodes []*proc) (*nginxStream, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, errors.New("nginx not found (Debian package nginx; `make bench` installs it)")
	}
	if _, err := os.Stat(streamModule); err != nil {
		return nil, errors.New("nginx stream module not found (Debian package libnginx-mod-stream; `make bench` installs it)")
	}
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	prefix := filepath.Join(dir, "nginx-stream")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, fmt.Errorf("nginx dir: %w", err)
	}
	var servers strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&servers, "    server %s;\n", n.rtmpAddr)
	}
	conf := fmt.Sprintf(`load_module %s;
worker_processes 1;
error_log %s/error.log warn;
pid %s/nginx.pid;
events { worker_connections 4096; }
stream {
  upstream nodes {
%s  }
  server {
    listen %s;
    proxy_pass nodes;
    tcp_nodelay on;
  }
}
`, streamModule, prefix, prefix, servers.String(), addr)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("nginx conf: %w", err)
	}
	ng := &nginxStream{rtmpAddr: addr, version: "nginx"}
	if out, err := exec.Command(bin, "-v").CombinedOutput(); err == nil {
		if _, v, ok := strings.Cut(strings.TrimSpace(string(out)), "nginx version: "); ok {
			ng.version = v
		}
	}
	ng.cmd = exec.Command(bin, "-c", confPath, "-p", prefix, "-g", "daemon off;")
	ng.p, err = testproc.Start(ng.cmd, 10*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("start nginx stream proxy: %w", err)
	}
	return ng, nil
}

// cpu is the CPU seconds of the master and its worker(s), and of those in
// the kernel.
func (ng *nginxStream) cpu() (total, sys float64, err error) {
	if total, sys, err = benchkit.MasterCPU(ng.cmd.Process.Pid); err != nil {
		return 0, 0, fmt.Errorf("nginx: %w", err)
	}
	return total, sys, nil
}

func (ng *nginxStream) close() { ng.p.Kill() }

// peerRow is one round of the nginx stream peer.
type peerRow struct {
	n             int
	window        time.Duration
	nginx, origin float64 // CPU seconds over the window
	nginxSys      float64
}

// peerRound publishes n streams through nginx's stream proxy and measures
// its CPU and the nodes' over dur, as cpuRound does for the proxy.
func peerRound(ctx context.Context, c *cluster, ng *nginxStream, tags []flvfile.Tag, n int, dur time.Duration) (*peerRow, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("p%d-s%d", n, i)
	}
	pubs, err := c.publishLive(ctx, ng.rtmpAddr, names, tags, dur)
	if err != nil {
		return nil, err
	}
	defer pubs.stop()
	snap := func() (at time.Time, ngx, ngxSys, origin float64, err error) {
		at = time.Now()
		if ngx, ngxSys, err = ng.cpu(); err != nil {
			return
		}
		for _, p := range c.nodes {
			v, err := p.cpu()
			if err != nil {
				return at, 0, 0, 0, err
			}
			origin += v
		}
		return
	}
	t0, n0, ns0, o0, err := snap()
	if err != nil {
		return nil, err
	}
	slog.Info("measuring the nginx stream peer", "publishers", n, "window", dur)
	if err := sleep(ctx, dur); err != nil {
		return nil, err
	}
	t1, n1, ns1, o1, err := snap()
	if err != nil {
		return nil, err
	}
	if k, perr := pubs.failed(); k > 0 {
		return nil, fmt.Errorf("%d publishers through nginx failed, first: %w", k, perr)
	}
	pubs.stop()
	if err := c.settle(ctx); err != nil {
		slog.Warn("the nodes did not settle after the peer round", "err", err)
	}
	return &peerRow{n: n, window: t1.Sub(t0), nginx: n1 - n0, nginxSys: ns1 - ns0, origin: o1 - o0}, nil
}

func printPeerHeader(version string) {
	fmt.Printf("\n2b. peer: the same N publishers through nginx %s's stream module (L4 relay, round-robin to the nodes, worker_processes 1)\n", version)
	fmt.Printf("%5s %7s %9s %7s %14s %13s %9s %12s\n", "N", "win s", "ngx cores", "ngx sys", "ngx s/str-min", "or s/str-min", "ngx/or %", "px/ngx (x)")
}

// print shows the peer's round next to the proxy's round of the same N.
func (p *peerRow) print(px *cpuRow) {
	secs, strMin := p.window.Seconds(), float64(p.n)*p.window.Minutes()
	ratio, vs, sys := "-", "-", "-"
	if p.origin > 0 {
		ratio = fmt.Sprintf("%.2f", 100*p.nginx/p.origin)
	}
	if p.nginx > 0 {
		sys = fmt.Sprintf("%.0f%%", 100*p.nginxSys/p.nginx)
		if px != nil && px.n == p.n {
			pxPer := px.proxy / (float64(px.n) * px.window.Minutes())
			vs = fmt.Sprintf("%.2f", pxPer/(p.nginx/strMin))
		}
	}
	fmt.Printf("%5d %7.1f %9.3f %7s %14.4f %13.4f %9s %12s\n", p.n, secs, p.nginx/secs, sys, p.nginx/strMin, p.origin/strMin, ratio, vs)
}
