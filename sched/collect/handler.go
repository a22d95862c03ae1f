package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Config of the collector. Its zero fields take DefaultConfig's values.
type Config struct {
	// CDNs are the CDN (pathway) names reports may name; anything else is
	// counted as "other".
	CDNs []string
	// Regions maps client address prefixes to region names, longest
	// prefix first; an address in none of them is "other".
	Regions map[netip.Prefix]string
	// QueueSize bounds the reports parsed but not yet aggregated. A full
	// queue answers 429 instead of growing.
	QueueSize int
	// MaxSessions bounds the CMCD v2 sessions remembered for deltas.
	MaxSessions int
	// ClientIPHeader, when set (e.g. "X-Forwarded-For"), names the header
	// a trusted proxy in front puts the client address in (first entry);
	// otherwise the connection's address is the client's.
	ClientIPHeader string
}

// DefaultConfig is what a zero Config field gets.
func DefaultConfig() Config {
	return Config{QueueSize: 4096, MaxSessions: 65536}
}

// Collector is the HTTP front of the aggregation: handlers parse and
// validate on the request goroutine, then hand the result to one
// aggregator goroutine through a bounded queue.
type Collector struct {
	cfg    Config
	log    *slog.Logger
	labels *Labels
	m      *metrics
	agg    *Aggregator

	queue chan work
	// beforeApply, when set, runs before each queued item is applied; tests
	// use it to hold the consumer and fill the queue.
	beforeApply func()

	stop   context.CancelFunc
	done   chan struct{}
	closed sync.Once
}

// work is one request's worth of parsed reports.
type work struct {
	region string
	cdn    string
	cmcd   []Report
	beacon *Beacon
}

// New builds a collector and starts its aggregator goroutine; Close stops
// it.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	def := DefaultConfig()
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = def.QueueSize
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = def.MaxSessions
	}
	if log == nil {
		log = slog.Default()
	}
	labels, err := NewLabels(cfg.CDNs, cfg.Regions)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &Collector{
		cfg: cfg, log: log, labels: labels, m: m,
		agg:   newAggregator(m, cfg.MaxSessions),
		queue: make(chan work, cfg.QueueSize),
		stop:  stop, done: make(chan struct{}),
	}
	go c.run(ctx)
	return c, nil
}

// Close stops the aggregator goroutine; reports still queued are dropped.
func (c *Collector) Close() error {
	c.closed.Do(c.stop)
	<-c.done
	return nil
}

// Aggregator is the in-process read side (snapshots per cdn and region).
func (c *Collector) Aggregator() *Aggregator { return c.agg }

// Labels are the bounded label sets the collector maps reports onto.
func (c *Collector) Labels() *Labels { return c.labels }

func (c *Collector) run(ctx context.Context) {
	defer close(c.done)
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-c.queue:
			if c.beforeApply != nil {
				c.beforeApply()
			}
			if w.beacon != nil {
				c.agg.AddBeacon(c.labels, w.region, w.beacon)
			} else {
				c.agg.AddCMCD(w.cdn, w.region, w.cmcd)
			}
		}
	}
}

// Handler serves
//
//	POST /v1/qos/cmcd    Content-Type: application/cmcd, one CMCD report a line
//	GET|POST /v1/qos/cmcd with CMCD= in the query or CMCD-* headers
//	POST /v1/qos/beacon  Content-Type: application/json, a Beacon
//
// The CDN of CMCD data is the cdn query parameter or the X-Rewind-CDN
// header. Success is 204; bad input a 4xx with {"error": "..."}; a full
// queue 429.
func (c *Collector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/qos/cmcd", c.serveCMCD)
	mux.HandleFunc("POST /v1/qos/cmcd", c.serveCMCD)
	mux.HandleFunc("POST /v1/qos/beacon", c.serveBeacon)
	return mux
}

func (c *Collector) serveCMCD(w http.ResponseWriter, r *http.Request) {
	var reps []Report
	if r.Method == http.MethodPost && mediaType(r) == "application/cmcd" {
		body, err := readBody(r, MaxEventBodyBytes)
		if err != nil {
			c.refuseBody(w, err)
			return
		}
		if reps, err = ParseEventBody(body); err != nil {
			c.refuseCMCD(w, err)
			return
		}
	} else {
		rep, ok, err := ReportFromRequest(r)
		if err != nil {
			c.refuseCMCD(w, err)
			return
		}
		if !ok {
			c.refuse(w, DropMalformed, http.StatusBadRequest, errors.New("no CMCD in query, headers or an application/cmcd body"))
			return
		}
		reps = []Report{rep}
	}
	c.enqueue(w, "cmcd", work{region: c.region(r), cdn: c.cdnOf(r), cmcd: reps})
}

// cdnOf is the configured CDN a CMCD request names (cdn query parameter,
// else the X-Rewind-CDN header a CDN adds on its way to us), or Other.
func (c *Collector) cdnOf(r *http.Request) string {
	cdn := r.URL.Query().Get("cdn")
	if cdn == "" {
		cdn = r.Header.Get("X-Rewind-CDN")
	}
	return c.labels.CDN(cdn)
}

func (c *Collector) serveBeacon(w http.ResponseWriter, r *http.Request) {
	if mt := mediaType(r); mt != "application/json" {
		c.refuse(w, DropUnsupported, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q, want application/json", mt))
		return
	}
	body, err := readBody(r, MaxBeaconBytes)
	if err != nil {
		c.refuseBody(w, err)
		return
	}
	b, err := ParseBeacon(body)
	switch {
	case errors.Is(err, ErrBeaconBig):
		c.refuse(w, DropTooLarge, http.StatusRequestEntityTooLarge, err)
		return
	case errors.Is(err, ErrAbsurd):
		c.refuse(w, DropAbsurd, http.StatusUnprocessableEntity, err)
		return
	case err != nil:
		c.refuse(w, DropMalformed, http.StatusBadRequest, err)
		return
	}
	c.enqueue(w, "beacon", work{region: c.region(r), beacon: b})
}

// enqueue hands w to the aggregator without ever waiting: a full queue is
// load to shed.
func (c *Collector) enqueue(w http.ResponseWriter, format string, item work) {
	if c.tryEnqueue(format, item) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Retry-After", "1")
	c.refuse(w, DropOverload, http.StatusTooManyRequests, errors.New("collector overloaded"))
}

// tryEnqueue queues item if there is room; a full queue counts nothing,
// the caller says how the drop is answered.
func (c *Collector) tryEnqueue(format string, item work) bool {
	select {
	case c.queue <- item:
		c.m.reportsIn.WithLabelValues(format).Inc()
		return true
	default:
		return false
	}
}

func (c *Collector) refuseBody(w http.ResponseWriter, err error) {
	if errors.Is(err, errBodyTooLarge) {
		c.refuse(w, DropTooLarge, http.StatusRequestEntityTooLarge, err)
		return
	}
	c.refuse(w, DropMalformed, http.StatusBadRequest, err)
}

func (c *Collector) refuseCMCD(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrTooLarge) {
		c.refuse(w, DropTooLarge, http.StatusRequestEntityTooLarge, err)
		return
	}
	c.refuse(w, DropMalformed, http.StatusBadRequest, err)
}

// refuse counts a dropped report and answers the contract's JSON error.
func (c *Collector) refuse(w http.ResponseWriter, reason string, status int, err error) {
	c.m.reportsDropped.WithLabelValues(reason).Inc()
	if reason != DropOverload {
		c.log.Debug("qos report refused", "reason", reason, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

var errBodyTooLarge = errors.New("body too large")

// readBody reads at most limit bytes; more is an error, not a truncation.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", errBodyTooLarge, limit)
	}
	return body, nil
}

// region maps the client address onto a configured region.
func (c *Collector) region(r *http.Request) string {
	raw := r.RemoteAddr
	if c.cfg.ClientIPHeader != "" {
		if v := r.Header.Get(c.cfg.ClientIPHeader); v != "" {
			raw, _, _ = strings.Cut(v, ",")
			raw = strings.TrimSpace(raw)
		}
	}
	if host, _, err := net.SplitHostPort(raw); err == nil {
		raw = host
	}
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		return Other
	}
	return c.labels.Region(addr)
}
