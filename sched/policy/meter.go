package policy

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Meter counts the bytes each CDN delivers, for all streams together (CDNs
// bill per account, not per stream), per 5-minute slot of the UTC month,
// and turns them into bills and marginal costs by each CDN's rule. It
// keeps the current and the previous month only. Safe for concurrent use.
type Meter struct {
	mu    sync.Mutex
	rules map[string]Billing
	cdns  map[string]*cdnMeter
	// fedUntil is how far the engine has fed snapshot bytes, kept with the
	// state so that a restart does not count a window twice.
	fedUntil time.Time
}

type cdnMeter struct{ cur, prev *monthData }

type monthData struct {
	start time.Time
	bytes float64
	slots []float64 // bytes per slot, monthSlots(start) long
	// desc are the rates of the slots with traffic, highest first, kept
	// sorted as bytes come so that a percentile is an index, not a sort.
	desc []float64
}

func descCmp(a, b float64) int { return cmp.Compare(b, a) }

// addSlot adds bytes to slot i and moves its rate in desc.
func (md *monthData) addSlot(i int, bytes float64) {
	old := md.slots[i]
	if old > 0 {
		if j, ok := slices.BinarySearchFunc(md.desc, slotMbps(old), descCmp); ok {
			md.desc = slices.Delete(md.desc, j, j+1)
		}
	}
	md.slots[i] = old + bytes
	md.bytes += bytes
	r := slotMbps(old + bytes)
	j, _ := slices.BinarySearchFunc(md.desc, r, descCmp)
	md.desc = slices.Insert(md.desc, j, r)
}

// above counts the slots whose rate is above r.
func (md *monthData) above(r float64) int {
	// desc is sorted highest first: the first index not above r.
	j, _ := slices.BinarySearchFunc(md.desc, r, func(a, r float64) int {
		if a > r {
			return -1
		}
		return 1
	})
	return j
}

// Bill is a month's bill for one CDN, or the projection of one.
type Bill struct {
	CDN   string    `json:"cdn"`
	Model Model     `json:"model"`
	Month time.Time `json:"month"`
	// Bytes are the month's bytes (projected to the month's end in a
	// projection).
	Bytes float64 `json:"bytes"`
	// RateMbps is the P95 billable rate before the commit.
	RateMbps float64 `json:"rate_mbps,omitempty"`
	Amount   float64 `json:"amount"`
}

// NewMeter makes a meter for the CDNs of rules (a CDN with no rule is not
// metered).
func NewMeter(rules map[string]Billing) (*Meter, error) {
	m := &Meter{rules: make(map[string]Billing, len(rules)), cdns: map[string]*cdnMeter{}}
	for cdn, b := range rules {
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("policy: billing of %q: %w", cdn, err)
		}
		if b.Model == "" {
			b.Model = Free
		}
		m.rules[cdn] = b
		m.cdns[cdn] = &cdnMeter{}
	}
	return m, nil
}

// Add counts bytes delivered by cdn at the given time. Unknown CDNs,
// months older than the previous one and values that are not finite and
// positive are ignored.
func (m *Meter) Add(cdn string, at time.Time, bytes float64) {
	if !(bytes > 0) || math.IsInf(bytes, 0) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(cdn, at, bytes)
}

// AddSpread counts bytes delivered evenly over [from, to), split across
// the slots the interval covers.
func (m *Meter) AddSpread(cdn string, from, to time.Time, bytes float64) {
	if !(bytes > 0) || math.IsInf(bytes, 0) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addSpread(cdn, from, to, bytes)
}

func (m *Meter) addSpread(cdn string, from, to time.Time, bytes float64) {
	total := to.Sub(from)
	if total <= 0 {
		m.add(cdn, from, bytes)
		return
	}
	// Only the kept months matter: skip what lies before them in one step.
	if oldest := monthStart(to).AddDate(0, -1, 0); from.Before(oldest) {
		bytes *= float64(to.Sub(oldest)) / float64(total)
		from, total = oldest, to.Sub(oldest)
	}
	for t := from; t.Before(to); {
		next := t.Truncate(SlotDuration).Add(SlotDuration)
		if next.After(to) {
			next = to
		}
		m.add(cdn, t, bytes*float64(next.Sub(t))/float64(total))
		t = next
	}
}

func (m *Meter) add(cdn string, at time.Time, bytes float64) {
	c := m.cdns[cdn]
	if c == nil {
		return
	}
	md := c.month(at, true)
	if md == nil {
		return
	}
	md.addSlot(int(at.Sub(md.start)/SlotDuration), bytes)
}

// month returns the data of at's month, making it (and shifting the kept
// months) when create is set; nil when at is older than the kept months.
func (c *cdnMeter) month(at time.Time, create bool) *monthData {
	ms := monthStart(at)
	switch {
	case c.cur != nil && c.cur.start.Equal(ms):
		return c.cur
	case c.prev != nil && c.prev.start.Equal(ms):
		return c.prev
	case !create:
		return nil
	case c.cur == nil || ms.After(c.cur.start):
		if c.cur != nil && ms.Equal(c.cur.start.AddDate(0, 1, 0)) {
			c.prev = c.cur
		} else {
			c.prev = nil
		}
		c.cur = newMonth(ms)
		return c.cur
	case c.prev == nil && ms.Equal(c.cur.start.AddDate(0, -1, 0)):
		c.prev = newMonth(ms) // late bytes of the month just ended
		return c.prev
	}
	return nil
}

func newMonth(start time.Time) *monthData {
	return &monthData{start: start, slots: make([]float64, monthSlots(start))}
}

// MonthToDate is the bytes cdn delivered in now's month.
func (m *Meter) MonthToDate(cdn string, now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if md := m.lookup(cdn, now); md != nil {
		return md.bytes
	}
	return 0
}

func (m *Meter) lookup(cdn string, at time.Time) *monthData {
	if c := m.cdns[cdn]; c != nil {
		return c.month(at, false)
	}
	return nil
}

// Bill is the bill of month (any time in it) as it stands: the exact bill
// once the month is over. It fails for a CDN without a rule or a month
// that is not kept.
func (m *Meter) Bill(cdn string, month time.Time) (Bill, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rule, ok := m.rules[cdn]
	if !ok {
		return Bill{}, fmt.Errorf("policy: bill: CDN %q has no billing rule", cdn)
	}
	md := m.lookup(cdn, month)
	if md == nil {
		if c := m.cdns[cdn]; c.cur != nil && !monthStart(month).Before(c.cur.start) {
			md = newMonth(monthStart(month)) // a month without traffic (yet)
		} else {
			return Bill{}, fmt.Errorf("policy: bill: %s of %q is not kept", monthStart(month).Format("2006-01"), cdn)
		}
	}
	b := Bill{CDN: cdn, Model: rule.Model, Month: md.start, Bytes: md.bytes}
	switch rule.Model {
	case PerGB:
		b.Amount = rule.TieredCost(md.bytes)
	case P95:
		b.RateMbps = percentile(md.desc, discardSlots(len(md.slots)))
		b.Amount = max(b.RateMbps, rule.CommitMbps) * rule.PricePerMbps
	}
	return b, nil
}

// Projected is the bill now's month will come to if the rest of it looks
// like the part so far:
//   - bytes: the month-to-date bytes extrapolated at the month-to-date
//     rate to the month's end (the elapsed time floored at one hour, so
//     the first minutes do not project absurd volumes); PerGB bills them;
//   - P95: the percentile of the month's slots so far (the current slot
//     included, empty slots as 0) with the discard count scaled to the
//     elapsed slots, floor(5 % of them), then the commit.
func (m *Meter) Projected(cdn string, now time.Time) Bill {
	m.mu.Lock()
	defer m.mu.Unlock()
	rule := m.rules[cdn]
	start := monthStart(now)
	b := Bill{CDN: cdn, Model: rule.Model, Month: start}
	md := m.lookup(cdn, now)
	if md == nil {
		md = newMonth(start)
	}
	length := start.AddDate(0, 1, 0).Sub(start)
	elapsed := min(max(now.Sub(start), time.Hour), length)
	b.Bytes = md.bytes * float64(length) / float64(elapsed)
	switch rule.Model {
	case PerGB:
		b.Amount = rule.TieredCost(b.Bytes)
	case P95:
		n := min(int(now.Sub(start)/SlotDuration)+1, len(md.slots))
		b.RateMbps = percentile(md.desc, discardSlots(n))
		b.Amount = max(b.RateMbps, rule.CommitMbps) * rule.PricePerMbps
	}
	return b
}

// Marginal is what one more GB sent through cdn now costs, per GB:
//   - Free: 0.
//   - PerGB: the price of the tier the next GB falls in.
//   - P95: R = max(commit, the month's billable rate if no more traffic
//     came). The current slot's rate c (extrapolated to the whole slot,
//     its elapsed part floored at 30 s) below R: free, the slot has
//     headroom under a rate paid for anyway. Else the slot is a burst
//     slot: free while the month's burst budget lasts (fewer than
//     floor(5 % of the month's slots) other slots above R); once used, more
//     traffic raises the billable rate, at PricePerMbps per 1 Mbit/s
//     sustained for the month, i.e. PricePerMbps / (month seconds / 8000)
//     per GB (324 GB in a 30-day month).
func (m *Meter) Marginal(cdn string, now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	rule := m.rules[cdn]
	switch rule.Model {
	case PerGB:
		var bytes float64
		if md := m.lookup(cdn, now); md != nil {
			bytes = md.bytes
		}
		return rule.TierPrice(bytes)
	case P95:
		return m.p95Marginal(rule, m.lookup(cdn, now), now)
	}
	return 0
}

func (m *Meter) p95Marginal(rule Billing, md *monthData, now time.Time) float64 {
	start := monthStart(now)
	if md == nil {
		md = newMonth(start)
	}
	budget := discardSlots(len(md.slots))
	r := max(rule.CommitMbps, percentile(md.desc, budget))
	i := int(now.Sub(start) / SlotDuration)
	inSlot := max(now.Sub(start.Add(time.Duration(i)*SlotDuration)), 30*time.Second)
	if c := slotMbps(md.slots[i] * float64(SlotDuration) / float64(inSlot)); c < r {
		return 0
	}
	used := md.above(r) // other slots above r: the burst budget spent
	if slotMbps(md.slots[i]) > r {
		used--
	}
	if used < budget {
		return 0
	}
	return rule.PricePerMbps / gbPerMbpsMonth(start)
}

// meterState is the JSON form of a Meter: per CDN its kept months, each
// with its non-empty slots by index.
type meterState struct {
	Version  int                     `json:"version"`
	FedUntil time.Time               `json:"fed_until,omitzero"`
	CDNs     map[string][]monthState `json:"cdns"`
}

type monthState struct {
	Month time.Time       `json:"month"`
	Slots map[int]float64 `json:"slots"`
}

const meterVersion = 1

// MarshalJSON writes the meter's state, to be kept across restarts.
func (m *Meter) MarshalJSON() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := meterState{Version: meterVersion, FedUntil: m.fedUntil, CDNs: map[string][]monthState{}}
	for cdn, c := range m.cdns {
		var months []monthState
		for _, md := range []*monthData{c.prev, c.cur} {
			if md == nil {
				continue
			}
			ms := monthState{Month: md.start, Slots: map[int]float64{}}
			for i, b := range md.slots {
				if b > 0 {
					ms.Slots[i] = b
				}
			}
			months = append(months, ms)
		}
		st.CDNs[cdn] = months
	}
	return json.Marshal(st)
}

// UnmarshalJSON replaces the meter's counts with a state MarshalJSON
// wrote. The rules stay; CDNs without a rule are dropped. A state that
// does not validate leaves the meter as it was.
func (m *Meter) UnmarshalJSON(data []byte) error {
	var st meterState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("policy: meter state: %w", err)
	}
	if st.Version != meterVersion {
		return fmt.Errorf("policy: meter state: version %d, want %d", st.Version, meterVersion)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cdns := make(map[string]*cdnMeter, len(m.rules))
	for cdn := range m.rules {
		cdns[cdn] = &cdnMeter{}
	}
	for cdn, months := range st.CDNs {
		c := cdns[cdn]
		if c == nil {
			continue
		}
		if len(months) > 2 {
			return fmt.Errorf("policy: meter state: %q has %d months, at most 2 are kept", cdn, len(months))
		}
		for _, ms := range months {
			if !ms.Month.Equal(monthStart(ms.Month)) || ms.Month.Year() < 2000 || ms.Month.Year() > 9999 {
				return fmt.Errorf("policy: meter state: %q: %v is not the start of a UTC month", cdn, ms.Month)
			}
			md := newMonth(ms.Month.UTC())
			for i, b := range ms.Slots {
				if i < 0 || i >= len(md.slots) || !(b >= 0) || math.IsInf(b, 0) {
					return fmt.Errorf("policy: meter state: %q %s: slot %d = %v out of range", cdn, md.start.Format("2006-01"), i, b)
				}
				md.slots[i] = b
				md.bytes += b
			}
			if math.IsInf(md.bytes, 0) {
				return fmt.Errorf("policy: meter state: %q %s: the bytes overflow", cdn, md.start.Format("2006-01"))
			}
			md.desc = descRates(md.slots)
			switch {
			case c.cur == nil:
				c.cur = md
			case md.start.Equal(c.cur.start.AddDate(0, 1, 0)):
				c.prev, c.cur = c.cur, md
			case md.start.Equal(c.cur.start.AddDate(0, -1, 0)):
				c.prev = md
			default:
				return errors.New("policy: meter state: the months of " + fmt.Sprintf("%q", cdn) + " are not two consecutive months")
			}
		}
	}
	m.cdns, m.fedUntil = cdns, st.FedUntil
	return nil
}
