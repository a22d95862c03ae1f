package policy

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/sched/qos"
)

// benchEngine is 10 CDNs (half per-GB, half P95) in 20 regions, with a
// fortnight of P95 traffic metered so the percentile has work to do.
func benchEngine(b *testing.B) (*Engine, map[qos.Key]qos.Window, []string) {
	b.Helper()
	var cdns, regions []string
	bill := map[string]Billing{}
	for i := range 10 {
		cdn := fmt.Sprintf("cdn%d", i)
		cdns = append(cdns, cdn)
		if i%2 == 0 {
			bill[cdn] = tiers
		} else {
			bill[cdn] = Billing{Model: P95, PricePerMbps: 1.5, CommitMbps: 100}
		}
	}
	for i := range 20 {
		regions = append(regions, fmt.Sprintf("r%02d", i))
	}
	e, err := New(Config{CDNs: cdns, Regions: regions, Billing: bill}, quietLog(), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	start := monthStart(t0)
	for _, cdn := range cdns {
		for s := time.Duration(0); s < t0.Sub(start); s += SlotDuration {
			e.Meter().Add(cdn, start.Add(s), rateBytes(float64(100+int(s/SlotDuration)%300)))
		}
	}
	ws := map[qos.Key]qos.Window{}
	for i, cdn := range cdns {
		for _, r := range regions {
			w := healthy(0.5 + float64(i)/4)
			w.Stalls = float64(i * 10)
			ws[qos.Key{CDN: cdn, Region: r}] = w
		}
	}
	return e, ws, regions
}

func BenchmarkUpdate(b *testing.B) {
	e, ws, _ := benchEngine(b)
	at := t0
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(10 * time.Second)
		e.Update(fresh(at, ws), at)
	}
}

func BenchmarkOrder(b *testing.B) {
	e, ws, regions := benchEngine(b)
	e.Update(fresh(t0, ws), t0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if len(e.Order(regions[i%len(regions)])) == 0 {
				b.Fatal("empty order")
			}
			i++
		}
	})
}
