package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profiler takes a CPU profile of a rewind origin (REWIND_PPROF=1) over a
// round's publish time, and a heap profile when the publish ends, while
// every publisher's GOP cache and queues are still held.
type profiler struct {
	base string // path prefix: base-cpu.pprof, base-heap.pprof
	url  string
	done chan error
}

// startProfile starts the CPU profile 1 s into a publish of dur and runs
// it to 1 s before its end: the ramp-up and the last uploads stay out.
func startProfile(url, base string, dur time.Duration) *profiler {
	p := &profiler{base: base, url: url, done: make(chan error, 1)}
	secs := max(int((dur-2*time.Second)/time.Second), 1)
	go func() {
		time.Sleep(time.Second)
		p.done <- fetchTo(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", url, secs), base+"-cpu.pprof", time.Duration(secs+30)*time.Second)
	}()
	return p
}

// finish takes the heap profile and waits for the CPU profile.
func (p *profiler) finish() error {
	err := fetchTo(p.url+"/debug/pprof/heap", p.base+"-heap.pprof", 30*time.Second)
	return errors.Join(err, <-p.done)
}

func fetchTo(url, path string, timeout time.Duration) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("profile folder: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("profile file: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("get %s: %w", url, err)
	}
	return f.Close()
}
