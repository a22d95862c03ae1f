package origin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/rewind-vod/rewind/internal/backoff"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// trackedListener sits between the listener and go-rtmp's accept loop. It
// registers every connection with the server (MaxConns, shutdown) and it
// never hands go-rtmp a transient accept error: go-rtmp v0.0.7 retries those
// in a tight loop.
type trackedListener struct {
	net.Listener
	srv *Server
}

func (l *trackedListener) Accept() (net.Conn, error) {
	retry := backoff.Policy{Min: 5 * time.Millisecond, Max: time.Second}
	fails := 0
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			if l.srv.isClosing() {
				return nil, net.ErrClosed
			}
			if errors.Is(err, net.ErrClosed) {
				// Closed under us, not by Serve: report it and park until
				// Serve shuts go-rtmp down, which would otherwise spin.
				l.srv.fail(err)
				<-l.srv.ctx.Done()
				return nil, net.ErrClosed
			}
			fails++
			wait := retry.Wait(fails)
			l.srv.log.Warn("rtmp accept failed, retrying", "err", err, "backoff", wait)
			if !backoff.Sleep(l.srv.ctx, wait) {
				return nil, net.ErrClosed
			}
			continue
		}
		fails = 0
		if c := l.srv.track(nc); c != nil {
			return c, nil
		}
	}
}

// trackedConn wraps an accepted connection: it applies the idle timeout,
// remembers why the connection ended, and tells the server when go-rtmp is
// done with it (go-rtmp closes it last thing in its connection goroutine).
type trackedConn struct {
	net.Conn
	srv     *Server
	remote  string
	opened  time.Time
	timeout time.Duration
	log     *slog.Logger

	// Until the handler accepts a publish or play, reads also stop at
	// setupDeadline, however steadily the peer trickles bytes.
	setupTimeout  time.Duration
	setupDeadline time.Time
	setupDone     atomic.Bool
	// wire is what go-rtmp reads through (set in onConnect).
	wire *rtmpwire.Conn

	// Deadline bookkeeping; lastRead is touched only by go-rtmp's reading
	// goroutine, lastWrite only by its writing goroutine.
	lastRead, lastWrite time.Time
	// readForever lifts the idle timeout (players); reading goroutine only.
	readForever bool
	// pause > 0: a publisher's reads are batched (see readBatched);
	// lastData is when its last bytes came. Reading goroutine only.
	pause    time.Duration
	lastData time.Time

	bytesIn atomic.Int64

	mu      sync.Mutex
	reason  string // why we ended it; "" if the peer or go-rtmp did
	readErr error  // first read error
	rtmpErr string // error go-rtmp logged when it gave up on the connection
	// protoErr is the protocol error our wire layer refused the peer with.
	protoErr *rtmpwire.Error

	done sync.Once
}

// Read refreshes the read deadline before each read rather than after a
// successful one: the idle clock must not run while the handler itself is
// busy (an auth hook or a takeover hand-over), only while we wait for the
// peer. Refreshes are coarse to keep timer churn low.
func (c *trackedConn) Read(b []byte) (int, error) {
	if c.pause > 0 {
		return c.readBatched(b)
	}
	if !c.setupDone.Load() {
		// Few reads happen before setup is done: set it every time.
		dl := time.Now().Add(c.timeout)
		if c.setupDeadline.Before(dl) {
			dl = c.setupDeadline
		}
		c.lastRead = time.Time{}
		_ = c.Conn.SetReadDeadline(dl)
	} else if c.readForever {
		if !c.lastRead.IsZero() {
			c.lastRead = time.Time{}
			_ = c.Conn.SetReadDeadline(time.Time{})
		}
	} else if now := time.Now(); now.Sub(c.lastRead) > c.timeout/16 {
		c.lastRead = now
		_ = c.Conn.SetReadDeadline(now.Add(c.timeout))
	}
	n, err := c.Conn.Read(b)
	c.noteRead(n, err)
	return n, err
}

func (c *trackedConn) noteRead(n int, err error) {
	c.bytesIn.Add(int64(n))
	if err != nil {
		c.mu.Lock()
		if c.readErr == nil {
			c.readErr = err
		}
		c.mu.Unlock()
	}
}

// Batched reads (publishers). A publisher sends ~80 messages a second in
// ~200 writes; waking for each (a poller wake-up, a goroutine switch, a
// read system call) was most of the origin's CPU per stream. With
// SO_RCVLOWAT at half the read buffer, the socket reports readable only
// once that much is waiting, or at once on the peer's FIN or reset; a
// read deadline pause ahead bounds the wait for a slower stream, and the
// read after it takes whatever arrived. So a reader wakes about once a
// pause (or per rcvLowat bytes, for a fast stream), media waits at most
// pause longer, and the end of a publish is seen as soon as before.
const rcvLowat = 32 << 10

// startBatching turns batched reads on for a publisher; on go-rtmp's
// connection goroutine, once the publish is accepted.
func (c *trackedConn) startBatching(pause time.Duration) {
	if pause <= 0 {
		return
	}
	c.pause = pause
	c.lastData = time.Now()
	setRcvLowat(c.Conn, rcvLowat)
}

func (c *trackedConn) readBatched(b []byte) (int, error) {
	for {
		now := time.Now()
		dl := now.Add(c.pause)
		if idle := c.lastData.Add(c.timeout); idle.Before(dl) {
			dl = idle
		}
		_ = c.Conn.SetReadDeadline(dl)
		n, err := c.Conn.Read(b)
		if n > 0 {
			c.lastData = time.Now()
		}
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && time.Since(c.lastData) < c.timeout {
			continue // the pause is over: the next read takes what is there
		}
		c.noteRead(n, err)
		return n, err
	}
}

// Write uses the same timeout: a peer that does not take our replies for
// that long is as dead as one that sends nothing.
func (c *trackedConn) Write(b []byte) (int, error) {
	if now := time.Now(); now.Sub(c.lastWrite) > c.timeout/16 {
		c.lastWrite = now
		_ = c.Conn.SetWriteDeadline(now.Add(c.timeout))
	}
	return c.Conn.Write(b)
}

// kill closes the socket from our side (takeover, limit, shutdown). go-rtmp
// then fails its read, runs the handler's OnClose and calls Close.
func (c *trackedConn) kill(reason string) {
	c.setReason(reason)
	_ = c.Conn.Close()
}

// setReason records the first reason we give for ending the connection.
func (c *trackedConn) setReason(reason string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
}

// Close is called by go-rtmp when it is finished with the connection (after
// the handler's OnClose); it is the end of the connection's life.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.done.Do(func() { c.srv.untrack(c) })
	return err
}

// setupFinished lifts the setup deadline once a publish or play is
// accepted, and gives the wire reader the limits of what follows. Call it
// on go-rtmp's connection goroutine (a handler method).
func (c *trackedConn) setupFinished(l rtmpwire.Limits) {
	if c.setupDone.Swap(true) {
		return
	}
	c.wire.SetLimits(l)
	// The deadline in force may be the setup one: replace it now.
	if c.readForever {
		c.lastRead = time.Time{}
		_ = c.Conn.SetReadDeadline(time.Time{})
	} else {
		c.lastRead = time.Now()
		_ = c.Conn.SetReadDeadline(c.lastRead.Add(c.timeout))
	}
}

// setProtoErr records the protocol error the wire layer refused the peer
// with; the first one is the cause.
func (c *trackedConn) setProtoErr(e *rtmpwire.Error) {
	c.mu.Lock()
	if c.protoErr == nil {
		c.protoErr = e
	}
	c.mu.Unlock()
}

// wireConn is what go-rtmp reads and writes: our wire layer over the
// tracked socket. It notes protocol errors for the end-of-connection line,
// and it serializes every write on the connection: go-rtmp's message
// encoder is not safe for concurrent use, and a play connection sends media
// from its own goroutine while go-rtmp answers commands and sends acks from
// its reading goroutine. That goroutine holds the write turn except while
// it waits for the peer inside Read; any other writer takes the turn for
// each message (withTurn).
type wireConn struct {
	*rtmpwire.Conn
	tc      *trackedConn
	turn    sync.Mutex
	release sync.Once
}

// newWireConn is called on go-rtmp's connection goroutine, which then
// holds the turn.
func newWireConn(c *rtmpwire.Conn, tc *trackedConn) *wireConn {
	w := &wireConn{Conn: c, tc: tc}
	w.turn.Lock()
	return w
}

func (w *wireConn) Read(b []byte) (int, error) {
	w.turn.Unlock()
	n, err := w.Conn.Read(b)
	w.turn.Lock()
	var pe *rtmpwire.Error
	if err != nil && errors.As(err, &pe) {
		w.tc.setProtoErr(pe)
	}
	return n, err
}

// withTurn runs write, one or more go-rtmp writes, with the write turn. Call
// it from any goroutine but go-rtmp's connection goroutine (which has it),
// or from that goroutine inside Read (the wire layer's media hook and
// acknowledgements), where it has given the turn up.
func (w *wireConn) withTurn(write func() error) error {
	w.turn.Lock()
	defer w.turn.Unlock()
	return write()
}

// Close is go-rtmp's last call, on its connection goroutine: it ends the
// tracked connection and gives up the turn for good, so that a writer still
// waiting for it gets go-rtmp's error instead of blocking.
func (w *wireConn) Close() error {
	err := w.tc.Close()
	w.release.Do(w.turn.Unlock)
	return err
}

// noReadTimeout lifts the idle read timeout, for a connection that plays:
// players send next to nothing. Call it on go-rtmp's connection goroutine
// (a handler method), which is the one that reads.
func (c *trackedConn) noReadTimeout() { c.readForever = true }

// clearReason forgets a reason set before (a refusal that did not happen).
func (c *trackedConn) clearReason() {
	c.mu.Lock()
	c.reason = ""
	c.mu.Unlock()
}

// ourReason returns the reason we gave for ending the connection, if any.
func (c *trackedConn) ourReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// endReason classifies how the connection ended, for the log line and the
// rejected metric (the boolean says whether it counts as rejected).
func (c *trackedConn) endReason() (reason string, cause string, rejected bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ne net.Error
	switch {
	case c.reason != "":
		reason = c.reason
	case c.protoErr != nil && c.protoErr.Kind == rtmpwire.TooLarge:
		return reasonOversize, c.protoErr.Msg, true
	case c.protoErr != nil:
		return reasonBadMessage, c.protoErr.Msg, true
	case c.readErr != nil && errors.As(c.readErr, &ne) && ne.Timeout():
		if !c.setupDone.Load() && !time.Now().Before(c.setupDeadline) {
			return reasonTimeout, "no publish or play within " + c.setupTimeout.String() + " of connecting", true
		}
		return reasonTimeout, "no data for " + c.timeout.String(), true
	case c.rtmpErr != "" && c.readErr == nil:
		// go-rtmp gave up while the socket was fine: the peer sent
		// something it could not parse.
		return reasonBadMessage, c.rtmpErr, true
	case c.readErr == nil, errors.Is(c.readErr, io.EOF), errors.Is(c.readErr, syscall.ECONNRESET):
		reason = "client_closed"
	default:
		reason = "read_error"
	}
	switch {
	case c.reason != "" && errors.Is(c.readErr, net.ErrClosed):
		// We closed it; the read error only echoes that.
	case c.rtmpErr != "":
		cause = c.rtmpErr
	case c.readErr != nil && !errors.Is(c.readErr, io.EOF) && !errors.Is(c.readErr, net.ErrClosed) && !errors.Is(c.readErr, os.ErrDeadlineExceeded):
		cause = c.readErr.Error()
	}
	return reason, cause, false
}

// rtmpLogHook bridges go-rtmp's logrus output into slog at debug level and
// keeps the error go-rtmp ends a connection with, so that our single
// "connection closed" line can say why.
type rtmpLogHook struct {
	c *trackedConn
}

func (h *rtmpLogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *rtmpLogHook) Fire(e *logrus.Entry) error {
	msg := e.Message
	if e.Level <= logrus.ErrorLevel {
		// "%+v" of a pkg/errors error carries a stack trace: keep the
		// first line only.
		first, _, _ := strings.Cut(msg, "\n")
		first = strings.TrimPrefix(first, "Server closed by error: Err = ")
		h.c.mu.Lock()
		if h.c.rtmpErr == "" {
			h.c.rtmpErr = truncate(first, 300)
		}
		h.c.mu.Unlock()
	}
	if h.c.log.Enabled(context.Background(), slog.LevelDebug) {
		first, _, _ := strings.Cut(msg, "\n")
		h.c.log.Debug("go-rtmp: "+truncate(first, 500), "level", e.Level.String())
	}
	return nil
}

// newRTMPLogger returns a per-connection logrus logger that writes nothing
// itself; everything goes through rtmpLogHook.
func newRTMPLogger(c *trackedConn) *logrus.Logger {
	l := logrus.New()
	l.Out = io.Discard
	l.Level = logrus.WarnLevel
	if c.log.Enabled(context.Background(), slog.LevelDebug) {
		l.Level = logrus.DebugLevel
	}
	l.AddHook(&rtmpLogHook{c: c})
	return l
}

// truncate cuts s to at most n bytes (on a rune boundary) with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
