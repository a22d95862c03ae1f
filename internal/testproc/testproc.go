// Package testproc runs the real servers tests depend on (S3 and SQS test
// servers built by `make deps` into .tools/bin): it finds the binary, runs
// it with its output kept, waits until it is healthy and kills it.
package testproc

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Binary finds a tool: $env when set, else .tools/bin/name in the module
// root (the nearest folder upwards holding go.mod).
func Binary(env, name string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s: %w", env, err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".tools", "bin", name)
			if _, err := os.Stat(p); err != nil {
				return "", err
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RandHex is n random bytes in hex, for unique names.
func RandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Proc is a running server process.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *tailBuffer
}

// Start runs cmd (its output kept for Output; killed with the test binary
// where the OS allows) and polls healthy until it passes, the process
// exits, or timeout passes; then the process is killed and the error says
// why, with its output.
func Start(cmd *exec.Cmd, timeout time.Duration, healthy func() error) (*Proc, error) {
	p := &Proc{cmd: cmd, done: make(chan struct{}), out: &tailBuffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(cmd.Path), err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(timeout)
	for {
		err := healthy()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			err = errors.New("exited before answering")
		case <-time.After(20 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
			err = fmt.Errorf("no answer within %s: %w", timeout, err)
		}
		p.Kill()
		return nil, fmt.Errorf("%s: %w\n%s", filepath.Base(cmd.Path), err, p.Output())
	}
}

// Kill kills the process and waits for it.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Output is the last 64 KiB the process printed.
func (p *Proc) Output() string { return p.out.String() }

// HTTPCheck is a health check that passes when GET url answers with a
// status that ok accepts (nil: any answer).
func HTTPCheck(url string, ok func(status int) bool) func() error {
	client := &http.Client{Timeout: time.Second}
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if ok != nil && !ok(resp.StatusCode) {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// tailBuffer collects process output, keeping only the last 64 KiB.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const keep = 64 << 10
	b.buf.Write(p)
	if b.buf.Len() > keep {
		b.buf.Next(b.buf.Len() - keep)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
