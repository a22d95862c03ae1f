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

// nginxTuning is the peer's server-level RTMP directives (-nginx).
type nginxTuning string

const (
	// nginxDefault is the module's defaults: chunk_size 4096, out_queue
	// 256, out_cork 32, buflen 1000ms.
	nginxDefault nginxTuning = "default"
	// nginxFair sets what rewind's origin does the same way:
	//   - chunk_size 65536: the origin cuts its outgoing chunks at 64 KiB
	//     (rtmpwire.OutChunkSize); at 4096 a 2.6 Mbit/s video frame is
	//     several chunks, each a header and a piece of a write, for nginx;
	//   - out_queue 1024: a player may fall 1024 messages behind before
	//     anything is shed, as the origin's player queue holds 1024 frames
	//     (PlayersConfig.Queue). nginx-rtmp sheds by priority below that
	//     (ngx_rtmp_send_message drops when queued + priority*out_queue/4
	//     >= out_queue: inter frames past 1/2, keyframes past 3/4, audio
	//     only when full), so at 256 a player 128 messages (~1.7 s here)
	//     behind already loses video, where the origin still sends it;
	//   - out_cork 128: the default ratio (out_queue/8) kept; it holds
	//     back non-audio messages only on buffered sessions;
	//   - buflen 1000ms: the default, written out; the players here send
	//     their own buffer length.
	nginxFair nginxTuning = "fair"
)

func (t nginxTuning) directives() string {
	if t == nginxFair {
		return "    chunk_size 65536;\n    out_queue 1024;\n    out_cork 128;\n    buflen 1000ms;\n"
	}
	return ""
}

func startNginxRTMP(tuning nginxTuning) (*nginxRTMP, error) {
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
	// One worker, as the origin is one process (a live stream across
	// workers needs rtmp_auto_push, a relay between them). No HTTP:
	// nginx-rtmp has no HTTP-FLV. The access log is off, as the origin
	// logs no access either.
	conf := fmt.Sprintf(`load_module %s;
worker_processes 1;
error_log %s/error.log warn;
pid %s/nginx.pid;
events { worker_connections 4096; }
rtmp {
  access_log off;
  server {
    listen 127.0.0.1:%s;
%s    application %s {
      live on;
    }
  }
}
`, rtmpModule, dir, dir, port, tuning.directives(), app)
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

// errorLog is the end of nginx's error.log (warnings and errors).
func (ng *nginxRTMP) errorLog() string {
	b, err := os.ReadFile(filepath.Join(ng.dir, "error.log"))
	if err != nil {
		return ""
	}
	const max = 2 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
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
