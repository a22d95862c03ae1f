package policy

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Model is how a CDN bills its traffic.
type Model string

const (
	// Free: no bill (an own CDN, a flat contract); marginal cost 0.
	Free Model = "free"
	// PerGB: volume tiers over the month-to-date bytes.
	PerGB Model = "per_gb"
	// P95: the 95th percentile of the month's 5-minute bandwidth samples.
	P95 Model = "p95"
)

// Units. CDNs bill decimal units: a GB is 10^9 bytes, a Mbit/s 10^6 bit/s.
const (
	BytesPerGB   = 1e9
	SlotDuration = 5 * time.Minute // P95 sample slot, aligned to the UTC clock
	slotsPerDay  = int(24 * time.Hour / SlotDuration)
)

// Tier is one volume tier of a PerGB rule: the price of each GB while the
// month-to-date volume is under UpToGB (cumulative, from the month's first
// byte). The last tier has UpToGB 0: no upper bound.
type Tier struct {
	UpToGB     float64 `json:"up_to_gb"`
	PricePerGB float64 `json:"price_per_gb"`
}

// Billing is one CDN's billing rule.
type Billing struct {
	Model Model  `json:"model"`
	Tiers []Tier `json:"tiers,omitempty"` // PerGB
	// PricePerMbps is the price of one Mbit/s of billable rate for a
	// month; CommitMbps is the committed rate billed whatever the traffic
	// (P95).
	PricePerMbps float64 `json:"price_per_mbps,omitempty"`
	CommitMbps   float64 `json:"commit_mbps,omitempty"`
}

// Validate checks a rule; an empty Model is Free.
func (b Billing) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 }
	switch b.Model {
	case Free, "":
		return nil
	case PerGB:
		if len(b.Tiers) == 0 {
			return errors.New("per_gb billing needs at least one tier")
		}
		prev := 0.0
		for i, t := range b.Tiers {
			if !finite(t.PricePerGB) || !finite(t.UpToGB) {
				return fmt.Errorf("tier %d: price and bound must be finite and not negative", i+1)
			}
			last := i == len(b.Tiers)-1
			if last != (t.UpToGB == 0) {
				return fmt.Errorf("tier %d: only the last tier is unbounded (up_to_gb 0)", i+1)
			}
			if !last && t.UpToGB <= prev {
				return fmt.Errorf("tier %d: bound %v GB must be above the previous %v GB", i+1, t.UpToGB, prev)
			}
			prev = t.UpToGB
		}
		return nil
	case P95:
		if !finite(b.PricePerMbps) || !finite(b.CommitMbps) {
			return errors.New("p95 billing: price and commit must be finite and not negative")
		}
		return nil
	}
	return fmt.Errorf("unknown billing model %q (want %s, %s or %s)", b.Model, Free, PerGB, P95)
}

// TieredCost is the PerGB bill of a month with bytes of traffic: each
// tier's price times the part of the volume inside that tier.
func (b Billing) TieredCost(bytes float64) float64 {
	gb := bytes / BytesPerGB
	total, lo := 0.0, 0.0
	for _, t := range b.Tiers {
		hi := t.UpToGB
		if hi == 0 {
			hi = math.Inf(1)
		}
		if gb > lo {
			total += (min(gb, hi) - lo) * t.PricePerGB
		}
		lo = hi
	}
	return total
}

// TierPrice is the PerGB price of the next GB after bytes this month: the
// price of the tier that GB falls in.
func (b Billing) TierPrice(bytes float64) float64 {
	gb := bytes / BytesPerGB
	for _, t := range b.Tiers {
		if t.UpToGB == 0 || gb < t.UpToGB {
			return t.PricePerGB
		}
	}
	return 0
}

// ParseBilling reads a rule from a flag's text:
//
//	free
//	per_gb:10000@0.085,50000@0.08,*@0.06   (up-to GB @ price per GB, * the rest)
//	p95:price=1.75,commit=100               (price per Mbit/s-month, commit Mbit/s)
func ParseBilling(s string) (Billing, error) {
	model, args, _ := strings.Cut(strings.TrimSpace(s), ":")
	var b Billing
	num := func(v string) (float64, error) {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return 0, fmt.Errorf("policy: billing %q: %q is not a price or an amount", s, v)
		}
		return f, nil
	}
	switch Model(model) {
	case Free:
		if args != "" {
			return b, fmt.Errorf("policy: billing %q: free takes no arguments", s)
		}
		b.Model = Free
	case PerGB:
		b.Model = PerGB
		for part := range strings.SplitSeq(args, ",") {
			upTo, price, ok := strings.Cut(part, "@")
			if !ok {
				return b, fmt.Errorf("policy: billing %q: tier %q is not GB@price", s, part)
			}
			var t Tier
			var err error
			if strings.TrimSpace(upTo) != "*" {
				if t.UpToGB, err = num(upTo); err != nil {
					return b, err
				}
				if t.UpToGB == 0 {
					return b, fmt.Errorf("policy: billing %q: a tier bound must be above 0 (* is the unbounded rest)", s)
				}
			}
			if t.PricePerGB, err = num(price); err != nil {
				return b, err
			}
			b.Tiers = append(b.Tiers, t)
		}
	case P95:
		b.Model = P95
		seen := map[string]bool{}
		for part := range strings.SplitSeq(args, ",") {
			k, v, ok := strings.Cut(part, "=")
			k = strings.TrimSpace(k)
			if !ok || seen[k] {
				return b, fmt.Errorf("policy: billing %q: %q is not a new key=value", s, part)
			}
			seen[k] = true
			f, err := num(v)
			if err != nil {
				return b, err
			}
			switch k {
			case "price":
				b.PricePerMbps = f
			case "commit":
				b.CommitMbps = f
			default:
				return b, fmt.Errorf("policy: billing %q: unknown key %q (want price, commit)", s, k)
			}
		}
		if !seen["price"] {
			return b, fmt.Errorf("policy: billing %q: p95 needs price=", s)
		}
	default:
		return b, fmt.Errorf("policy: billing %q: unknown model %q (want %s, %s or %s)", s, model, Free, PerGB, P95)
	}
	if err := b.Validate(); err != nil {
		return b, fmt.Errorf("policy: billing %q: %w", s, err)
	}
	return b, nil
}

// String is the ParseBilling form of b.
func (b Billing) String() string {
	switch b.Model {
	case PerGB:
		parts := make([]string, len(b.Tiers))
		for i, t := range b.Tiers {
			up := "*"
			if t.UpToGB != 0 {
				up = strconv.FormatFloat(t.UpToGB, 'g', -1, 64)
			}
			parts[i] = up + "@" + strconv.FormatFloat(t.PricePerGB, 'g', -1, 64)
		}
		return string(PerGB) + ":" + strings.Join(parts, ",")
	case P95:
		return fmt.Sprintf("%s:price=%s,commit=%s", P95, strconv.FormatFloat(b.PricePerMbps, 'g', -1, 64),
			strconv.FormatFloat(b.CommitMbps, 'g', -1, 64))
	}
	return string(Free)
}

// monthStart is the first instant of t's calendar month, UTC.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// monthSlots is the number of 5-minute slots in the month starting at
// start (8640 for 30 days, 8928 for 31).
func monthSlots(start time.Time) int {
	return int(start.AddDate(0, 1, 0).Sub(start)/(24*time.Hour)) * slotsPerDay
}

// discardSlots is how many of n slots the P95 rule discards: floor(5 %).
func discardSlots(n int) int { return n * 5 / 100 }

// slotMbps is the average rate of a slot that carried bytes.
func slotMbps(bytes float64) float64 { return bytes * 8 / SlotDuration.Seconds() / 1e6 }

// gbPerMbpsMonth is how many GB 1 Mbit/s sustained over the month carries,
// to turn a price per Mbit/s-month into a price per GB.
func gbPerMbpsMonth(start time.Time) float64 {
	return start.AddDate(0, 1, 0).Sub(start).Seconds() * 1e6 / 8 / BytesPerGB
}

// percentile returns the rate left after discarding the top discard of
// the slots (rates desc-sorted; slots not in rates are 0).
func percentile(desc []float64, discard int) float64 {
	if discard < len(desc) {
		return desc[discard]
	}
	return 0
}

// descRates returns the rates of the slots that carried traffic, highest
// first.
func descRates(slots []float64) []float64 {
	rates := make([]float64, 0, len(slots))
	for _, b := range slots {
		if b > 0 {
			rates = append(rates, slotMbps(b))
		}
	}
	slices.SortFunc(rates, descCmp)
	return rates
}
