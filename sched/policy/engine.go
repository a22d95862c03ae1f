package policy

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/sched/qos"
)

// Engine turns QoS snapshots, the meter and the operator's overrides into
// per-region CDN orders. Safe for concurrent use; Order and PushOrder read
// an immutable table and take no lock.
type Engine struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	meter    *Meter
	regions  []string // configured, then Other
	isCDN    map[string]bool
	isRegion map[string]bool
	table    atomic.Pointer[table]

	mu        sync.Mutex
	ov        overrides
	audit     *ring[AuditEntry]
	switchLog *ring[SwitchEntry]
	computed  bool // false: StaticOrder (no snapshot yet, or Missing)
	last      lastSnap
	scores    [2]map[qos.Key]Scores
	fail      [2]map[qos.Key]*failState
	eval      [2]map[string][]candidate // per region, configured CDN order
	ranked    [2]map[string][]candidate // per region, as last ranked
	hyst      [2]map[string]*regionState
}

type lastSnap struct {
	source string
	state  qos.State
	at     time.Time
}

// table is one published set of orders, never modified once stored.
type table struct {
	orders [2]map[string][]string
}

// New checks cfg (its zero fields taking DefaultConfig's values) and
// starts with the static order.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rules := map[string]Billing{}
	for _, cdn := range cfg.CDNs {
		rules[cdn] = cfg.Billing[cdn]
	}
	meter, err := NewMeter(rules)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{
		cfg: cfg, log: log.With("component", "policy"), m: m, meter: meter,
		regions:   slices.Clone(cfg.Regions),
		ov:        overrides{disabled: map[[2]string]Override{}, pins: map[string]Override{}},
		audit:     newRing[AuditEntry](cfg.AuditSize),
		switchLog: newRing[SwitchEntry](cfg.SwitchLogSize),
		last:      lastSnap{state: qos.Missing},
	}
	if !slices.Contains(e.regions, Other) {
		e.regions = append(e.regions, Other)
	}
	e.isCDN, e.isRegion = map[string]bool{}, map[string]bool{}
	for _, cdn := range cfg.CDNs {
		e.isCDN[cdn] = true
	}
	for _, r := range e.regions {
		e.isRegion[r] = true
	}
	for k := range 2 {
		e.scores[k] = map[qos.Key]Scores{}
		e.fail[k] = map[qos.Key]*failState{}
		e.eval[k] = map[string][]candidate{}
		e.ranked[k] = map[string][]candidate{}
		e.hyst[k] = map[string]*regionState{}
		for _, r := range e.regions {
			e.hyst[k][r] = &regionState{}
		}
	}
	e.mu.Lock()
	e.rebuild(time.Time{})
	e.mu.Unlock()
	return e, nil
}

// Meter is the engine's billing meter: with MeterExternal the integrator
// feeds it (Add), and in every case persists it (its JSON form).
func (e *Engine) Meter() *Meter { return e.meter }

// Order is region's CDN order for viewers, best first; a region that is
// not configured gets Other's. The slice is the caller's.
func (e *Engine) Order(region string) []string { return e.order(Pull, region) }

// PushOrder is region's CDN order for streamers' push addresses.
func (e *Engine) PushOrder(region string) []string { return e.order(Push, region) }

func (e *Engine) order(k Kind, region string) []string {
	t := e.table.Load()
	o, ok := t.orders[k][region]
	if !ok {
		o = t.orders[k][Other]
	}
	return slices.Clone(o)
}

// Update takes a reader's snapshot at now:
//   - Fresh: scores every configured (CDN, region), moves the failure
//     states on, ranks and publishes new orders;
//   - Stale: keeps the last computed orders (the snapshot's data is old);
//   - Missing (or no state): the StaticOrder until the next Fresh one.
//
// With MeterSnapshots, the bytes of a Fresh snapshot's windows are fed to
// the meter for only the part of its Span not fed before (windows of
// successive snapshots overlap): Bytes × (At − max(At−Span, fed until)) /
// Span, spread evenly over that interval. This assumes the rate is even
// within a window; an integrator with exact byte deltas uses
// MeterExternal and Meter().Add instead.
func (e *Engine) Update(snap qos.Snapshot, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.last = lastSnap{source: snap.Source, state: snap.State, at: snap.At}
	switch snap.State {
	case qos.Fresh:
		e.evaluate(snap, now)
		e.computed = true
		e.rebuild(now)
	case qos.Stale:
		// The last computed (or static) orders stay as they are.
	default:
		if e.computed {
			e.log.Warn("qos source missing; static order", "source", snap.Source)
		}
		e.computed = false
		e.rebuild(now)
	}
	e.meterMetrics(now)
}

// evaluate scores the snapshot and moves the failure states on.
func (e *Engine) evaluate(snap qos.Snapshot, now time.Time) {
	c := &e.cfg
	byKey := map[qos.Key][]qos.Window{}
	byCDN := map[string][]qos.Window{}
	for k, w := range snap.Windows {
		if !e.isCDN[k.CDN] {
			continue // nothing to steer to
		}
		if !e.isRegion[k.Region] {
			k.Region = Other
		}
		byKey[k] = append(byKey[k], w)
		byCDN[k.CDN] = append(byCDN[k.CDN], w)
	}
	windows := make(map[qos.Key]qos.Window, len(byKey))
	for k, ws := range byKey {
		windows[k] = ws[0]
		if len(ws) > 1 {
			windows[k] = aggregate(ws)
		}
	}
	switch {
	case c.MeterInput != MeterSnapshots:
	case snap.At.After(now.Add(time.Minute)):
		// A window from the future would start a new month in the meter
		// and drop the current one: a reader's clock is off.
		e.log.Warn("snapshot from the future; bytes not metered", "source", snap.Source, "at", snap.At, "now", now)
	default:
		e.feedMeter(snap, byCDN)
	}
	marginal := map[string]float64{}
	aggs := map[string]qos.Window{}
	for _, cdn := range c.CDNs {
		marginal[cdn] = e.meter.Marginal(cdn, now)
		aggs[cdn] = aggregate(byCDN[cdn])
	}
	for kind := Pull; kind <= Push; kind++ {
		for _, region := range e.regions {
			cands := make([]candidate, 0, len(c.CDNs))
			for _, cdn := range c.CDNs {
				key := qos.Key{CDN: cdn, Region: region}
				w := windows[key]
				sc := c.score(kind.items(), w, aggs[cdn], snap.Span)
				e.scores[kind][key] = sc
				fs := e.fail[kind][key]
				if fs == nil {
					fs = &failState{}
					e.fail[kind][key] = fs
				}
				if c.step(fs, kind, w, snap.Span, now) {
					if fs.failed {
						e.log.Warn("cdn failed", "order", kind.String(), "cdn", cdn, "region", region, "reason", fs.reason)
					} else {
						e.log.Info("cdn recovered", "order", kind.String(), "cdn", cdn, "region", region)
					}
				}
				cd := candidate{cdn: cdn, composite: sc.Composite, worst: sc.Worst, worstScore: sc.WorstScore, failed: fs.failed}
				if kind == Pull {
					cd.marginal = marginal[cdn]
				}
				cands = append(cands, cd)
				e.scoreMetrics(kind, key, sc)
			}
			e.eval[kind][region] = cands
		}
	}
}

func (e *Engine) feedMeter(snap qos.Snapshot, byCDN map[string][]qos.Window) {
	if snap.Span <= 0 {
		return
	}
	from := snap.At.Add(-snap.Span)
	e.meter.mu.Lock()
	defer e.meter.mu.Unlock()
	if from.Before(e.meter.fedUntil) {
		from = e.meter.fedUntil
	}
	if !snap.At.After(from) {
		return
	}
	share := float64(snap.At.Sub(from)) / float64(snap.Span)
	for cdn, ws := range byCDN {
		var bytes float64
		for _, w := range ws {
			bytes += w.Bytes
		}
		if bytes > 0 {
			e.meter.addSpread(cdn, from, snap.At, bytes*share)
		}
	}
	e.meter.fedUntil = snap.At
}

// rebuild ranks every region's CDNs, applies the overrides and the
// switching rules, and publishes the orders. Called with e.mu held.
func (e *Engine) rebuild(now time.Time) {
	c := &e.cfg
	t := &table{}
	for kind := Pull; kind <= Push; kind++ {
		t.orders[kind] = make(map[string][]string, len(e.regions))
		costWeight := c.CostWeight
		if kind == Push {
			costWeight = 0
		}
		for _, region := range e.regions {
			pin := e.ov.pin(region)
			var order []string
			if !e.computed {
				for _, cdn := range c.StaticOrder {
					if !e.ov.isDisabled(cdn, region) && cdn != pin {
						order = append(order, cdn)
					}
				}
				if pin != "" {
					order = append([]string{pin}, order...)
				}
			} else {
				cands := make([]candidate, 0, len(c.CDNs))
				for _, cd := range e.eval[kind][region] {
					if !e.ov.isDisabled(cd.cdn, region) {
						cands = append(cands, cd)
					}
				}
				ranked := rank(cands, c.Floor, costWeight)
				e.ranked[kind][region] = ranked
				var d *decision
				order, d = e.hyst[kind][region].decide(c, ranked, pin, now)
				if d != nil {
					e.switched(kind, region, d, now)
				}
			}
			t.orders[kind][region] = order
			for _, cdn := range c.CDNs {
				e.m.priority[kind].WithLabelValues(cdn, region).Set(float64(slices.Index(order, cdn) + 1))
				failed := 0.0
				if fs := e.fail[kind][qos.Key{CDN: cdn, Region: region}]; fs != nil && fs.failed {
					failed = 1
				}
				e.m.failed[kind].WithLabelValues(cdn, region).Set(failed)
			}
		}
	}
	e.table.Store(t)
}

func (e *Engine) switched(kind Kind, region string, d *decision, now time.Time) {
	e.switchLog.add(SwitchEntry{At: now, Order: kind.String(), Region: region, From: d.from, To: d.to,
		Reason: d.reason, Automatic: d.automatic})
	e.m.switches[kind].WithLabelValues(region, d.from, d.to, d.reason).Inc()
	e.log.Info("cdn switch", "order", kind.String(), "region", region, "from", d.from, "to", d.to,
		"reason", d.reason, "automatic", d.automatic)
}

func (e *Engine) scoreMetrics(kind Kind, key qos.Key, sc Scores) {
	for it, is := range sc.Items {
		if kind == Push && it == RelayFaults {
			continue // the same value as the pull side's
		}
		if is.Known {
			e.m.score.WithLabelValues(key.CDN, key.Region, string(it)).Set(is.Score)
		} else {
			e.m.score.DeleteLabelValues(key.CDN, key.Region, string(it))
		}
	}
	comp := CompositeItem
	if kind == Push {
		comp = PushCompositeItem
	}
	e.m.score.WithLabelValues(key.CDN, key.Region, string(comp)).Set(sc.Composite)
}

func (e *Engine) meterMetrics(now time.Time) {
	for _, cdn := range e.cfg.CDNs {
		e.m.monthBytes.WithLabelValues(cdn).Set(e.meter.MonthToDate(cdn, now))
		e.m.projectedBill.WithLabelValues(cdn).Set(e.meter.Projected(cdn, now).Amount)
		e.m.marginal.WithLabelValues(cdn).Set(e.meter.Marginal(cdn, now))
	}
}

// Report is the engine's state for the console and the admin API.
type Report struct {
	At         time.Time           `json:"at"`
	Source     string              `json:"source"`
	State      qos.State           `json:"state"`
	SnapshotAt time.Time           `json:"snapshot_at"`
	Static     bool                `json:"static"` // the orders are the StaticOrder
	CDNs       []CDNReport         `json:"cdns"`
	Keys       []KeyReport         `json:"keys"`
	Orders     map[string][]string `json:"orders"`
	PushOrders map[string][]string `json:"push_orders"`
	Overrides  []Override          `json:"overrides"`
	Audit      []AuditEntry        `json:"audit"`
	Switches   []SwitchEntry       `json:"switches"`
}

// CDNReport is one CDN's billing.
type CDNReport struct {
	CDN           string  `json:"cdn"`
	Billing       string  `json:"billing"`
	MonthBytes    float64 `json:"month_bytes"`
	Projected     Bill    `json:"projected"`
	MarginalPerGB float64 `json:"marginal_per_gb"`
}

// KeyReport is one (CDN, region) in both orders.
type KeyReport struct {
	CDN    string      `json:"cdn"`
	Region string      `json:"region"`
	Pull   OrderReport `json:"pull"`
	Push   OrderReport `json:"push"`
}

// OrderReport is one (CDN, region) in one order.
type OrderReport struct {
	Scores
	Failed      bool      `json:"failed"`
	FailReason  string    `json:"fail_reason,omitempty"`
	FailedSince time.Time `json:"failed_since,omitzero"`
	BelowFloor  bool      `json:"below_floor"`
	Disabled    bool      `json:"disabled"`
	CostScore   float64   `json:"cost_score"`
	Value       float64   `json:"value"`
	Rank        int       `json:"rank"` // 1 = first, 0 = not in the order
}

// Report describes the engine at now.
func (e *Engine) Report(now time.Time) Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.table.Load() // under the lock: the table of the state reported
	r := Report{At: now, Source: e.last.source, State: e.last.state, SnapshotAt: e.last.at, Static: !e.computed,
		Orders: map[string][]string{}, PushOrders: map[string][]string{},
		Overrides: e.ov.list(), Audit: e.audit.list(), Switches: e.switchLog.list()}
	for _, region := range e.regions {
		r.Orders[region] = slices.Clone(t.orders[Pull][region])
		r.PushOrders[region] = slices.Clone(t.orders[Push][region])
	}
	for _, cdn := range e.cfg.CDNs {
		r.CDNs = append(r.CDNs, CDNReport{CDN: cdn, Billing: e.cfg.Billing[cdn].String(),
			MonthBytes: e.meter.MonthToDate(cdn, now), Projected: e.meter.Projected(cdn, now),
			MarginalPerGB: e.meter.Marginal(cdn, now)})
	}
	for _, cdn := range e.cfg.CDNs {
		for _, region := range e.regions {
			key := qos.Key{CDN: cdn, Region: region}
			kr := KeyReport{CDN: cdn, Region: region}
			for kind, or := range []*OrderReport{&kr.Pull, &kr.Push} {
				or.Scores = e.scores[kind][key]
				if fs := e.fail[kind][key]; fs != nil && fs.failed {
					or.Failed, or.FailReason, or.FailedSince = true, fs.reason, fs.since
				}
				or.Disabled = e.ov.isDisabled(cdn, region)
				for _, cd := range e.ranked[kind][region] {
					if cd.cdn == cdn {
						or.BelowFloor, or.CostScore, or.Value = cd.belowFloor, cd.costScore, cd.value
					}
				}
				or.Rank = slices.Index(t.orders[kind][region], cdn) + 1
			}
			r.Keys = append(r.Keys, kr)
		}
	}
	return r
}
