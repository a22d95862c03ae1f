package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
)

// source gives worker w its n-th request. It runs on the worker's
// goroutine, so it may keep per-worker state without locks.
type source func(w, n int) request

// loadResult is what the workers of one round saw.
type loadResult struct {
	elapsed  time.Duration
	sent     int64 // requests answered
	accepted int64 // 204s
	shed     int64 // 429s
	exp      expect
	lats     []time.Duration
}

func (r *loadResult) pct(p float64) time.Duration { return benchkit.Quantile(r.lats, p) }

// conn is one keep-alive HTTP/1.1 connection from its own loopback source
// address (the region the collector maps it to).
type conn struct {
	addr, local string
	c           net.Conn
	br          *bufio.Reader
}

func (c *conn) dial(ctx context.Context) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.local)}, Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("dial %s from %s: %w", c.addr, c.local, err)
	}
	c.c, c.br = nc, bufio.NewReaderSize(nc, 4096)
	return nil
}

func (c *conn) close() {
	if c.c != nil {
		_ = c.c.Close()
		c.c = nil
	}
}

// do writes one prebuilt request and reads its answer (net/http's own
// reader: the server is what is measured, not a parser of ours). A
// connection the server closes is dialed again.
func (c *conn) do(ctx context.Context, raw []byte) (int, error) {
	if c.c == nil {
		if err := c.dial(ctx); err != nil {
			return 0, err
		}
	}
	_ = c.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.c.Write(raw); err != nil {
		c.close()
		return 0, fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return 0, fmt.Errorf("read answer: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if err != nil {
		c.close()
		return 0, fmt.Errorf("read body: %w", err)
	}
	if resp.Close {
		c.close()
	}
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusTooManyRequests:
		return resp.StatusCode, nil
	}
	return resp.StatusCode, fmt.Errorf("status %s: %.300s", resp.Status, body)
}

// localAddr spreads the workers over two /24s of loopback (the bench's
// regions "eu" and "us"), a few hundred source addresses.
func localAddr(w int) string { return fmt.Sprintf("127.0.%d.%d", w%2, 2+(w/2)%250) }

// pool is a round's connections, dialed and warmed (one request each)
// before the timed part so that it is keep-alive only.
type pool struct {
	conns []*conn
}

// newPool dials n connections and sends each one request of src; what
// the warm-up sent is returned, since the server counts it too.
func newPool(ctx context.Context, addr string, n int, src source) (*pool, *loadResult, error) {
	p := &pool{conns: make([]*conn, n)}
	errs := make([]error, n)
	codes := make([]int, n)
	reqs := make([]request, n)
	var wg sync.WaitGroup
	for w := range n {
		p.conns[w] = &conn{addr: addr, local: localAddr(w)}
		wg.Go(func() {
			reqs[w] = src(w, 0)
			codes[w], errs[w] = p.conns[w].do(ctx, reqs[w].raw)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		p.close()
		return nil, nil, fmt.Errorf("warm-up: %w", err)
	}
	warm := &loadResult{}
	for w, code := range codes {
		warm.sent++
		if code == http.StatusTooManyRequests {
			warm.shed++
			continue
		}
		warm.accepted++
		warm.exp.add(reqs[w].exp)
	}
	return p, warm, nil
}

func (p *pool) close() {
	for _, c := range p.conns {
		c.close()
	}
}

// run has every connection send src's requests back to back for dur
// (each waits for its answer: a closed loop, as many in flight as
// connections). Latency is per request, write to last byte read.
func (p *pool) run(ctx context.Context, src source, dur time.Duration) (*loadResult, error) {
	n := len(p.conns)
	type part struct {
		sent, accepted, shed int64
		exp                  expect
		lats                 []time.Duration
		err                  error
	}
	parts := make([]part, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	deadline := t0.Add(dur)
	for w := range n {
		wg.Go(func() {
			pt := &parts[w]
			pt.lats = make([]time.Duration, 0, 4096)
			for i := 1; ctx.Err() == nil; i++ {
				s := time.Now()
				if !s.Before(deadline) {
					return
				}
				req := src(w, i)
				code, err := p.conns[w].do(ctx, req.raw)
				if err != nil {
					pt.err = fmt.Errorf("connection %d: %w", w, err)
					return
				}
				pt.lats = append(pt.lats, time.Since(s))
				pt.sent++
				if code == http.StatusTooManyRequests {
					pt.shed++
					continue
				}
				pt.accepted++
				pt.exp.add(req.exp)
			}
		})
	}
	wg.Wait()
	r := &loadResult{elapsed: time.Since(t0)}
	var errs []error
	for i := range parts {
		pt := &parts[i]
		r.sent += pt.sent
		r.accepted += pt.accepted
		r.shed += pt.shed
		r.exp.add(pt.exp)
		r.lats = append(r.lats, pt.lats...)
		errs = append(errs, pt.err)
	}
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if r.sent == 0 {
		return r, errors.New("no request answered")
	}
	slices.Sort(r.lats)
	return r, nil
}
