package policy

import (
	"time"

	"github.com/rewind-vod/rewind/sched/qos"
)

// Kind is one of the two orders the engine keeps per region.
type Kind int

const (
	Pull Kind = iota // viewers: Order
	Push             // streamers: PushOrder
)

func (k Kind) String() string {
	if k == Push {
		return "push"
	}
	return "pull"
}

func (k Kind) items() []Item {
	if k == Push {
		return PushItems
	}
	return PullItems
}

// Failure reasons, a fixed set (the Reason of a failed CDN in a Report).
const (
	FailErrorRate     = "error_rate"
	FailDroppedFrames = "dropped_frames"
	FailPushDropRate  = "push_drop_rate"
	FailPushErrorRate = "push_error_rate"
	FailRelayFaults   = "relay_faults"
	FailNoSuccess     = "no_success"      // attempts, and no session reached a first frame
	FailPushNoSuccess = "push_no_success" // publish errors, and no frame pushed
	FailProbes        = "probes"          // probes failing, none passing
)

// Switch reasons of rewind_sched_switches_total, a fixed set.
const (
	ReasonFailed     = "failed"      // away from a failed top (urgent)
	ReasonDisabled   = "disabled"    // away from a disabled top (urgent)
	ReasonBelowFloor = "below_floor" // away from a top under the floor (urgent)
	ReasonBetter     = "better"      // to a CDN worth SwitchMargin more
	ReasonRecovered  = "recovered"   // back to the CDN last left urgently
	ReasonPinned     = "pinned"      // to an operator's pin
)

// failState is the hysteresis of one (CDN, region) in one order.
type failState struct {
	failed       bool
	reason       string
	since        time.Time // failed since
	healthySince time.Time // all below the recover thresholds since; zero if not
}

// failReason says whether w crosses a fail threshold (limits) for kind, and
// which; with the Recover limits it says what still keeps a CDN from
// recovering. Rates are judged only on enough data (as for scores); a
// window with nothing in it crosses nothing.
func (c *Config) failReason(kind Kind, w qos.Window, span time.Duration, l Limits) string {
	minutes := span.Minutes()
	if minutes > 0 && w.RelayFaults()/minutes >= l.RelayFaults {
		return FailRelayFaults
	}
	if kind == Push {
		if w.PushFrames == 0 && w.PushPublishErrors >= c.MinAttempts {
			return FailPushNoSuccess
		}
		if n := w.PushFrames + w.PushDroppedFrames; n > 0 && n >= c.MinPushFrames && w.PushDropRate() >= l.PushDropRate {
			return FailPushDropRate
		}
		if minutes > 0 && w.PushPublishErrors/minutes >= l.PushErrorRate {
			return FailPushErrorRate
		}
		return ""
	}
	if w.Sessions == 0 && w.Errors >= c.MinAttempts {
		return FailNoSuccess
	}
	if w.ProbeFailures > 0 && w.ProbeSuccesses == 0 {
		return FailProbes
	}
	if w.Sessions+w.Errors >= c.MinAttempts && w.ErrorRate() >= l.ErrorRate {
		return FailErrorRate
	}
	if w.WatchedSeconds > 0 && w.WatchedSeconds >= c.MinWatchedSeconds && w.DroppedPerMinute() >= l.DropPerMinute {
		return FailDroppedFrames
	}
	return ""
}

// step moves a failState on by one window at now: it fails at once when a
// fail threshold is crossed and recovers only when every item has stayed
// below its recover threshold for RecoverAfter. A failed CDN that gets no
// traffic shows nothing above the recover thresholds, so it comes back
// after RecoverAfter (the probes, when configured, are the evidence
// either way). It reports whether the state changed.
func (c *Config) step(s *failState, kind Kind, w qos.Window, span time.Duration, now time.Time) bool {
	if r := c.failReason(kind, w, span, c.Fail); r != "" {
		changed := !s.failed
		if !s.failed {
			s.since = now
		}
		s.failed, s.reason, s.healthySince = true, r, time.Time{}
		return changed
	}
	if !s.failed {
		return false
	}
	if c.failReason(kind, w, span, c.Recover) != "" {
		s.healthySince = time.Time{}
		return false
	}
	if s.healthySince.IsZero() {
		s.healthySince = now
	}
	if now.Sub(s.healthySince) >= c.RecoverAfter {
		*s = failState{}
		return true
	}
	return false
}

// regionState is the switching state of one region in one order.
type regionState struct {
	top            string
	lastSwitch     time.Time
	switches       []time.Time // within SwitchWindow, oldest first
	lastUrgentFrom string
}

// decision is one switch of a region's top.
type decision struct {
	from, to, reason string
	automatic        bool
}

// decide puts the region's top first. ideal is the ranked order (disabled
// CDNs already left out), pin the region's pin if any. An urgent switch
// (away from a failed, disabled or below-floor top) is made at once;
// another waits for MinDwell since the last switch, a value SwitchMargin
// above the current top, and fewer than MaxSwitches switches (of any kind)
// in the last SwitchWindow. Urgent switches are never held back, so a
// window can hold one more than MaxSwitches when the cap's last allowed
// switch is followed by a failure.
func (s *regionState) decide(c *Config, ideal []candidate, pin string, now time.Time) ([]string, *decision) {
	cutoff := now.Add(-c.SwitchWindow)
	for len(s.switches) > 0 && !s.switches[0].After(cutoff) {
		s.switches = s.switches[1:]
	}
	if len(ideal) == 0 {
		return nil, nil
	}
	byName := make(map[string]*candidate, len(ideal))
	for i := range ideal {
		byName[ideal[i].cdn] = &ideal[i]
	}
	var d *decision
	to := func(cdn, reason string, automatic bool) {
		d = &decision{from: s.top, to: cdn, reason: reason, automatic: automatic}
	}
	best := &ideal[0]
	cur, present := byName[s.top]
	pinned := pin != "" && byName[pin] != nil
	switch {
	case s.top == "" && pinned:
		s.top = pin // the first order: nothing to switch from
	case s.top == "":
		s.top = best.cdn
	case pinned:
		if s.top != pin {
			to(pin, ReasonPinned, false)
		}
	case best.cdn == s.top:
	case !present:
		to(best.cdn, ReasonDisabled, true)
	case (cur.failed || cur.belowFloor) && best.candidate():
		reason := ReasonFailed
		if !cur.failed {
			reason = ReasonBelowFloor
		}
		to(best.cdn, reason, true)
	case !cur.candidate():
		// Everything is excluded: stay rather than churn among the bad.
	case now.Sub(s.lastSwitch) >= c.MinDwell && best.value-cur.value >= c.SwitchMargin &&
		len(s.switches) < c.MaxSwitches:
		reason := ReasonBetter
		if best.cdn == s.lastUrgentFrom {
			reason = ReasonRecovered
		}
		to(best.cdn, reason, true)
	}
	if d != nil {
		if d.reason == ReasonFailed || d.reason == ReasonDisabled || d.reason == ReasonBelowFloor {
			s.lastUrgentFrom = d.from
		} else if d.to == s.lastUrgentFrom {
			s.lastUrgentFrom = ""
		}
		s.top, s.lastSwitch = d.to, now
		s.switches = append(s.switches, now)
	}
	order := make([]string, 0, len(ideal))
	order = append(order, s.top)
	for _, cd := range ideal {
		if cd.cdn != s.top {
			order = append(order, cd.cdn)
		}
	}
	return order, d
}
