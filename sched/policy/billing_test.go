package policy

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

var tiers = Billing{Model: PerGB, Tiers: []Tier{{10000, 0.085}, {50000, 0.08}, {0, 0.06}}}

func cents(v float64) int64 { return int64(math.Round(v * 100)) }

func TestTierBoundaries(t *testing.T) {
	const tb = 1000 * BytesPerGB
	for _, c := range []struct {
		bytes       float64
		bill, price float64
	}{
		{0, 0, 0.085},
		{1 * tb, 85, 0.085},
		{10*tb - 1, 850, 0.085}, // still in the first tier
		{10 * tb, 850, 0.08},    // the next GB falls in the second
		{30 * tb, 850 + 20000*0.08, 0.08},
		{50 * tb, 850 + 3200, 0.06},
		{60 * tb, 850 + 3200 + 600, 0.06},
	} {
		if got := tiers.TieredCost(c.bytes); cents(got) != cents(c.bill) {
			t.Errorf("TieredCost(%v TB) = %.4f, want %.2f", c.bytes/tb, got, c.bill)
		}
		if got := tiers.TierPrice(c.bytes); got != c.price {
			t.Errorf("TierPrice(%v TB) = %v, want %v", c.bytes/tb, got, c.price)
		}
	}
	m, err := NewMeter(map[string]Billing{"a": tiers})
	if err != nil {
		t.Fatal(err)
	}
	m.Add("a", t0, 10*tb-BytesPerGB)
	if got := m.Marginal("a", t0); got != 0.085 {
		t.Fatalf("marginal below 10 TB = %v", got)
	}
	m.Add("a", t0, BytesPerGB)
	if got := m.Marginal("a", t0); got != 0.08 {
		t.Fatalf("marginal at 10 TB = %v", got)
	}
	if b, _ := m.Bill("a", t0); cents(b.Amount) != 85000 {
		t.Fatalf("bill at 10 TB = %v", b.Amount)
	}
}

func TestParseBilling(t *testing.T) {
	for _, s := range []string{"free", "per_gb:10000@0.085,50000@0.08,*@0.06", "p95:price=1.75,commit=100", "per_gb:*@0.02"} {
		b, err := ParseBilling(s)
		if err != nil {
			t.Fatalf("ParseBilling(%q): %v", s, err)
		}
		back, err := ParseBilling(b.String())
		if err != nil || back.String() != b.String() {
			t.Fatalf("round trip of %q: %q, %v", s, b.String(), err)
		}
	}
	if b, _ := ParseBilling("p95:price=2"); b.PricePerMbps != 2 || b.CommitMbps != 0 {
		t.Fatalf("p95 without commit: %+v", b)
	}
	for _, s := range []string{"", "gold", "free:1", "per_gb:", "per_gb:10@x", "per_gb:10@0.1", "per_gb:*@0.1,10@0.2",
		"per_gb:20@0.1,10@0.2,*@0.1", "per_gb:0@1,*@1", "p95:", "p95:commit=1", "p95:price=-1", "p95:price=1,price=2",
		"p95:price=1,burst=3", "p95:price=NaN", "per_gb:*@Inf"} {
		if _, err := ParseBilling(s); err == nil || !strings.HasPrefix(err.Error(), "policy: billing") {
			t.Errorf("ParseBilling(%q) = %v, want an error", s, err)
		}
	}
}

// rateBytes is what a 5-minute slot at mbps carries.
func rateBytes(mbps float64) float64 { return mbps * 1e6 / 8 * 300 }

// p95Month fills a month for cdn: discard slots at 1000 Mbit/s (the top
// 5 %), one at 123.456 (the billable rate) and the rest below 100, some
// empty.
func p95Month(t *testing.T, m *Meter, cdn string, start time.Time) {
	t.Helper()
	n := monthSlots(start)
	top := discardSlots(n)
	step := n / top
	placed := 0
	for i := range n {
		at := start.Add(time.Duration(i)*SlotDuration + 150*time.Second)
		switch {
		case i%step == 0 && placed < top:
			m.Add(cdn, at, rateBytes(1000))
			placed++
		case i == 1:
			m.Add(cdn, at, rateBytes(123.456))
		default:
			m.Add(cdn, at, rateBytes(float64((i*7919)%1000)/10)) // 0 .. 99.9, 0 for some
		}
	}
	if placed != top {
		t.Fatalf("placed %d top slots, want %d", placed, top)
	}
}

func TestP95ExactBill(t *testing.T) {
	for _, c := range []struct {
		month         time.Time
		slots, top    int
		commit        float64
		rate, dollars float64
	}{
		{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 8640, 432, 100, 123.456, 216.05}, // 123.456 × 1.75 = 216.048
		{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 8640, 432, 150, 123.456, 262.50}, // the commit wins
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 8928, 446, 0, 123.456, 216.05},
	} {
		if monthSlots(c.month) != c.slots || discardSlots(c.slots) != c.top {
			t.Fatalf("%s: %d slots, %d discarded", c.month.Format("2006-01"), monthSlots(c.month), discardSlots(c.slots))
		}
		m, err := NewMeter(map[string]Billing{"a": {Model: P95, PricePerMbps: 1.75, CommitMbps: c.commit}})
		if err != nil {
			t.Fatal(err)
		}
		p95Month(t, m, "a", c.month)
		m.Add("a", c.month.AddDate(0, 1, 1), 1) // the next month has begun
		b, err := m.Bill("a", c.month.Add(40*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(b.RateMbps-c.rate) > 1e-9 || cents(b.Amount) != cents(c.dollars) {
			t.Errorf("%s commit %v: rate %v bill %.4f, want %v and %.2f", c.month.Format("2006-01"), c.commit, b.RateMbps, b.Amount, c.rate, c.dollars)
		}
		if !b.Month.Equal(c.month) {
			t.Errorf("bill month %v", b.Month)
		}
	}
}

func TestP95MarginalRisesOnceBurstBudgetUsed(t *testing.T) {
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	budget := discardSlots(monthSlots(dec)) // 446
	// now is 150 s into slot 1000, which is bursting at 300 Mbit/s.
	now := dec.Add(1000*SlotDuration + 150*time.Second)
	run := func(bursts int, commit float64) float64 {
		m, err := NewMeter(map[string]Billing{"a": {Model: P95, PricePerMbps: 2, CommitMbps: commit}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 1000 {
			r := 100.0
			if i < bursts {
				r = 300
			}
			m.Add("a", dec.Add(time.Duration(i)*SlotDuration), rateBytes(r))
		}
		m.Add("a", now.Add(-time.Second), rateBytes(300)/2) // half a slot so far
		return m.Marginal("a", now)
	}
	if got := run(budget-1, 0); got != 0 {
		t.Fatalf("with %d of %d burst slots used the margin should be free, got %v", budget-1, budget, got)
	}
	want := 2 / (31 * 86400 / 8000.0) // $2 per Mbit/s-month over the GB 1 Mbit/s carries in 31 days
	if got := run(budget, 0); math.Abs(got-want) > 1e-12 {
		t.Fatalf("with the burst budget used the margin = %v, want %v", got, want)
	}
	if got := run(budget, 500); got != 0 {
		t.Fatalf("traffic under the commit is free at the margin, got %v", got)
	}
	// A fresh month: nothing used, free.
	m, _ := NewMeter(map[string]Billing{"a": {Model: P95, PricePerMbps: 2}})
	if got := m.Marginal("a", now); got != 0 {
		t.Fatalf("empty month margin = %v", got)
	}
}

func TestProjected(t *testing.T) {
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	m, err := NewMeter(map[string]Billing{"g": tiers, "p": {Model: P95, PricePerMbps: 2, CommitMbps: 10}})
	if err != nil {
		t.Fatal(err)
	}
	half := nov.Add(15 * 24 * time.Hour)
	m.AddSpread("g", nov, half, 5000*BytesPerGB)
	pg := m.Projected("g", half)
	if math.Abs(pg.Bytes-10000*BytesPerGB) > 1 || cents(pg.Amount) != 85000 {
		t.Fatalf("per-GB projection: %+v", pg)
	}
	// P95 after 100 slots: 5 discarded, the 6th highest is billed.
	for i := range 100 {
		m.Add("p", nov.Add(time.Duration(i)*SlotDuration), rateBytes(float64(i+1)))
	}
	pp := m.Projected("p", nov.Add(99*SlotDuration+time.Minute))
	if math.Abs(pp.RateMbps-95) > 1e-9 || cents(pp.Amount) != 19000 {
		t.Fatalf("p95 projection: %+v", pp)
	}
}

func TestMeterKeepsTwoMonthsAndPersists(t *testing.T) {
	m, err := NewMeter(map[string]Billing{"a": tiers, "b": {Model: P95, PricePerMbps: 1}})
	if err != nil {
		t.Fatal(err)
	}
	oct := time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC)
	m.Add("a", oct, 100)
	m.Add("a", oct.AddDate(0, 1, 0), 200)
	m.Add("a", oct.AddDate(0, 2, 0), 300) // December: October is dropped
	m.Add("a", oct, 1)                    // too old: ignored
	m.Add("zzz", oct, 1)                  // not metered
	m.Add("b", oct.AddDate(0, 2, 0), 50)
	m.Add("a", oct.AddDate(0, 2, 0), math.NaN())
	m.Add("a", oct.AddDate(0, 2, 0), -5)
	if _, err := m.Bill("a", oct); err == nil {
		t.Fatal("October should be gone")
	}
	if got := m.MonthToDate("a", oct.AddDate(0, 1, 0)); got != 200 {
		t.Fatalf("November bytes = %v", got)
	}
	if got := m.MonthToDate("a", oct.AddDate(0, 2, 0)); got != 300 {
		t.Fatalf("December bytes = %v", got)
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := NewMeter(map[string]Billing{"a": tiers, "b": {Model: P95, PricePerMbps: 1}})
	if err := json.Unmarshal(data, m2); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{oct.AddDate(0, 1, 0), oct.AddDate(0, 2, 0)} {
		for _, cdn := range []string{"a", "b"} {
			b1, err1 := m.Bill(cdn, at)
			b2, err2 := m2.Bill(cdn, at)
			if b1 != b2 || (err1 == nil) != (err2 == nil) {
				t.Fatalf("%s %v after a round trip: %+v %v, want %+v %v", cdn, at, b2, err2, b1, err1)
			}
		}
	}
	for _, bad := range []string{
		`{"version":2,"cdns":{}}`,
		`{"version":1,"cdns":{"a":[{"month":"2026-11-02T00:00:00Z","slots":{}}]}}`,
		`{"version":1,"cdns":{"a":[{"month":"2026-11-01T00:00:00Z","slots":{"8640":1}}]}}`,
		`{"version":1,"cdns":{"a":[{"month":"2026-11-01T00:00:00Z","slots":{"1":-1}}]}}`,
		`{"version":1,"cdns":{"a":[{"month":"2026-07-01T00:00:00Z"},{"month":"2026-11-01T00:00:00Z"}]}}`,
		`{"version":1,"cdns":{"a":[{"month":"2026-09-01T00:00:00Z"},{"month":"2026-10-01T00:00:00Z"},{"month":"2026-11-01T00:00:00Z"}]}}`,
		`[`,
	} {
		if err := json.Unmarshal([]byte(bad), m2); err == nil {
			t.Errorf("Unmarshal(%s) should fail", bad)
		}
	}
	if got := m2.MonthToDate("a", oct.AddDate(0, 2, 0)); got != 300 {
		t.Fatalf("a failed Unmarshal changed the meter: %v", got)
	}
}

func TestAddSpread(t *testing.T) {
	m, _ := NewMeter(map[string]Billing{"a": {Model: P95, PricePerMbps: 1}})
	sep := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	m.AddSpread("a", sep, dec, 91e9) // 1e9 a day; only November is kept of it
	if got := m.MonthToDate("a", dec.Add(-time.Hour)); math.Abs(got-30e9) > 1 {
		t.Fatalf("November got %v, want 30e9", got)
	}
	// Spread inside one slot's worth of time, over two slots.
	m.AddSpread("a", dec.Add(4*time.Minute), dec.Add(6*time.Minute), 2e6)
	m.AddSpread("a", dec.Add(time.Hour), dec.Add(time.Hour), 7) // empty interval: at from
	b, _ := m.Bill("a", dec)
	if b.Bytes != 2e6+7 {
		t.Fatalf("December bytes %v", b.Bytes)
	}
	if m.cdns["a"].cur.slots[0] != 1e6 || m.cdns["a"].cur.slots[1] != 1e6 || m.cdns["a"].cur.slots[12] != 7 {
		t.Fatalf("slots %v", m.cdns["a"].cur.slots[:13])
	}
}
