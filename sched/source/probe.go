package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ProberConfig configures the CDN probes. Its zero fields take
// DefaultProberConfig's values.
type ProberConfig struct {
	// Targets maps a CDN (as the collector names it) to the URL probed on
	// it, typically a small object or a health path on the CDN's edge.
	Targets map[string]string
	// Interval between rounds; every CDN is probed once a round.
	Interval time.Duration
	// Timeout bounds one probe, body included.
	Timeout time.Duration
	// Keep is how long results are kept: the longest Span asked for.
	Keep time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// DefaultProberConfig is what a zero ProberConfig field gets.
func DefaultProberConfig() ProberConfig {
	return ProberConfig{Interval: 10 * time.Second, Timeout: 3 * time.Second, Keep: 5 * time.Minute, Now: time.Now}
}

// maxProbeBody is how much of an answer a probe reads: enough to see the
// edge deliver, not a download.
const maxProbeBody = 1 << 20

// maxResults bounds the results kept per CDN whatever calls ProbeOnce.
const maxResults = 4096

// ProbeCount is what the probes of one CDN found in a window.
type ProbeCount struct{ Successes, Failures float64 }

// Prober GETs each CDN's probe URL every Interval. A probe passes when it
// gets a 2xx or 3xx (redirects are not followed: a CDN answering with one
// is up) and reads the body within Timeout; anything else fails it.
type Prober struct {
	cfg    ProberConfig
	log    *slog.Logger
	client *http.Client
	cdns   []string
	total  *prometheus.CounterVec

	mu      sync.Mutex
	results map[string][]probeResult // by CDN, oldest first
	failing map[string]bool          // last result per CDN, to log changes
}

type probeResult struct {
	at time.Time
	ok bool
}

// NewProber checks the targets; Run probes them.
func NewProber(cfg ProberConfig, log *slog.Logger, reg prometheus.Registerer) (*Prober, error) {
	def := DefaultProberConfig()
	if len(cfg.Targets) == 0 {
		return nil, errors.New("source: probe: no targets")
	}
	cdns := make([]string, 0, len(cfg.Targets))
	for cdn, raw := range cfg.Targets {
		if !validLabel(cdn) {
			return nil, fmt.Errorf("source: probe: CDN %q: must be 1..64 printable ASCII characters", cdn)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("source: probe: CDN %s: url %q: want http(s)://host/path", cdn, raw)
		}
		cdns = append(cdns, cdn)
	}
	slices.Sort(cdns)
	if err := duration("probe", "interval", &cfg.Interval, def.Interval); err != nil {
		return nil, err
	}
	if err := duration("probe", "timeout", &cfg.Timeout, def.Timeout); err != nil {
		return nil, err
	}
	if err := duration("probe", "keep", &cfg.Keep, def.Keep); err != nil {
		return nil, err
	}
	if cfg.Timeout > cfg.Interval {
		return nil, fmt.Errorf("source: probe: timeout %v longer than the interval %v", cfg.Timeout, cfg.Interval)
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if log == nil {
		log = slog.Default()
	}
	total, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rewind_sched_probe_total",
		Help: "Probes of the CDNs by the scheduler, by CDN and result (success, failure).",
	}, []string{"cdn", "result"}))
	if err != nil {
		return nil, err
	}
	for _, cdn := range cdns {
		total.WithLabelValues(cdn, "success")
		total.WithLabelValues(cdn, "failure")
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		// A fresh connection each probe: a kept-alive one would hide a
		// CDN that stopped accepting connections.
		DisableKeepAlives: true,
	}
	client := &http.Client{
		Transport:     tr,
		Timeout:       cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Prober{cfg: cfg, log: log, client: client, cdns: cdns, total: total,
		results: map[string][]probeResult{}, failing: map[string]bool{}}, nil
}

// Run probes at once, then every Interval, until ctx is done.
func (p *Prober) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.ProbeOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ProbeOnce probes every CDN concurrently and returns when all are done,
// within Timeout.
func (p *Prober) ProbeOnce(ctx context.Context) {
	var wg sync.WaitGroup
	for _, cdn := range p.cdns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.probe(ctx, p.cfg.Targets[cdn])
			if ctx.Err() != nil {
				return // shutting down: not the CDN's failure
			}
			p.record(cdn, err)
		}()
	}
	wg.Wait()
}

func (p *Prober) probe(ctx context.Context, target string) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "rewind-sched-probe")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody)); err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode >= 400 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

func (p *Prober) record(cdn string, err error) {
	now := p.cfg.Now()
	result := "success"
	if err != nil {
		result = "failure"
	}
	p.total.WithLabelValues(cdn, result).Inc()

	p.mu.Lock()
	rs := append(p.results[cdn], probeResult{at: now, ok: err == nil})
	drop := 0
	for drop < len(rs) && (len(rs)-drop > maxResults || rs[drop].at.Before(now.Add(-p.cfg.Keep))) {
		drop++
	}
	p.results[cdn] = append(rs[:0], rs[drop:]...)
	was, seen := p.failing[cdn]
	p.failing[cdn] = err != nil
	p.mu.Unlock()

	switch {
	case err != nil && (!seen || !was):
		p.log.Warn("sched probe failing", "cdn", cdn, "url", p.cfg.Targets[cdn], "err", err)
	case err == nil && seen && was:
		p.log.Info("sched probe passing again", "cdn", cdn)
	case err != nil:
		p.log.Debug("sched probe failed", "cdn", cdn, "err", err)
	}
}

// Counts are the results per CDN within (now-span, now]; a CDN not probed
// in that time is absent.
func (p *Prober) Counts(span time.Duration) map[string]ProbeCount {
	start := p.cfg.Now().Add(-span)
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]ProbeCount{}
	for cdn, rs := range p.results {
		var c ProbeCount
		for _, r := range rs {
			if !r.at.After(start) {
				continue
			}
			if r.ok {
				c.Successes++
			} else {
				c.Failures++
			}
		}
		if c.Successes+c.Failures > 0 {
			out[cdn] = c
		}
	}
	return out
}
