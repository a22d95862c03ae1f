package policy

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Other is the region (and CDN) label of everything not configured, as
// the collector labels it; the engine always has an Other region.
const Other = "other"

// Limits are the per-window values that fail a (CDN, region) (Config.Fail)
// or, all below the lower Config.Recover ones for RecoverAfter, recover it.
type Limits struct {
	ErrorRate     float64 `json:"error_rate"`      // errors / attempts
	DropPerMinute float64 `json:"drop_per_minute"` // player-dropped frames per minute watched
	PushDropRate  float64 `json:"push_drop_rate"`  // share of pushed frames dropped
	PushErrorRate float64 `json:"push_error_rate"` // push publish errors per minute
	RelayFaults   float64 `json:"relay_faults"`    // relay connect failures + reconnects per minute
}

// Meter inputs (Config.MeterInput).
const (
	// MeterSnapshots: Update feeds the meter from the snapshots' Bytes.
	MeterSnapshots = "snapshots"
	// MeterExternal: the integrator calls Meter().Add with byte deltas.
	MeterExternal = "external"
)

// Config is the policy's configuration. New gives every zero field its
// DefaultConfig value; where 0 is a meaningful setting (CostWeight, Floor,
// SwitchMargin, MinDwell, RecoverAfter) a negative value stands for it.
type Config struct {
	// CDNs are the pathways to order; Regions the configured regions
	// (Other is added). Both as the collector labels them.
	CDNs    []string `json:"cdns"`
	Regions []string `json:"regions"`
	// Billing per CDN; a CDN without one is Free.
	Billing map[string]Billing `json:"billing"`
	// MeterInput is MeterSnapshots or MeterExternal.
	MeterInput string `json:"meter_input"`

	// Thresholds and Weights per item; an item missing from a map takes
	// the default, a weight of 0 ignores the item.
	Thresholds map[Item]Threshold `json:"thresholds"`
	Weights    map[Item]float64   `json:"weights"`
	// MinSessions is the least number of sessions (attempts for
	// error_rate) for a session item to be known; MinWatchedSeconds for
	// the per-minute-watched items; MinPushFrames for push_drop_rate.
	MinSessions       float64 `json:"min_sessions"`
	MinWatchedSeconds float64 `json:"min_watched_seconds"`
	MinPushFrames     float64 `json:"min_push_frames"`
	// NeutralScore is the composite of a CDN with no known item.
	NeutralScore float64 `json:"neutral_score"`

	// Floor: a CDN whose worst item scores below it is not a candidate.
	Floor float64 `json:"floor"`
	// CostWeight scales the cost score (0..100) subtracted from the
	// composite; the push order does not weigh cost (ingest is not what
	// the meter bills).
	CostWeight float64 `json:"cost_weight"`

	// Fail and Recover thresholds, and MinAttempts: the failed attempts
	// (errors, publish errors) with no success that fail a CDN outright.
	Fail         Limits        `json:"fail"`
	Recover      Limits        `json:"recover"`
	MinAttempts  float64       `json:"min_attempts"`
	RecoverAfter time.Duration `json:"recover_after"`

	// Switching the top of a region's order (see the package comment).
	MinDwell     time.Duration `json:"min_dwell"`
	SwitchMargin float64       `json:"switch_margin"`
	MaxSwitches  int           `json:"max_switches"`
	SwitchWindow time.Duration `json:"switch_window"`

	// StaticOrder is the order before any snapshot and while the source is
	// Missing; default the CDNs in configured order.
	StaticOrder []string `json:"static_order"`

	// AuditSink, when set, gets every override as it is made (to persist
	// it); it is called without the engine's lock held.
	AuditSink func(AuditEntry) `json:"-"`
	// AuditSize and SwitchLogSize bound the in-memory logs.
	AuditSize     int `json:"audit_size"`
	SwitchLogSize int `json:"switch_log_size"`
}

// DefaultConfig is the policy's defaults, chosen for live and replay HLS:
//
//	item            good      bad       weight
//	first_frame     1 s       5 s       2
//	stall_rate      0.1/min   2/min     3
//	stalled_ratio   0.5 %     5 %       2
//	error_rate      1 %       20 %      3
//	latency         6 s       30 s      1   (LL-HLS 2-6 s, classic 10-30 s)
//	dropped_frames  1/min     30/min    1
//	relay_faults    0.05/min  1/min     2
//	push_drop_rate  0.1 %     5 %       3
//	push_error_rate 0.05/min  1/min     3
//
// Known with 20 sessions (attempts), 10 minutes watched or 300 pushed
// frames; NeutralScore 50; Floor 20; CostWeight 0.2 (cost moves a CDN
// by at most 20 points). Fail at 50 % errors, 120 dropped frames/min, 20 %
// push drops, 3 publish errors/min, 3 relay faults/min, or 10 failed
// attempts with no success; recover below 10 %, 30/min, 5 %, 0.5/min,
// 0.5/min held for 5 minutes. Switch at most 4 times in 30 minutes, 2
// minutes apart, for a 10-point gain. CDNs and Regions have no default.
func DefaultConfig() Config {
	return Config{
		MeterInput: MeterSnapshots,
		Thresholds: map[Item]Threshold{
			FirstFrame:    {1, 5},
			StallRate:     {0.1, 2},
			StalledRatio:  {0.005, 0.05},
			ErrorRate:     {0.01, 0.2},
			Latency:       {6, 30},
			DroppedFrames: {1, 30},
			RelayFaults:   {0.05, 1},
			PushDropRate:  {0.001, 0.05},
			PushErrorRate: {0.05, 1},
		},
		Weights: map[Item]float64{
			FirstFrame: 2, StallRate: 3, StalledRatio: 2, ErrorRate: 3, Latency: 1, DroppedFrames: 1,
			RelayFaults: 2, PushDropRate: 3, PushErrorRate: 3,
		},
		MinSessions:       20,
		MinWatchedSeconds: 600,
		MinPushFrames:     300,
		NeutralScore:      50,
		Floor:             20,
		CostWeight:        0.2,
		Fail:              Limits{ErrorRate: 0.5, DropPerMinute: 120, PushDropRate: 0.2, PushErrorRate: 3, RelayFaults: 3},
		Recover:           Limits{ErrorRate: 0.1, DropPerMinute: 30, PushDropRate: 0.05, PushErrorRate: 0.5, RelayFaults: 0.5},
		MinAttempts:       10,
		RecoverAfter:      5 * time.Minute,
		MinDwell:          2 * time.Minute,
		SwitchMargin:      10,
		MaxSwitches:       4,
		SwitchWindow:      30 * time.Minute,
		AuditSize:         1000,
		SwitchLogSize:     1000,
	}
}

// withDefaults fills zero fields and turns the "negative means 0" fields
// into 0.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	or := func(v *float64, def float64) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = 0
		}
	}
	ord := func(v *time.Duration, def time.Duration) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = 0
		}
	}
	c.CDNs, c.Regions, c.StaticOrder = slices.Clone(c.CDNs), slices.Clone(c.Regions), slices.Clone(c.StaticOrder)
	c.Billing = maps.Clone(c.Billing)
	if c.MeterInput == "" {
		c.MeterInput = d.MeterInput
	}
	th := maps.Clone(d.Thresholds)
	maps.Copy(th, c.Thresholds)
	c.Thresholds = th
	w := maps.Clone(d.Weights)
	maps.Copy(w, c.Weights)
	c.Weights = w
	for _, f := range []struct {
		v   *float64
		def float64
	}{
		{&c.MinSessions, d.MinSessions}, {&c.MinWatchedSeconds, d.MinWatchedSeconds}, {&c.MinPushFrames, d.MinPushFrames},
		{&c.Floor, d.Floor}, {&c.CostWeight, d.CostWeight}, {&c.SwitchMargin, d.SwitchMargin}, {&c.MinAttempts, d.MinAttempts},
	} {
		or(f.v, f.def)
	}
	if c.NeutralScore == 0 {
		c.NeutralScore = d.NeutralScore
	}
	for _, l := range []struct{ v, def *Limits }{{&c.Fail, &d.Fail}, {&c.Recover, &d.Recover}} {
		or(&l.v.ErrorRate, l.def.ErrorRate)
		or(&l.v.DropPerMinute, l.def.DropPerMinute)
		or(&l.v.PushDropRate, l.def.PushDropRate)
		or(&l.v.PushErrorRate, l.def.PushErrorRate)
		or(&l.v.RelayFaults, l.def.RelayFaults)
	}
	ord(&c.RecoverAfter, d.RecoverAfter)
	ord(&c.MinDwell, d.MinDwell)
	if c.SwitchWindow == 0 {
		c.SwitchWindow = d.SwitchWindow
	}
	if c.MaxSwitches == 0 {
		c.MaxSwitches = d.MaxSwitches
	}
	if c.AuditSize == 0 {
		c.AuditSize = d.AuditSize
	}
	if c.SwitchLogSize == 0 {
		c.SwitchLogSize = d.SwitchLogSize
	}
	if len(c.StaticOrder) == 0 {
		c.StaticOrder = slices.Clone(c.CDNs)
	}
	return c
}

func (c *Config) validate() error {
	if len(c.CDNs) == 0 {
		return errors.New("policy: no CDN configured")
	}
	seen := map[string]bool{}
	for _, cdn := range c.CDNs {
		if cdn == "" || cdn == Other || seen[cdn] {
			return fmt.Errorf("policy: CDN %q: empty, %q or configured twice", cdn, Other)
		}
		seen[cdn] = true
	}
	for cdn, b := range c.Billing {
		if !seen[cdn] {
			return fmt.Errorf("policy: billing for %q, which is not a configured CDN", cdn)
		}
		if err := b.Validate(); err != nil {
			return fmt.Errorf("policy: billing of %q: %w", cdn, err)
		}
	}
	rs := map[string]bool{}
	for _, r := range c.Regions {
		if r == "" || rs[r] {
			return fmt.Errorf("policy: region %q: empty or configured twice", r)
		}
		rs[r] = true
	}
	if len(c.StaticOrder) != len(c.CDNs) {
		return fmt.Errorf("policy: static order %v must list every configured CDN once", c.StaticOrder)
	}
	so := map[string]bool{}
	for _, cdn := range c.StaticOrder {
		if !seen[cdn] || so[cdn] {
			return fmt.Errorf("policy: static order %v must list every configured CDN once", c.StaticOrder)
		}
		so[cdn] = true
	}
	if c.MeterInput != MeterSnapshots && c.MeterInput != MeterExternal {
		return fmt.Errorf("policy: meter input %q: want %q or %q", c.MeterInput, MeterSnapshots, MeterExternal)
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	for it, t := range c.Thresholds {
		if !slices.Contains(AllItems, it) {
			return fmt.Errorf("policy: threshold for unknown item %q", it)
		}
		if !finite(t.Good) || !finite(t.Bad) || t.Bad <= t.Good {
			return fmt.Errorf("policy: threshold of %s: bad (%v) must be above good (%v), lower is better", it, t.Bad, t.Good)
		}
	}
	for it, w := range c.Weights {
		if !slices.Contains(AllItems, it) {
			return fmt.Errorf("policy: weight for unknown item %q", it)
		}
		if !finite(w) || w < 0 {
			return fmt.Errorf("policy: weight of %s: %v must be finite and not negative", it, w)
		}
	}
	if !finite(c.NeutralScore) || c.NeutralScore < 0 || c.NeutralScore > 100 {
		return fmt.Errorf("policy: neutral score %v must be within 0..100", c.NeutralScore)
	}
	if !finite(c.Floor) || c.Floor > 100 {
		return fmt.Errorf("policy: floor %v must be at most 100", c.Floor)
	}
	for name, v := range map[string]float64{"cost weight": c.CostWeight, "switch margin": c.SwitchMargin,
		"min sessions": c.MinSessions, "min watched seconds": c.MinWatchedSeconds, "min push frames": c.MinPushFrames,
		"min attempts": c.MinAttempts} {
		if !finite(v) {
			return fmt.Errorf("policy: %s %v must be finite", name, v)
		}
	}
	for _, l := range []struct {
		name       string
		fail, recv float64
	}{
		{"error rate", c.Fail.ErrorRate, c.Recover.ErrorRate},
		{"dropped frames", c.Fail.DropPerMinute, c.Recover.DropPerMinute},
		{"push drop rate", c.Fail.PushDropRate, c.Recover.PushDropRate},
		{"push error rate", c.Fail.PushErrorRate, c.Recover.PushErrorRate},
		{"relay faults", c.Fail.RelayFaults, c.Recover.RelayFaults},
	} {
		if !finite(l.fail) || !finite(l.recv) || l.fail <= 0 || l.recv < 0 || l.recv > l.fail {
			return fmt.Errorf("policy: %s: fail threshold %v must be above 0 and at least the recover threshold %v", l.name, l.fail, l.recv)
		}
	}
	if c.MaxSwitches < 0 || c.SwitchWindow < 0 {
		return fmt.Errorf("policy: max switches %d and switch window %v must not be negative", c.MaxSwitches, c.SwitchWindow)
	}
	if c.AuditSize < 0 || c.SwitchLogSize < 0 {
		return errors.New("policy: log sizes must not be negative")
	}
	return nil
}
