package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/origin/rtmpwire"
)

// maxLogged bounds client-chosen strings in log lines.
const maxLogged = 140

// failWriteTimeout bounds the last words to a client that is refused.
const failWriteTimeout = time.Second

// Status codes the proxy answers with itself, in the words clients know.
const (
	codePlayNotFound   = "NetStream.Play.StreamNotFound"
	codePlayFailed     = "NetStream.Play.Failed"
	codePublishBadName = "NetStream.Publish.BadName"
	codePublishFailed  = "NetStream.Publish.Rejected"
)

// serveConn runs one client connection: the pre-routing phase, then the
// relay. A panic (a bug) drops this connection only.
func (p *Proxy) serveConn(c net.Conn) {
	defer p.untrack(c)
	start := time.Now()
	log := p.log.With("client", c.RemoteAddr().String())
	defer func() {
		if r := recover(); r != nil {
			p.m.panics.Inc()
			log.Error("panic in rtmp proxy session", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()

	_ = c.SetDeadline(start.Add(p.cfg.SetupTimeout))
	if _, err := rtmpwire.ServerHandshake(c, c, uint32(start.UnixMilli())); err != nil {
		reason := rejectReason(err)
		var we *rtmpwire.Error
		if errors.As(err, &we) {
			reason = rejectHandshake
		}
		p.reject(log, reason, err)
		return
	}
	cw := newChunkWriter(c, 64<<10)
	s, err := negotiate(c, cw, p.setupLimits())
	if err != nil {
		p.reject(log, rejectReason(err), err)
		return
	}
	kind := s.Kind
	name, _, _ := strings.Cut(s.Name, "?")
	st, err := catalog.NewStream(splitApp(s.App), name)
	if err != nil {
		p.m.routes.WithLabelValues(kind, resultBadName).Inc()
		log.Warn("rtmp "+kind+" refused: bad stream name", "name", trunc(splitApp(s.App)+"/"+name), "err", err)
		code := codePlayFailed
		if kind == kindPublish {
			code = codePublishBadName
		}
		p.fail(c, cw, s.StreamID, code, err.Error())
		return
	}
	log = log.With("kind", kind, "stream", st.String())
	routed := time.Now() // the client's part of the setup is done

	route, up, err := p.connect(log, kind, st.String(), s.Recorded)
	if err != nil {
		result, code := resultUpstreamError, codePlayFailed
		switch {
		case errors.Is(err, ErrNotFound):
			result, code = resultNotFound, codePlayNotFound
		case errors.Is(err, ErrNoNode):
			result = resultNoNode
		}
		if kind == kindPublish {
			code = codePublishFailed
		}
		p.m.routes.WithLabelValues(kind, result).Inc()
		log.Warn("rtmp "+kind+" not routed", "result", result, "err", err, "duration", time.Since(start).Round(time.Millisecond))
		p.fail(c, cw, s.StreamID, code, fmt.Sprintf("%s %s: %v", kind, st, err))
		return
	}
	_ = c.SetDeadline(time.Time{})
	p.relay(log, c, up, cw, s, route, kind, start, routed)
}

// connect routes the session and reaches its node: for a publish, the
// next nodes in routing order when one cannot be reached.
func (p *Proxy) connect(log *slog.Logger, kind, stream string, replay []byte) (Route, net.Conn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.DialTimeout)
	var route Route
	var err error
	if kind == kindPublish {
		route, err = p.router.Publish(ctx, stream)
	} else {
		route, err = p.router.Play(ctx, stream)
	}
	cancel()
	if route.Failover != "" {
		p.m.failovers.WithLabelValues(route.Failover).Inc()
		log.Info("publish failover: the node it ended on cannot take it", "reason", route.Failover)
	}
	if err != nil {
		return route, nil, err
	}
	candidates := append([]catalog.Node{route.Node}, route.Next...)
	if kind != kindPublish {
		candidates = candidates[:1]
	}
	candidates = candidates[:min(len(candidates), p.cfg.MaxAttempts)]
	var errs []error
	for i, n := range candidates {
		t0 := time.Now()
		c, err := dialNode(p.ctx, n, p.cfg.DialTimeout, replay)
		if err == nil {
			p.m.connectTime.WithLabelValues(kind).Observe(time.Since(t0).Seconds())
			if i > 0 {
				p.m.failovers.WithLabelValues(FailoverUnreachable).Inc()
				route.Node, route.Next = n, candidates[i+1:]
			}
			return route, c, nil
		}
		log.Warn("origin node unreachable", "node", n.Name, "addr", n.RTMP, "err", err)
		errs = append(errs, err)
	}
	return route, nil, fmt.Errorf("origin unreachable: %w", errors.Join(errs...))
}

// relay copies client bytes to the node verbatim and re-chunks the
// node's messages for the client until either side ends.
func (p *Proxy) relay(log *slog.Logger, client, node net.Conn, cw *chunkWriter, s *setup, route Route, kind string, start, routed time.Time) {
	log = log.With("node", route.Node.Name, "by", route.By)
	p.sessions.Add(1)
	p.m.sessions.WithLabelValues(kind).Inc()
	defer func() {
		p.sessions.Add(-1)
		p.m.sessions.WithLabelValues(kind).Dec()
	}()
	closeBoth := sync.OnceFunc(func() {
		_ = client.Close()
		_ = node.Close()
	})
	defer closeBoth()

	var routeCounted sync.Once
	countRoute := func(result string) { routeCounted.Do(func() { p.m.routes.WithLabelValues(kind, result).Inc() }) }

	toNode := int64(len(s.Recorded))
	p.m.rtmpToNode.Add(float64(len(s.Recorded)))
	upDone := make(chan error, 1)
	go func() {
		n, err := pipe(node, client, p.m.rtmpToNode.Add)
		toNode += n
		closeBoth() // the client left (or the node stopped reading): the session is over
		upDone <- err
	}()

	down := newDownstream(route.Node.Name, node, cw, client, s.Owed, p.cfg.WriteTimeout, p.m.rtmpToClient)
	// A node that takes the replay but never answers it must not hold the
	// client: its answers are due within the setup timeout.
	_ = node.SetReadDeadline(time.Now().Add(p.cfg.SetupTimeout))
	down.onSwitch = func() {
		_ = node.SetReadDeadline(time.Time{})
		countRoute(resultOK)
		// client_ms: the client's handshake and commands; node_ms: routing,
		// reaching the node and its answers to the replayed setup.
		log.Info("rtmp "+kind+" routed", "client_ms", routed.Sub(start).Milliseconds(), "node_ms", time.Since(routed).Milliseconds())
	}
	downErr := down.run()
	result := resultOK
	var ue *upstreamError
	if errors.As(downErr, &ue) {
		result = resultUpstreamError
		countRoute(result)
		code := codePlayFailed
		if kind == kindPublish {
			code = codePublishFailed
		}
		// Say why before the connection goes (unless the client left).
		p.fail(client, cw, s.StreamID, code, ue.msg)
	}
	closeBoth()
	upErr := <-upDone
	attrs := []any{"result", result, "bytes_to_node", toNode, "bytes_to_client", cw.written,
		"duration", time.Since(start).Round(time.Millisecond)}
	if err := firstRealError(downErr, upErr); err != nil {
		attrs = append(attrs, "end", err.Error())
	}
	if result == resultOK {
		log.Info("rtmp session ended", attrs...)
	} else {
		log.Warn("rtmp session failed", attrs...)
	}
}

// firstRealError is the first error that says more than "closed".
func firstRealError(errs ...error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
			return err
		}
	}
	return nil
}

// pipe copies src to dst until either fails, adding what it copied to add
// as it goes. io.Copy between two *net.TCPConn splices in the kernel (a
// LimitedReader keeps that path), so counting costs one call per step.
func pipe(dst, src net.Conn, add func(float64)) (int64, error) {
	const step = 256 << 10
	buf := make([]byte, 64<<10) // used only when the kernel path is not available
	var total int64
	for {
		n, err := io.CopyBuffer(dst, &io.LimitedReader{R: src, N: step}, buf)
		total += n
		if n > 0 {
			add(float64(n))
		}
		if err != nil {
			return total, err
		}
		if n < step {
			return total, nil // src reached EOF
		}
	}
}

// fail answers an error status on the client's stream and lets the
// connection go.
func (p *Proxy) fail(c net.Conn, cw *chunkWriter, streamID uint32, code, description string) {
	_ = c.SetWriteDeadline(time.Now().Add(failWriteTimeout))
	_ = cw.status(streamID, "error", code, description)
	_ = cw.Flush()
}

// reject logs and counts a connection dropped before routing.
func (p *Proxy) reject(log *slog.Logger, reason string, err error) {
	p.m.rejected.WithLabelValues(reason).Inc()
	if reason == rejectClosed {
		log.Debug("rtmp client left before publish or play", "err", err)
		return
	}
	log.Warn("rtmp connection dropped before routing", "reason", reason, "err", err)
}

func trunc(s string) string {
	if len(s) <= maxLogged {
		return s
	}
	return s[:maxLogged] + "…"
}
