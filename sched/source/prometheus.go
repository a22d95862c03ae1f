package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/rewind-vod/rewind/sched/qos"
)

// PrometheusConfig configures the Prometheus reader. Its zero fields take
// DefaultPrometheusConfig's values.
type PrometheusConfig struct {
	// URL is the Prometheus server (http://host:9090), the root of its
	// /api/v1.
	URL string
	// Span is the length of the windows; a multiple of 1 ms.
	Span time.Duration
	// Timeout bounds each query, connection included; Prometheus is told
	// too, so it stops evaluating.
	Timeout time.Duration
	// Selector are label matchers added to every metric, e.g.
	// `job="rewind-collect"` when other jobs export the same names.
	Selector string
	// Regions are the regions a CDN with relay data but no player data
	// gets windows in (empty: the regions the snapshot has, else "other").
	Regions []string
	// MaxSeries bounds the series one answer may have; more is an error,
	// not a memory spike.
	MaxSeries int
	// Now is the clock, the queries' evaluation time; nil is time.Now.
	Now func() time.Time
}

// DefaultPrometheusConfig is what a zero PrometheusConfig field gets.
func DefaultPrometheusConfig() PrometheusConfig {
	return PrometheusConfig{Span: 5 * time.Minute, Timeout: 5 * time.Second, MaxSeries: 20000, Now: time.Now}
}

// Prometheus reads the collectors' metrics from Prometheus with one
// instant query (Query) per round.
type Prometheus struct {
	cfg   PrometheusConfig
	log   *slog.Logger
	api   v1.API
	query string

	queries *prometheus.CounterVec
}

// NewPrometheus builds a reader of the Prometheus at cfg.URL; it does not
// connect until Read.
func NewPrometheus(cfg PrometheusConfig, log *slog.Logger, reg prometheus.Registerer) (*Prometheus, error) {
	def := DefaultPrometheusConfig()
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("source: prometheus: url %q: want http(s)://host[:port][/path]", cfg.URL)
	}
	if err := duration("prometheus", "span", &cfg.Span, def.Span); err != nil {
		return nil, err
	}
	if cfg.Span < time.Second || cfg.Span%time.Millisecond != 0 {
		return nil, fmt.Errorf("source: prometheus: span %v: want at least 1s, in whole milliseconds", cfg.Span)
	}
	if err := duration("prometheus", "timeout", &cfg.Timeout, def.Timeout); err != nil {
		return nil, err
	}
	if strings.ContainsAny(cfg.Selector, "{}") {
		return nil, fmt.Errorf("source: prometheus: selector %q: want label matchers without braces, e.g. job=\"rewind\"", cfg.Selector)
	}
	if cfg.MaxSeries < 0 {
		return nil, fmt.Errorf("source: prometheus: max series %d is negative", cfg.MaxSeries)
	}
	if cfg.MaxSeries == 0 {
		cfg.MaxSeries = def.MaxSeries
	}
	if err := checkRegions("prometheus", cfg.Regions); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if log == nil {
		log = slog.Default()
	}
	// The context deadline bounds each query; these bound what a context
	// does not cover (a dial, headers of a server that accepted and hangs).
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
	}
	client, err := api.NewClient(api.Config{Address: cfg.URL, Client: &http.Client{Transport: tr, Timeout: cfg.Timeout}})
	if err != nil {
		return nil, fmt.Errorf("source: prometheus: %w", err)
	}
	queries, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rewind_sched_prometheus_queries_total",
		Help: "Queries of the scheduler's Prometheus reader, by result (ok, error, timeout).",
	}, []string{"result"}))
	if err != nil {
		return nil, err
	}
	for _, r := range []string{"ok", "error", "timeout"} {
		queries.WithLabelValues(r)
	}
	return &Prometheus{cfg: cfg, log: log, api: v1.NewAPI(client), query: Query(cfg.Span, cfg.Selector), queries: queries}, nil
}

// Name is "prometheus".
func (p *Prometheus) Name() string { return "prometheus" }

// Span is the windows' length.
func (p *Prometheus) Span() time.Duration { return p.cfg.Span }

// Query is the PromQL the reader sends for span, every field in one
// instant query so that all are evaluated at the same instant. For each
// collector metric m (histograms through their _count and _sum) it is
//
//	label_replace(sum by (cdn, region) ((m - m offset span) >= 0 or m), "field", name, "", "")
//
// per series (collector replica) first, then summed, so a replica that
// restarts or appears only changes its own series. The reason for not
// using increase() or rate(): they extrapolate the samples in the range to
// its edges, so a counter that went 0 -> 10 inside the window reads as
// 10 x span/(sampled time), not 10, and never matches the in-process
// difference. This one is the difference of two samples, like the
// in-process reader's: the newest sample at or before now (within
// Prometheus's lookback, 5 min by default) and the newest at or before
// now-span. The in-process reader follows the same rules. Limits:
//   - a series that did not exist at now-span counts from 0 (the "or m"),
//     which is right for counters a collector creates when it first sees a
//     (cdn, region);
//   - a counter reset inside the window (a series now lower than at
//     now-span) counts its current value only, the growth since the reset;
//     growth before the reset within the window is lost, and a reset
//     followed by growth past the old value reads as the (smaller)
//     difference;
//   - a replica that stopped inside the window (its series gone stale)
//     drops out with what it counted in the window;
//   - the window's start is as precise as the scrape interval (the
//     in-process reader's, as its sampling interval: there the base is the
//     sample at or after now-span, here the scrape at or before it), and
//     the newest scrape may be one interval old.
func Query(span time.Duration, selector string) string {
	off := fmt.Sprintf("%dms", span.Milliseconds())
	sel := ""
	if selector != "" {
		sel = "{" + selector + "}"
	}
	parts := make([]string, 0, len(fields))
	for _, f := range fields {
		by := "cdn, region"
		if f.relay {
			by = "cdn"
		}
		m := f.metric + sel
		parts = append(parts, fmt.Sprintf(`label_replace(sum by (%s) ((%s - %s offset %s) >= 0 or %s), "field", %q, "", "")`,
			by, m, m, off, m, f.name))
	}
	return strings.Join(parts, "\nor ")
}

// Read queries the window ending now.
func (p *Prometheus) Read(ctx context.Context) (qos.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	at := p.cfg.Now()
	val, warnings, err := p.api.Query(ctx, p.query, at, v1.WithTimeout(p.cfg.Timeout))
	if err != nil {
		result := "error"
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			result = "timeout"
		}
		p.queries.WithLabelValues(result).Inc()
		return qos.Snapshot{}, fmt.Errorf("source: prometheus: query %s: %w", p.cfg.URL, err)
	}
	if len(warnings) > 0 {
		p.log.Warn("sched prometheus query warnings", "url", p.cfg.URL, "warnings", []string(warnings))
	}
	vec, ok := val.(model.Vector)
	if !ok {
		p.queries.WithLabelValues("error").Inc()
		return qos.Snapshot{}, fmt.Errorf("source: prometheus: answer is a %s, want a vector", val.Type())
	}
	ws, err := windowsFromVector(vec, p.cfg.Regions, p.cfg.MaxSeries)
	if err != nil {
		p.queries.WithLabelValues("error").Inc()
		return qos.Snapshot{}, fmt.Errorf("source: prometheus: %w", err)
	}
	p.queries.WithLabelValues("ok").Inc()
	return qos.Snapshot{Source: p.Name(), At: at, Span: p.cfg.Span, State: qos.Fresh, Windows: ws}, nil
}

// windowsFromVector turns the answer of Query into Windows. Series it
// cannot place (no or unknown field, a cdn or region that is not a label
// value, a value that is not a finite non-negative number) are skipped:
// they are another job's, not ours, and must not poison the scores.
func windowsFromVector(vec model.Vector, regions []string, maxSeries int) (map[qos.Key]qos.Window, error) {
	if len(vec) > maxSeries {
		return nil, fmt.Errorf("%d series in the answer, limit %d", len(vec), maxSeries)
	}
	ws := map[qos.Key]qos.Window{}
	relay := map[string]qos.Window{}
	for _, s := range vec {
		f := fieldByName[string(s.Metric["field"])]
		cdn, region := string(s.Metric["cdn"]), string(s.Metric["region"])
		v := float64(s.Value)
		if f == nil || !validLabel(cdn) || !finite(v) || v < 0 {
			continue
		}
		var w qos.Window
		if f.relay {
			w = relay[cdn]
		} else if validLabel(region) {
			w = ws[qos.Key{CDN: cdn, Region: region}]
		} else {
			continue
		}
		// The query sums already; a second series for the same key (two
		// rules exporting the same names) adds up, and may not overflow.
		p := f.get(&w)
		if *p += v; !finite(*p) {
			return nil, fmt.Errorf("%s of %s/%s overflows", f.name, cdn, region)
		}
		if f.relay {
			relay[cdn] = w
		} else {
			ws[qos.Key{CDN: cdn, Region: region}] = w
		}
	}
	sp := newSpreader(ws, regions)
	for cdn, r := range relay {
		sp.apply(cdn, func(w *qos.Window) {
			w.RelayConnectFailures, w.RelayReconnects, w.RelayDroppedFrames = r.RelayConnectFailures, r.RelayReconnects, r.RelayDroppedFrames
		})
	}
	// Relay CDNs times regions could outgrow the series; the same bound.
	if len(ws) > maxSeries {
		return nil, fmt.Errorf("%d windows in the answer, limit %d", len(ws), maxSeries)
	}
	return ws, nil
}
