package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// rtmpModule is where Debian's libnginx-mod-rtmp puts the module.
const rtmpModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// nginxRTMP is the peer: nginx-rtmp relaying the same publish to the same
// players, with its own config, prefix and loopback port (never the
// system service).
type nginxRTMP struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	out      *testproc.Buffer
	dir      string
	rtmpAddr string
}

// nginxVersion says which nginx and RTMP module the peer is, for the
// table's title.
func nginxVersion() string {
	v := "nginx"
	if out, err := exec.Command("nginx", "-v").CombinedOutput(); err == nil {
		if _, s, ok := strings.Cut(strings.TrimSpace(string(out)), "nginx version: "); ok {
			v = s
		}
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "libnginx-mod-rtmp").Output(); err == nil {
		v += ", libnginx-mod-rtmp " + string(out)
	}
	return v
}

func startNginxRTMP() (*nginxRTMP, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, errors.New("nginx not found (Debian package nginx; `make bench` installs it)")
	}
	if _, err := os.Stat(rtmpModule); err != nil {
		return nil, errors.New("nginx RTMP module not found (Debian package libnginx-mod-rtmp; `make bench` installs it)")
	}
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	// Not under a 0700 temp parent: the worker runs as nobody when the
	// bench runs as root, and writes its temp files here.
	dir, err := os.MkdirTemp("", "rewind-fanout-nginx-")
	if err != nil {
		return nil, fmt.Errorf("nginx dir: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("nginx dir: %w", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	// One worker, as the origin is one process. No HTTP: nginx-rtmp has no
	// HTTP-FLV. The access log is off, as the origin logs no access
	// either; the chunk size is the module's default.
	conf := fmt.Sprintf(`load_module %s;
worker_processes 1;
error_log %s/error.log warn;
pid %s/nginx.pid;
events { worker_connections 4096; }
rtmp {
  access_log off;
  server {
    listen 127.0.0.1:%s;
    application %s {
      live on;
    }
  }
}
`, rtmpModule, dir, dir, port, app)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("nginx conf: %w", err)
	}
	ng := &nginxRTMP{dir: dir, rtmpAddr: addr, out: &testproc.Buffer{}, exited: make(chan struct{})}
	ng.cmd = exec.Command(bin, "-c", confPath, "-p", dir, "-g", "daemon off;")
	ng.cmd.Stdout, ng.cmd.Stderr = ng.out, ng.out
	// Should the bench be killed, the master goes too; its worker then
	// exits on its own once the master's channel closes.
	ng.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := ng.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	go func() { ng.cmd.Wait(); close(ng.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return ng, nil
		}
		select {
		case <-ng.exited:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("nginx exited at start: %s", ng.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			ng.stop()
			return nil, fmt.Errorf("nginx not listening on %s: %s", addr, ng.out.String())
		}
	}
}

// cpu is the CPU seconds of the master and its worker.
func (ng *nginxRTMP) cpu() (float64, error) {
	total, _, err := benchkit.MasterCPU(ng.cmd.Process.Pid)
	if err != nil {
		return 0, fmt.Errorf("nginx: %w", err)
	}
	return total, nil
}

// stop ends nginx with SIGTERM (the fast shutdown: the master stops its
// worker, which a SIGKILL of the master would leave behind on the port)
// and removes its directory.
func (ng *nginxRTMP) stop() {
	ng.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ng.exited:
	case <-time.After(10 * time.Second):
		ng.cmd.Process.Kill()
		<-ng.exited
	}
	os.RemoveAll(ng.dir)
}
