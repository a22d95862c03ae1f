package policy

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

// FuzzParseBilling: any text either fails or gives a valid rule that
// prints back to itself.
func FuzzParseBilling(f *testing.F) {
	for _, s := range []string{"free", "per_gb:10000@0.085,50000@0.08,*@0.06", "p95:price=1.75,commit=100", "p95:price=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBilling(s)
		if err != nil {
			return
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("ParseBilling(%q) gave an invalid rule: %v", s, err)
		}
		back, err := ParseBilling(b.String())
		if err != nil || back.String() != b.String() {
			t.Fatalf("%q → %q → %q, %v", s, b.String(), back.String(), err)
		}
		for _, bytes := range []float64{0, 1e12, 1e15} {
			if c := b.TieredCost(bytes); math.IsNaN(c) || c < 0 {
				t.Fatalf("TieredCost(%v) = %v", bytes, c)
			}
		}
	})
}

// FuzzMeterState: a persisted state from the store either fails or gives
// a meter whose bills are sane and which marshals back to the same state.
func FuzzMeterState(f *testing.F) {
	m, _ := NewMeter(map[string]Billing{"a": tiers, "b": {Model: P95, PricePerMbps: 1, CommitMbps: 5}})
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	m.Add("a", nov.Add(time.Hour), 5e9)
	m.Add("b", nov.Add(2*time.Hour), 4e9)
	m.Add("b", nov.AddDate(0, 1, 0), 1e9)
	seed, _ := json.Marshal(m)
	f.Add(seed)
	f.Add([]byte(`{"version":1,"cdns":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _ := NewMeter(map[string]Billing{"a": tiers, "b": {Model: P95, PricePerMbps: 1, CommitMbps: 5}})
		if err := json.Unmarshal(data, m); err != nil {
			return
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, _ := NewMeter(map[string]Billing{"a": tiers, "b": {Model: P95, PricePerMbps: 1, CommitMbps: 5}})
		if err := json.Unmarshal(out, m2); err != nil {
			t.Fatalf("own state refused: %v\n%s", err, out)
		}
		if again, _ := json.Marshal(m2); string(again) != string(out) {
			t.Fatalf("state changed on a round trip:\n%s\n%s", out, again)
		}
		for _, cdn := range []string{"a", "b"} {
			c := m.cdns[cdn]
			for _, md := range []*monthData{c.prev, c.cur} {
				if md == nil {
					continue
				}
				b, err := m.Bill(cdn, md.start)
				if err != nil || math.IsNaN(b.Amount) || b.Amount < 0 {
					t.Fatalf("bill of %s %v: %+v %v", cdn, md.start, b, err)
				}
				_ = m.Marginal(cdn, md.start.Add(time.Hour))
				_ = m.Projected(cdn, md.start.Add(time.Hour))
			}
		}
	})
}
