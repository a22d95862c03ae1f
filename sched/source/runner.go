package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/sched/qos"
)

// RunnerConfig configures a Runner. Its zero fields take
// DefaultRunnerConfig's values.
type RunnerConfig struct {
	// Interval between reads.
	Interval time.Duration
	// Timeout bounds one read; a read past it is a failed round.
	Timeout time.Duration
	// MaxAge is how long the last good answer is carried (Stale) through
	// failed rounds before the input is Missing.
	MaxAge time.Duration
	// Regions are the regions a CDN with probe results but no window gets
	// windows in (empty: the regions the snapshot has, else "other").
	Regions []string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// DefaultRunnerConfig is what a zero RunnerConfig field gets.
func DefaultRunnerConfig() RunnerConfig {
	return RunnerConfig{Interval: 10 * time.Second, Timeout: 5 * time.Second, MaxAge: 2 * time.Minute, Now: time.Now}
}

var states = []qos.State{qos.Fresh, qos.Stale, qos.Missing}

// Runner reads one Reader every Interval and hands each round's snapshot,
// with the probe results merged in, to update:
//   - Fresh: this round's read succeeded within Timeout;
//   - Stale: it failed or timed out, and the last good answer (carried,
//     with its own At) is at most MaxAge old;
//   - Missing: no good answer yet, or the last one is older than MaxAge;
//     the snapshot has no reader data (probe results only).
//
// Probe results are the scheduler's own measurements and are merged in
// every state, counted over the reader's Span up to now. update runs on
// the runner's goroutine, one round at a time: it should hand the
// snapshot over, not work on it.
type Runner struct {
	r      Reader
	probes *Prober
	update func(qos.Snapshot)
	cfg    RunnerConfig
	log    *slog.Logger

	stateGauge *prometheus.GaugeVec
	ageGauge   *prometheus.GaugeVec

	mu       sync.Mutex
	started  time.Time
	last     qos.Snapshot // last good answer
	lastAt   time.Time    // when it was read, on the runner's clock
	hasLast  bool
	state    qos.State
	hasState bool
}

// NewRunner builds a runner of r; probes may be nil, update must not be.
func NewRunner(r Reader, probes *Prober, update func(qos.Snapshot), cfg RunnerConfig, log *slog.Logger, reg prometheus.Registerer) (*Runner, error) {
	if r == nil || update == nil {
		return nil, errors.New("source: runner: needs a reader and an update callback")
	}
	def := DefaultRunnerConfig()
	if err := duration("runner", "interval", &cfg.Interval, def.Interval); err != nil {
		return nil, err
	}
	if err := duration("runner", "timeout", &cfg.Timeout, def.Timeout); err != nil {
		return nil, err
	}
	if err := duration("runner", "max age", &cfg.MaxAge, def.MaxAge); err != nil {
		return nil, err
	}
	if cfg.Timeout > cfg.Interval {
		return nil, fmt.Errorf("source: runner: timeout %v longer than the interval %v", cfg.Timeout, cfg.Interval)
	}
	if cfg.MaxAge < cfg.Interval {
		return nil, fmt.Errorf("source: runner: max age %v shorter than the interval %v: every failed round would be Missing", cfg.MaxAge, cfg.Interval)
	}
	if err := checkRegions("runner", cfg.Regions); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if log == nil {
		log = slog.Default()
	}
	stateGauge, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rewind_sched_input_state",
		Help: "State of a scheduler input: 1 for its current state (fresh, stale, missing), 0 for the others.",
	}, []string{"source", "state"}))
	if err != nil {
		return nil, err
	}
	ageGauge, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rewind_sched_input_age_seconds",
		Help: "Age of a scheduler input's last good answer (since the runner started when there is none).",
	}, []string{"source"}))
	if err != nil {
		return nil, err
	}
	rn := &Runner{r: r, probes: probes, update: update, cfg: cfg, log: log.With("source", r.Name()),
		stateGauge: stateGauge, ageGauge: ageGauge, started: cfg.Now()}
	rn.setGauges(qos.Missing, 0)
	return rn, nil
}

// Run does a round at once, then every Interval, until ctx is done.
func (rn *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(rn.cfg.Interval)
	defer t.Stop()
	for {
		rn.Round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Round reads once within Timeout, hands the snapshot to update and
// returns it. A round cut short by ctx (shutdown) still answers, from the
// last good data.
func (rn *Runner) Round(ctx context.Context) qos.Snapshot {
	rctx, cancel := context.WithTimeout(ctx, rn.cfg.Timeout)
	snap, err := rn.r.Read(rctx)
	cancel()
	now := rn.cfg.Now()

	rn.mu.Lock()
	if err == nil {
		rn.last, rn.lastAt, rn.hasLast = snap, now, true
	}
	var out qos.Snapshot
	var age time.Duration
	switch {
	case err == nil:
		out = snap
		out.State = qos.Fresh
	case rn.hasLast && now.Sub(rn.lastAt) <= rn.cfg.MaxAge:
		out = rn.last
		out.State = qos.Stale
	default:
		out = qos.Snapshot{Source: rn.r.Name(), At: now, Span: rn.r.Span(), State: qos.Missing}
	}
	if rn.hasLast {
		age = now.Sub(rn.lastAt)
	} else {
		age = now.Sub(rn.started)
	}
	prev, hadState := rn.state, rn.hasState
	if !hadState {
		prev = "none"
	}
	rn.state, rn.hasState = out.State, true
	rn.mu.Unlock()

	out.Source = rn.r.Name()
	out.Windows = copyWindows(out.Windows)
	if rn.probes != nil {
		sp := newSpreader(out.Windows, rn.cfg.Regions)
		for cdn, c := range rn.probes.Counts(out.Span) {
			sp.apply(cdn, func(w *qos.Window) { w.ProbeSuccesses, w.ProbeFailures = c.Successes, c.Failures })
		}
	}
	rn.setGauges(out.State, age)
	if !hadState || prev != out.State {
		args := []any{"from", string(prev), "to", string(out.State), "age", age.Round(time.Millisecond)}
		if err != nil {
			args = append(args, "err", err)
		}
		if out.State == qos.Fresh {
			rn.log.Info("sched input state", args...)
		} else {
			rn.log.Warn("sched input state", args...)
		}
	} else if err != nil {
		rn.log.Debug("sched input read failed", "state", string(out.State), "err", err)
	}
	rn.update(out)
	return out
}

// State is the state of the last round (Missing before the first).
func (rn *Runner) State() qos.State {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if !rn.hasState {
		return qos.Missing
	}
	return rn.state
}

func (rn *Runner) setGauges(s qos.State, age time.Duration) {
	for _, st := range states {
		v := 0.0
		if st == s {
			v = 1
		}
		rn.stateGauge.WithLabelValues(rn.r.Name(), string(st)).Set(v)
	}
	rn.ageGauge.WithLabelValues(rn.r.Name()).Set(age.Seconds())
}
