// Package nginxtest runs a private nginx for tests (Debian's package, its
// own config and loopback port; never the system service): with the RTMP
// module (libnginx-mod-rtmp) as a real RTMP server we did not write, or as
// an HTTP server, e.g. a caching reverse proxy standing in for a CDN.
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

// Server is one private nginx. Stop and Start may be called any number of
// times, from the test's goroutine: Start listens on the same Addr again.
type Server struct {
	// Addr is the loopback host:port nginx listens on.
	Addr string
	// Dir is the server's private directory (config, logs, pid, temp
	// files), readable and writable by nginx's workers.
	Dir string

	t      testing.TB
	conf   string
	out    *testproc.Buffer
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs nginx with the given rtmp {} block (rtmpBlock gets the free
// loopback address to listen on) and returns that address once it accepts
// connections. It skips the test when nginx or its RTMP module is not
// installed, and stops nginx at the test's end.
func Start(t testing.TB, rtmpBlock func(addr string) string) string {
	t.Helper()
	if _, err := os.Stat(Module); err != nil && haveNginx() {
		t.Skip("nginx RTMP module not installed (make deps installs libnginx-mod-rtmp)")
	}
	s := newServer(t, func(addr, dir string) string {
		return fmt.Sprintf("load_module %s;\n%s\nrtmp {\n%s\n}\n", Module, preamble(dir), rtmpBlock(addr))
	})
	return s.Addr
}

// StartHTTP runs nginx with the given http {} block contents (httpBlock
// gets the free loopback address to listen on and the server's Dir, e.g.
// for a proxy_cache_path) and returns once it accepts connections. The
// temp paths are set inside Dir and access_log goes to Dir/access.log
// unless the block says otherwise. It skips the test when nginx is not
// installed, and stops nginx at the test's end.
func StartHTTP(t testing.TB, httpBlock func(addr, dir string) string) *Server {
	t.Helper()
	return newServer(t, func(addr, dir string) string {
		tmp := func(name string) string { return filepath.Join(dir, "tmp", name) }
		return fmt.Sprintf(`%s
http {
  client_body_temp_path %s;
  proxy_temp_path %s;
  fastcgi_temp_path %s;
  uwsgi_temp_path %s;
  scgi_temp_path %s;
  access_log %s;
%s
}
`, preamble(dir), tmp("body"), tmp("proxy"), tmp("fastcgi"), tmp("uwsgi"), tmp("scgi"),
			filepath.Join(dir, "access.log"), httpBlock(addr, dir))
	})
}

func haveNginx() bool {
	_, err := exec.LookPath("nginx")
	return err == nil
}

// preamble is the main context every config shares: one worker, logs and
// pid in dir.
func preamble(dir string) string {
	return fmt.Sprintf(`worker_processes 1;
error_log %s info;
pid %s;
events { worker_connections 256; }`, filepath.Join(dir, "error.log"), filepath.Join(dir, "nginx.pid"))
}

// newServer writes the config conf builds for a free loopback address and
// a private directory, and starts nginx on it.
func newServer(t testing.TB, conf func(addr, dir string) string) *Server {
	t.Helper()
	if !haveNginx() {
		t.Skip("nginx not installed (make deps installs nginx and libnginx-mod-rtmp)")
	}
	// Not t.TempDir: its parents are 0700 and the workers run as nobody
	// when the test runs as root, and they write the cache and temp files.
	dir, err := os.MkdirTemp("", "nginxtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: addr, Dir: dir, t: t, conf: filepath.Join(dir, "nginx.conf"), out: &testproc.Buffer{}}
	if err := os.WriteFile(s.conf, []byte(conf(addr, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx on %s output:\n%s\nerror.log:\n%s", addr, s.out.String(), log)
		}
	})
	s.Start()
	return s
}

// Start runs nginx (again, on the same Addr) and returns once it accepts
// connections; a running server is left alone.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command("nginx", "-c", s.conf, "-p", s.Dir, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			s.cmd = nil
			s.t.Fatalf("nginx exited at start:\n%s", s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nginx not listening on %s:\n%s", s.Addr, s.out.String())
		}
	}
}

// Stop ends nginx (SIGTERM, the fast shutdown: open connections are
// closed at once) and waits until it has exited, so Addr refuses
// connections; a stopped server is left alone.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM) // the master stops its worker
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Log is what nginx wrote to its standard output and error.
func (s *Server) Log() string { return s.out.String() }
