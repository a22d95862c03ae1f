package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// rtmpdumpViewer is a third-party player: Debian's rtmpdump (librtmp)
// playing live to its standard output, which is read as FLV here so that
// only audio and video bytes count, as for the other players.
type rtmpdumpViewer struct {
	url   string // rtmp://host:port/app/name
	media atomic.Int64
	proc  atomic.Int64 // rtmpdump's pid once started

	connected bool
	err       error
}

func (v *rtmpdumpViewer) mediaBytes() int64     { return v.media.Load() }
func (v *rtmpdumpViewer) pid() int              { return int(v.proc.Load()) }
func (v *rtmpdumpViewer) isConnected() bool     { return v.connected }
func (v *rtmpdumpViewer) result() (bool, error) { return v.connected, v.err }

func (v *rtmpdumpViewer) run(ctx context.Context, joined func()) {
	var once sync.Once
	join := func() { once.Do(joined) }
	defer join()
	// --live: no seek, no resume, the stream's end ends it.
	cmd := exec.CommandContext(ctx, "rtmpdump", "--live", "-r", v.url, "-o", "-")
	cmd.WaitDelay = 5 * time.Second
	// Its progress lines go on as long as it plays: only the last ones,
	// with the error, are kept.
	stderr := &tailWriter{max: 2 << 10}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		v.err = fmt.Errorf("rtmpdump: %w", err)
		return
	}
	if err := cmd.Start(); err != nil {
		v.err = fmt.Errorf("rtmpdump: %w", err)
		return
	}
	v.proc.Store(int64(cmd.Process.Pid))
	rerr := v.read(out, func() { v.connected = true; join() })
	// The rest of its output, should the FLV have been cut short, so that
	// rtmpdump is not blocked writing and exits.
	_, _ = io.Copy(io.Discard, out)
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return // cut off by the round, not a failure
	}
	switch {
	case rerr != nil:
		v.err = fmt.Errorf("rtmpdump %s: %w: %s", v.url, rerr, strings.TrimSpace(stderr.String()))
	case werr != nil && !v.connected:
		v.err = fmt.Errorf("rtmpdump %s: %w: %s", v.url, werr, strings.TrimSpace(stderr.String()))
	}
}

// read counts the audio and video tag bodies of rtmpdump's FLV output.
func (v *rtmpdumpViewer) read(r io.Reader, first func()) error {
	tr, err := newTagReader(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("no output")
		}
		return err
	}
	for {
		t, err := tr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if t.typ == 9 {
			first()
		}
		if t.typ == 8 || t.typ == 9 {
			v.media.Add(int64(t.size))
		}
	}
}

// flvViewer is the HTTP-FLV player of the first table, as a viewer.
type flvViewer struct {
	player
	c        *http.Client
	url      string
	pubStart time.Time
}

func (v *flvViewer) mediaBytes() int64 { return v.media.Load() }
func (v *flvViewer) isConnected() bool { return v.connected }
func (v *flvViewer) result() (bool, error) {
	if errors.Is(v.err, context.Canceled) {
		return v.connected, nil // cut off by the round
	}
	return v.connected, v.err
}
func (v *flvViewer) run(ctx context.Context, joined func()) {
	v.player.run(ctx, v.c, v.url, v.pubStart, joined)
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = append(w.b[:0], w.b[len(w.b)-w.max:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
