//go:build soak

package soak

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a rewind subprocess that the soak kills and starts again with the
// same command line; everything it prints goes to one log file across its
// lives, read at the end for panics.
type proc struct {
	name string
	bin  string
	args []string
	env  []string
	log  string

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	err   error // exit error of the last life
	lives int
}

func newProc(name, bin, logPath string, env []string, args ...string) *proc {
	return &proc{name: name, bin: bin, args: args, env: env, log: logPath}
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("%s log: %w", p.name, err)
	}
	fmt.Fprintf(f, "=== soak: %s life %d at %s\n", p.name, p.lives+1, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	// The soak's children must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.lives = cmd, done, p.lives+1
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// pid is the current life's pid, "" when it is not running.
func (p *proc) pid() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return ""
	}
	select {
	case <-p.done:
		return ""
	default:
	}
	return strconv.Itoa(p.cmd.Process.Pid)
}

// kill9 kills the current life and waits for it.
func (p *proc) kill9() {
	p.signal(syscall.SIGKILL, time.Minute)
}

// stop sends SIGTERM and waits up to d; it reports the exit error.
func (p *proc) stop(d time.Duration) error {
	if !p.signal(syscall.SIGTERM, d) {
		p.kill9()
		return fmt.Errorf("%s did not exit within %s of SIGTERM", p.name, d)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *proc) signal(sig syscall.Signal, d time.Duration) bool {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return true
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// panics returns the log lines that show a Go panic or fatal error.
func (p *proc) panics() ([]string, error) {
	f, err := os.Open(p.log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") ||
			strings.Contains(l, "[recovered]") || strings.Contains(strings.ToLower(l), "err=\"panic") {
			out = append(out, p.name+": "+l)
		}
	}
	return out, sc.Err()
}
