// Package nginxtest runs a private nginx with the RTMP module
// (libnginx-mod-rtmp) for tests: a real RTMP server we did not write.
package nginxtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/testproc"
)

// Module is where Debian's libnginx-mod-rtmp puts the module.
const Module = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// Start runs nginx with the given rtmp {} block (rtmpBlock gets the free
// loopback address to listen on) and returns that address once it accepts
// connections; never the system service. It skips the test when nginx or
// its RTMP module is not installed, and stops nginx at the test's end.
func Start(t testing.TB, rtmpBlock func(addr string) string) string {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx not installed (make deps installs nginx and libnginx-mod-rtmp)")
	}
	if _, err := os.Stat(Module); err != nil {
		t.Skip("nginx RTMP module not installed (make deps installs libnginx-mod-rtmp)")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // the worker runs as nobody
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`load_module %s;
worker_processes 1;
error_log %s info;
pid %s;
events { worker_connections 256; }
rtmp {
%s
}
`, Module, filepath.Join(dir, "error.log"), filepath.Join(dir, "nginx.pid"), rtmpBlock(addr))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &testproc.Buffer{}
	cmd := exec.Command("nginx", "-c", confPath, "-p", dir, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // the master stops its worker
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx on %s output:\n%s\nerror.log:\n%s", addr, out.String(), log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case <-exited:
			t.Fatalf("nginx exited at start:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %s:\n%s", addr, out.String())
		}
	}
}
