// Package sched assembles the multi-CDN scheduler: the QoS collector
// (sched/collect), its readers (sched/source: in process, or Prometheus
// at scale), the decision (sched/policy), the answers to players and SDKs
// (sched/steer) and the operator's API and page (sched/admin), with the
// policy's month of billing samples and its overrides kept in the store.
// The parts know nothing of each other; this package wires them.
package sched

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/sched/collect"
	"github.com/rewind-vod/rewind/sched/policy"
	"github.com/rewind-vod/rewind/sched/qos"
	"github.com/rewind-vod/rewind/sched/source"
	"github.com/rewind-vod/rewind/sched/steer"
)

// CDN is one CDN as the operator configures it: the pathway players pull
// from, where streamers push to, how it bills and how it is probed.
type CDN struct {
	Name string
	// HLSBase is where the CDN fronts the replay API; FLV, RTMP and Push
	// are URL templates with {app} and {name} (see steer.Pathway).
	HLSBase, FLV, RTMP, Push string
	// CloneOf offers this CDN to sessions that started before it was
	// configured, as a PATHWAY-CLONE of that CDN.
	CloneOf string
	// Probe is a URL on the CDN's edge the scheduler GETs (empty: none).
	Probe   string
	Billing policy.Billing
}

// Config of the scheduler. The parts' configs are the parts' own; New
// fills in what they share (CDN names, regions, pathways, billing).
type Config struct {
	CDNs []CDN
	// Regions maps client address prefixes to region names.
	Regions map[netip.Prefix]string

	Collect collect.Config
	Policy  policy.Config
	Steer   steer.Config

	// PrometheusURL, when set, makes Prometheus the input (the
	// collectors' metrics, scraped); otherwise this process's own
	// collector is read in process.
	PrometheusURL string
	Prometheus    source.PrometheusConfig
	InProcess     source.InProcessConfig
	Runner        source.RunnerConfig
	Prober        source.ProberConfig

	// StatePrefix is where the billing meter and the audit log live in the
	// store ("sched/").
	StatePrefix string
	// SaveInterval is how often the meter is written.
	SaveInterval time.Duration
}

// DefaultConfig is what a zero field gets.
func DefaultConfig() Config {
	return Config{
		Collect:      collect.DefaultConfig(),
		Policy:       policy.DefaultConfig(),
		Steer:        steer.DefaultConfig(),
		Prometheus:   source.DefaultPrometheusConfig(),
		InProcess:    source.DefaultInProcessConfig(),
		Runner:       source.DefaultRunnerConfig(),
		Prober:       source.DefaultProberConfig(),
		StatePrefix:  "sched/",
		SaveInterval: time.Minute,
	}
}

// Service is the assembled scheduler.
type Service struct {
	cfg       Config
	log       *slog.Logger
	st        store.Store
	collector *collect.Collector
	engine    *policy.Engine
	steer     *steer.Server
	runner    *source.Runner
	inproc    *source.InProcess
	prober    *source.Prober
	reader    source.Reader

	auditMu sync.Mutex
	audit   []policy.AuditEntry // persisted overrides, oldest first
	saveReq chan struct{}
}

// New builds the scheduler; st (nil: nothing persisted) keeps the meter
// and the audit log. Run starts its loops.
func New(ctx context.Context, cfg Config, st store.Store, log *slog.Logger, reg prometheus.Registerer) (_ *Service, err error) {
	if log == nil {
		log = slog.Default()
	}
	if len(cfg.CDNs) == 0 {
		return nil, errors.New("sched: no CDN configured")
	}
	def := DefaultConfig()
	if cfg.StatePrefix == "" {
		cfg.StatePrefix = def.StatePrefix
	}
	if cfg.SaveInterval <= 0 {
		cfg.SaveInterval = def.SaveInterval
	}
	s := &Service{cfg: cfg, log: log, st: st, saveReq: make(chan struct{}, 1)}

	names := make([]string, 0, len(cfg.CDNs))
	billing := map[string]policy.Billing{}
	probes := map[string]string{}
	var pathways []steer.Pathway
	for _, c := range cfg.CDNs {
		names = append(names, c.Name)
		billing[c.Name] = c.Billing
		if c.Probe != "" {
			probes[c.Name] = c.Probe
		}
		pathways = append(pathways, steer.Pathway{ID: c.Name, HLSBase: c.HLSBase, FLV: c.FLV, RTMP: c.RTMP, Push: c.Push, CloneOf: c.CloneOf})
	}
	cc := cfg.Collect
	cc.CDNs, cc.Regions = names, cfg.Regions
	if s.collector, err = collect.New(cc, log.With("part", "collect"), reg); err != nil {
		return nil, fmt.Errorf("sched: %w", err)
	}
	// The collector runs a goroutine: a later failure stops it.
	defer func() {
		if err != nil {
			s.collector.Close()
		}
	}()
	regions := s.collector.Labels().Regions()
	withOther := append(slices.Clone(regions), collect.Other)

	pc := cfg.Policy
	pc.CDNs, pc.Regions, pc.Billing = names, regions, billing
	pc.AuditSink = s.audited
	if s.engine, err = policy.New(pc, log.With("part", "policy"), reg); err != nil {
		return nil, fmt.Errorf("sched: %w", err)
	}
	if err = s.load(ctx); err != nil {
		return nil, err
	}

	if cfg.PrometheusURL != "" {
		prc := cfg.Prometheus
		prc.URL, prc.Regions = cfg.PrometheusURL, withOther
		if s.reader, err = source.NewPrometheus(prc, log.With("part", "prometheus"), reg); err != nil {
			return nil, fmt.Errorf("sched: %w", err)
		}
	} else {
		ic := cfg.InProcess
		ic.Regions = withOther
		if s.inproc, err = source.NewInProcess(s.collector.Aggregator(), ic); err != nil {
			return nil, fmt.Errorf("sched: %w", err)
		}
		s.reader = s.inproc
	}
	if len(probes) > 0 {
		prc := cfg.Prober
		prc.Targets = probes
		if prc.Keep < s.reader.Span() {
			prc.Keep = s.reader.Span()
		}
		if s.prober, err = source.NewProber(prc, log.With("part", "probe"), reg); err != nil {
			return nil, fmt.Errorf("sched: %w", err)
		}
	}
	rc := cfg.Runner
	rc.Regions = withOther
	// A read may take at most one interval: a shorter interval shortens
	// the deadline with it.
	if iv := cmp.Or(rc.Interval, def.Runner.Interval); cmp.Or(rc.Timeout, def.Runner.Timeout) > iv {
		rc.Timeout = iv
	}
	update := func(snap qos.Snapshot) { s.engine.Update(snap, time.Now()) }
	if s.runner, err = source.NewRunner(s.reader, s.prober, update, rc, log.With("part", "input"), reg); err != nil {
		return nil, fmt.Errorf("sched: %w", err)
	}

	sc := cfg.Steer
	sc.Pathways = pathways
	if len(sc.StaticOrder) == 0 {
		sc.StaticOrder = pc.StaticOrder
	}
	if s.steer, err = steer.New(sc, ranker{s.engine}, s.collector.Region, log.With("part", "steer"), reg); err != nil {
		return nil, fmt.Errorf("sched: %w", err)
	}
	return s, nil
}

// ranker answers the steering server from the engine, which keeps its
// orders in memory: it never blocks.
type ranker struct{ e *policy.Engine }

func (r ranker) Pull(_ context.Context, region string) ([]string, error) {
	return r.e.Order(region), nil
}
func (r ranker) Push(_ context.Context, region string) ([]string, error) {
	return r.e.PushOrder(region), nil
}

// Engine is the decision, for the admin API and tests.
func (s *Service) Engine() *policy.Engine { return s.engine }

// Collector is the QoS collector, for Observe and relay results.
func (s *Service) Collector() *collect.Collector { return s.collector }

// Inputs is the state of each input, for the console.
func (s *Service) Inputs() map[string]qos.State {
	return map[string]qos.State{s.reader.Name(): s.runner.State()}
}

// Observe wraps the replay API so that CMCD on its playlist and segment
// requests is collected too.
func (s *Service) Observe(h http.Handler) http.Handler { return s.collector.Observe(h) }

// AddRelay counts the origin's relay results against a CDN.
func (s *Service) AddRelay(cdn string, d collect.RelayDelta) { s.collector.AddRelay(cdn, d) }

// Handler serves /v1/qos/ (collector), /v1/steer/ and /v1/addresses/
// (steering). The collector answers browsers from any origin: players
// post their reports from the page's origin.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/qos/", cors(s.collector.Handler()))
	st := s.steer.Handler()
	mux.Handle("/v1/steer/", st)
	mux.Handle("/v1/addresses/", st)
	return mux
}

func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, CMCD-Request, CMCD-Object, CMCD-Status, CMCD-Session, X-Rewind-CDN")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Run runs the readers, the probes and the persistence until ctx ends,
// then saves the meter and stops the collector.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	start := func(run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("scheduler loop stopped", "err", err)
			}
		}()
	}
	if s.inproc != nil {
		start(s.inproc.Run)
	}
	if s.prober != nil {
		start(s.prober.Run)
	}
	start(s.runner.Run)
	start(s.persist)
	wg.Wait()
	return s.Close()
}

// Close stops the collector's aggregator and the steering server's
// ranking calls; Run does it when it ends, a Service never run needs it.
func (s *Service) Close() error {
	_ = s.steer.Close()
	return s.collector.Close()
}

// The store's objects: the meter (rewritten every SaveInterval and at
// stop) and the audit log (rewritten on every override, bounded by the
// policy's AuditSize). One scheduler writes them; more replicas would
// each keep their own meter.
func (s *Service) meterKey() string { return s.cfg.StatePrefix + "meter.json" }
func (s *Service) auditKey() string { return s.cfg.StatePrefix + "audit.json" }

func (s *Service) load(ctx context.Context) error {
	if s.st == nil {
		return nil
	}
	if b, err := s.get(ctx, s.meterKey()); err != nil {
		return err
	} else if b != nil {
		if err := json.Unmarshal(b, s.engine.Meter()); err != nil {
			// A corrupt meter costs a month's projection, not the service.
			s.log.Warn("scheduler meter state unreadable: starting from zero", "key", s.meterKey(), "err", err)
		}
	}
	b, err := s.get(ctx, s.auditKey())
	if err != nil || b == nil {
		return err
	}
	var entries []policy.AuditEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		s.log.Warn("scheduler audit log unreadable: no override restored", "key", s.auditKey(), "err", err)
		return nil
	}
	if err := s.engine.Restore(entries); err != nil {
		s.log.Warn("scheduler overrides not restored", "err", err)
	}
	s.auditMu.Lock()
	s.audit = entries
	s.auditMu.Unlock()
	return nil
}

func (s *Service) get(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := s.st.Get(ctx, key, nil)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sched: read %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("sched: read %s: %w", key, err)
	}
	return b, nil
}

// audited is the policy's AuditSink: keep the entry and ask for a save.
func (s *Service) audited(e policy.AuditEntry) {
	s.auditMu.Lock()
	s.audit = append(s.audit, e)
	limit := s.cfg.Policy.AuditSize
	if limit <= 0 {
		limit = policy.DefaultConfig().AuditSize
	}
	if len(s.audit) > limit {
		s.audit = slices.Delete(s.audit, 0, len(s.audit)-limit)
	}
	s.auditMu.Unlock()
	select {
	case s.saveReq <- struct{}{}:
	default:
	}
}

func (s *Service) persist(ctx context.Context) error {
	if s.st == nil {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.cfg.SaveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// The last save outlives the context: it is the shutdown's.
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.saveMeter(sctx)
			s.saveAudit(sctx)
			cancel()
			return nil
		case <-t.C:
			s.saveMeter(ctx)
		case <-s.saveReq:
			s.saveAudit(ctx)
		}
	}
}

func (s *Service) saveMeter(ctx context.Context) {
	b, err := json.Marshal(s.engine.Meter())
	if err == nil {
		err = s.st.Put(ctx, s.meterKey(), b, "application/json")
	}
	if err != nil {
		s.log.Warn("saving the scheduler meter", "key", s.meterKey(), "err", err)
	}
}

func (s *Service) saveAudit(ctx context.Context) {
	s.auditMu.Lock()
	b, err := json.Marshal(s.audit)
	s.auditMu.Unlock()
	if err == nil && !bytes.Equal(b, []byte("null")) {
		err = s.st.Put(ctx, s.auditKey(), b, "application/json")
	}
	if err != nil {
		s.log.Warn("saving the scheduler audit log", "key", s.auditKey(), "err", err)
	}
}
