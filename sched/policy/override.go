package policy

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Override actions, the Action of an AuditEntry.
const (
	ActionDisable = "disable"
	ActionPin     = "pin"
	ActionClear   = "clear"
)

// AuditEntry is one operator override as it was made.
type AuditEntry struct {
	At     time.Time `json:"at"`
	Who    string    `json:"who"`
	Action string    `json:"action"`
	CDN    string    `json:"cdn"`
	Region string    `json:"region"` // "" is global
	Why    string    `json:"why"`
}

// SwitchEntry is one switch of a region's top CDN.
type SwitchEntry struct {
	At        time.Time `json:"at"`
	Order     string    `json:"order"` // pull or push
	Region    string    `json:"region"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Reason    string    `json:"reason"`
	Automatic bool      `json:"automatic"`
}

// Override is one override in force.
type Override struct {
	Action string    `json:"action"` // ActionDisable or ActionPin
	CDN    string    `json:"cdn"`
	Region string    `json:"region"` // "" is global
	Who    string    `json:"who"`
	Why    string    `json:"why"`
	At     time.Time `json:"at"`
}

// overrides are the operator's overrides in force: disables per (CDN,
// region) and at most one pin per region ("" global). They apply to both
// orders. A disable wins over a pin; a region's pin over the global one.
type overrides struct {
	disabled map[[2]string]Override // {cdn, region}
	pins     map[string]Override    // region -> pin
}

func (o *overrides) isDisabled(cdn, region string) bool {
	_, r := o.disabled[[2]string{cdn, region}]
	_, g := o.disabled[[2]string{cdn, ""}]
	return r || g
}

// pin is the CDN pinned first in region, "" if none (or it is disabled
// there, and the global pin then, if any).
func (o *overrides) pin(region string) string {
	for _, r := range []string{region, ""} {
		if p, ok := o.pins[r]; ok && !o.isDisabled(p.CDN, region) {
			return p.CDN
		}
	}
	return ""
}

func (o *overrides) list() []Override {
	var out []Override
	for _, v := range o.disabled {
		out = append(out, v)
	}
	for _, v := range o.pins {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Override) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.CDN, b.CDN), cmp.Compare(a.Action, b.Action))
	})
	return out
}

// apply records one validated action.
func (o *overrides) apply(e AuditEntry) {
	ov := Override{Action: e.Action, CDN: e.CDN, Region: e.Region, Who: e.Who, Why: e.Why, At: e.At}
	key := [2]string{e.CDN, e.Region}
	switch e.Action {
	case ActionDisable:
		o.disabled[key] = ov
	case ActionPin:
		o.pins[e.Region] = ov
	case ActionClear:
		delete(o.disabled, key)
		if p, ok := o.pins[e.Region]; ok && p.CDN == e.CDN {
			delete(o.pins, e.Region)
		}
	}
}

// ring is a bounded log keeping the last n entries.
type ring[T any] struct {
	buf  []T
	next int
	full bool
}

func newRing[T any](n int) *ring[T] { return &ring[T]{buf: make([]T, n)} }

func (r *ring[T]) add(v T) {
	if len(r.buf) == 0 {
		return
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % len(r.buf)
	r.full = r.full || r.next == 0
}

// list returns the entries oldest first.
func (r *ring[T]) list() []T {
	if !r.full {
		return slices.Clone(r.buf[:r.next])
	}
	return append(slices.Clone(r.buf[r.next:]), r.buf[:r.next]...)
}

// Disable leaves cdn out of region's orders ("" every region) until
// cleared.
func (e *Engine) Disable(cdn, region, who, why string, now time.Time) error {
	return e.override(AuditEntry{At: now, Who: who, Action: ActionDisable, CDN: cdn, Region: region, Why: why})
}

// Pin puts cdn first in region's orders ("" every region without its own
// pin), over the automatic order, unless it is disabled there. A pin
// replaces the region's previous pin.
func (e *Engine) Pin(cdn, region, who, why string, now time.Time) error {
	return e.override(AuditEntry{At: now, Who: who, Action: ActionPin, CDN: cdn, Region: region, Why: why})
}

// Clear removes cdn's disable and pin in region ("" the global ones).
func (e *Engine) Clear(cdn, region, who, why string, now time.Time) error {
	return e.override(AuditEntry{At: now, Who: who, Action: ActionClear, CDN: cdn, Region: region, Why: why})
}

// Restore replays overrides persisted through AuditSink (oldest first),
// typically at start: each is validated and applied and joins the audit
// log, without going to the sink again. It stops at the first invalid
// entry (a CDN or region no longer configured), having applied the ones
// before it.
func (e *Engine) Restore(entries []AuditEntry) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var last time.Time
	for i, a := range entries {
		if err := e.check(a); err != nil {
			e.rebuild(last)
			return fmt.Errorf("policy: restore entry %d: %w", i+1, err)
		}
		e.ov.apply(a)
		e.audit.add(a)
		last = a.At
	}
	e.rebuild(last)
	return nil
}

func (e *Engine) check(a AuditEntry) error {
	if a.Action != ActionDisable && a.Action != ActionPin && a.Action != ActionClear {
		return fmt.Errorf("policy: unknown override action %q", a.Action)
	}
	if !slices.Contains(e.cfg.CDNs, a.CDN) {
		return fmt.Errorf("policy: %s: CDN %q is not configured (configured: %v)", a.Action, a.CDN, e.cfg.CDNs)
	}
	if a.Region != "" && !slices.Contains(e.regions, a.Region) {
		return fmt.Errorf("policy: %s: region %q is not configured (configured: %v, or \"\" for all)", a.Action, a.Region, e.regions)
	}
	if a.Who == "" {
		return fmt.Errorf("policy: %s: who made the override must be given", a.Action)
	}
	return nil
}

func (e *Engine) override(a AuditEntry) error {
	if err := e.check(a); err != nil {
		return err
	}
	e.mu.Lock()
	e.ov.apply(a)
	e.audit.add(a)
	e.log.Info("override", "action", a.Action, "cdn", a.CDN, "region", a.Region, "who", a.Who, "why", a.Why)
	e.rebuild(a.At)
	e.mu.Unlock()
	if e.cfg.AuditSink != nil {
		e.cfg.AuditSink(a)
	}
	return nil
}
