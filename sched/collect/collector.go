package collect

import (
	"context"
	"log/slog"
	"net/netip"
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
	// MaxStreams bounds the streams with series of their own
	// (rewind_qos_stream_*); later ones are "other".
	MaxStreams int
	// ClientIPHeader, when set (e.g. "X-Forwarded-For"), names the header
	// a trusted proxy in front puts the client address in (first entry);
	// otherwise the connection's address is the client's.
	ClientIPHeader string
}

// DefaultConfig is what a zero Config field gets.
func DefaultConfig() Config {
	return Config{QueueSize: 4096, MaxSessions: 65536, MaxStreams: 100}
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
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = def.MaxStreams
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
		agg:   newAggregator(m, cfg.MaxSessions, cfg.MaxStreams),
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

// tryEnqueue queues item if there is room; a full queue counts nothing,
// the caller says how the drop is answered.
func (c *Collector) tryEnqueue(format string, item work) bool {
	select {
	case c.queue <- item:
		c.m.in(format).Inc()
		return true
	default:
		return false
	}
}
