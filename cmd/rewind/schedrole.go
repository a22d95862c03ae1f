package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/origin/relay"
	"github.com/rewind-vod/rewind/sched"
	"github.com/rewind-vod/rewind/sched/admin"
	"github.com/rewind-vod/rewind/sched/collect"
)

// defaultSchedHTTP is where `rewind sched` listens by default.
const defaultSchedHTTP = "127.0.0.1:8084"

// schedSettings are the settings of `rewind sched`.
type schedSettings struct {
	commonSettings
	HTTPAddr   string
	AdminToken string
	Sched      sched.Config
}

// defaultSchedConfig is sched.DefaultConfig without the parts' clocks:
// a nil clock is time.Now to each of them, and a func field would make
// two equal settings compare unequal.
func defaultSchedConfig() sched.Config {
	c := sched.DefaultConfig()
	c.InProcess.Now, c.Prometheus.Now, c.Runner.Now, c.Prober.Now = nil, nil, nil, nil
	return c
}

func newSchedSettings(fs *flag.FlagSet) (*schedSettings, *binder) {
	s := &schedSettings{HTTPAddr: defaultSchedHTTP, Sched: defaultSchedConfig()}
	b := newBinder(fs)
	s.commonSettings.bind(b)
	bind(b, "http-addr", "HTTP listen address (collector, steering, addresses, admin API and console, health, metrics)", &s.HTTPAddr)
	bind(b, "admin-token", "bearer token for the scheduler's admin API and console (/v1/sched, /sched); empty: that API is off", &s.AdminToken)
	bindSched(b, &s.Sched)
	return s, b
}

// bindSched binds the scheduler's flags (sched, and dev where they are
// optional: no --cdns, no scheduler).
func bindSched(b *binder, c *sched.Config) {
	bindParsed(b, "cdns", "the CDNs, apart by spaces: name;hls=URL[;flv=T;rtmp=T;push=T;probe=URL;clone-of=name;billing=RULE] with {app} and {name} in the templates; RULE is free, per_gb:UPTO_GB@PRICE,...,*@PRICE or p95:price=P,commit=MBPS",
		sched.ParseCDNs, sched.FormatCDNs, &c.CDNs)
	bindParsed(b, "regions", "client regions, apart by spaces: name=prefix[,prefix] (longest prefix wins; others are \"other\")",
		sched.ParseRegions, sched.FormatRegions, &c.Regions)
	bind(b, "qos-client-ip-header", "header a trusted proxy in front puts the client address in (e.g. X-Forwarded-For; empty: the connection's address)", &c.Collect.ClientIPHeader)
	bind(b, "qos-queue", "QoS reports parsed but not yet aggregated; past it reports get 429", &c.Collect.QueueSize)
	bind(b, "qos-max-streams", "streams with QoS series of their own (rewind_qos_stream_*); later ones are \"other\"", &c.Collect.MaxStreams)
	bind(b, "prometheus-url", "read the scheduler's inputs from this Prometheus (which scrapes the collectors); empty: from this process's collector", &c.PrometheusURL)
	bind(b, "prometheus-selector", "label matchers added to every PromQL selector, e.g. job=\"rewind-sched\"", &c.Prometheus.Selector)
	bind(b, "prometheus-timeout", "deadline of each Prometheus query", &c.Prometheus.Timeout)
	bind(b, "sched-span", "the window the scores are computed over", &c.InProcess.Span, &c.Prometheus.Span)
	bind(b, "sched-interval", "how often the inputs are read and the orders recomputed", &c.Runner.Interval, &c.InProcess.Interval)
	bind(b, "sched-max-age", "how long the last good input is used when reads fail, before the static order", &c.Runner.MaxAge)
	bind(b, "sched-static-order", "comma-separated CDN order used before any input and when inputs are missing (default: --cdns order)", &c.Policy.StaticOrder)
	bind(b, "sched-floor", "a CDN whose worst item scores below this (0-100) is not chosen", &c.Policy.Floor)
	bind(b, "sched-cost-weight", "how many points (of 100) cost may move a CDN", &c.Policy.CostWeight)
	bind(b, "sched-min-sessions", "sessions (attempts) a CDN needs in a region before its session items count", &c.Policy.MinSessions)
	bind(b, "sched-min-attempts", "failed attempts with no success that fail a CDN outright", &c.Policy.MinAttempts)
	bind(b, "sched-recover-after", "how long a failed CDN must stay under the recover limits before it is used again", &c.Policy.RecoverAfter)
	bind(b, "sched-min-dwell", "least time between two non-urgent switches of a region's first CDN", &c.Policy.MinDwell)
	bind(b, "sched-max-switches", "non-urgent switches a region may make within --sched-switch-window", &c.Policy.MaxSwitches)
	bind(b, "sched-switch-window", "the window --sched-max-switches counts over", &c.Policy.SwitchWindow)
	bind(b, "probe-interval", "how often each CDN's probe URL is fetched", &c.Prober.Interval)
	bind(b, "probe-timeout", "bound on one probe", &c.Prober.Timeout)
	bind(b, "steer-public-url", "where players reach the steering server (SERVER-URI and RELOAD-URI are built on it)", &c.Steer.PublicBase)
	bind(b, "steer-ttl", "TTL of the steering manifest: a player leaves a failing CDN within about this plus a segment", &c.Steer.TTL)
	bind(b, "steer-bandwidth", "nominal BANDWIDTH of each variant in the multivariant playlist, bit/s", &c.Steer.Bandwidth)
}

// adminRoutes are the admin API's and console's paths; schedRoutes all the
// paths the scheduler serves, beside the replay API in dev.
var (
	adminRoutes = []string{"/v1/sched/", "/sched", "/sched/"}
	schedRoutes = append([]string{"/v1/qos/", "/v1/steer/", "/v1/addresses/"}, adminRoutes...)
)

// newScheduler builds the scheduler and its admin API from settings;
// nil, nil when no CDN is configured (dev without --cdns).
func newScheduler(ctx context.Context, c sched.Config, adminToken string, st store.Store, log *slog.Logger, reg prometheus.Registerer) (*sched.Service, http.Handler, error) {
	if len(c.CDNs) == 0 {
		return nil, nil, nil
	}
	svc, err := sched.New(ctx, c, st, log, reg)
	if err != nil {
		return nil, nil, err
	}
	adm, err := admin.New(admin.Config{Token: adminToken, Inputs: svc.Inputs}, svc.Engine(), log)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	for _, p := range adminRoutes {
		mux.Handle(p, adm.Handler())
	}
	mux.Handle("/", svc.Handler())
	return svc, mux, nil
}

// serveSched runs the scheduler: the QoS collector, the steering server
// and the address API, the decision between them, and its admin API.
// Collectors are stateless; the decision reads Prometheus when
// --prometheus-url is set. SIGINT or SIGTERM stops it after saving the
// billing meter.
func serveSched(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind sched", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f, _ := newSchedSettings(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(f.Sched.CDNs) == 0 {
		return fmt.Errorf("rewind sched: --cdns is required")
	}
	log, st, reg, err := f.setup(ctx, stderr)
	if err != nil {
		return err
	}
	svc, h, err := newScheduler(ctx, f.Sched, f.AdminToken, st, log, reg)
	if err != nil {
		return err
	}
	mux := metricsMux(reg)
	mux.Handle("/", h)
	hs, err := startHTTP(f.HTTPAddr, mux)
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- svc.Run(runCtx) }()
	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("rewind sched started", "http", hs.addr, "cdns", len(f.Sched.CDNs), "input", svc.Inputs())
	var runErr error
	select {
	case err := <-hs.done:
		runErr = fmt.Errorf("http: %w", err)
	case <-sigCtx.Done():
		log.Info("shutting down")
	}
	hs.shutdown(log)
	stopRun()
	if err := <-runDone; err != nil && runErr == nil {
		runErr = err
	}
	log.Info("stopped")
	return runErr
}

func cdnNames(cdns []sched.CDN) []string {
	names := make([]string, len(cdns))
	for i, c := range cdns {
		names[i] = c.Name
	}
	return names
}

// relayResults counts the relay's faults against the CDN whose push
// address a target is (addrs: host:port -> CDN); other targets are not a
// CDN's.
func relayResults(addrs map[string]string, col *collect.Collector) func(string, relay.Result) {
	return func(addr string, r relay.Result) {
		if cdn, ok := addrs[addr]; ok {
			col.AddRelay(cdn, collect.RelayDelta{ConnectFailures: r.Failures, Reconnects: r.Reconnects, DroppedFrames: r.Dropped})
		}
	}
}
