package policy

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the policy's gauges and counters. Labels are bounded: CDNs
// and regions are the configured ones (plus Other), items and reasons
// fixed sets.
type metrics struct {
	score         *prometheus.GaugeVec
	priority      [2]*prometheus.GaugeVec
	failed        [2]*prometheus.GaugeVec
	switches      [2]*prometheus.CounterVec
	monthBytes    *prometheus.GaugeVec
	projectedBill *prometheus.GaugeVec
	marginal      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	sw := []string{"region", "from", "to", "reason"}
	m := &metrics{
		score: gauge("rewind_sched_score", "Score 0-100 of a CDN in a region, per item (composite, push_composite: the weighted means); absent while unknown.", "cdn", "region", "item"),
		priority: [2]*prometheus.GaugeVec{
			gauge("rewind_sched_priority", "Rank of a CDN in a region's viewer order, 1 = first, 0 = left out (disabled).", "cdn", "region"),
			gauge("rewind_sched_push_priority", "Rank of a CDN in a region's streamer (push) order, 1 = first, 0 = left out.", "cdn", "region"),
		},
		failed: [2]*prometheus.GaugeVec{
			gauge("rewind_sched_cdn_failed", "1 while a CDN is failed for viewers in a region.", "cdn", "region"),
			gauge("rewind_sched_push_cdn_failed", "1 while a CDN's push address is failed in a region.", "cdn", "region"),
		},
		switches: [2]*prometheus.CounterVec{
			prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rewind_sched_switches_total",
				Help: "Switches of the first CDN of a region's viewer order."}, sw),
			prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rewind_sched_push_switches_total",
				Help: "Switches of the first CDN of a region's streamer (push) order."}, sw),
		},
		monthBytes:    gauge("rewind_sched_month_bytes", "Bytes a CDN delivered this UTC month, as metered.", "cdn"),
		projectedBill: gauge("rewind_sched_projected_bill", "A CDN's projected bill for this month, in its price currency.", "cdn"),
		marginal:      gauge("rewind_sched_marginal_cost_per_gb", "What one more GB through a CDN costs now.", "cdn"),
	}
	for _, c := range []prometheus.Collector{m.score, m.priority[0], m.priority[1], m.failed[0], m.failed[1],
		m.switches[0], m.switches[1], m.monthBytes, m.projectedBill, m.marginal} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("policy: register metrics: %w", err)
		}
	}
	return m, nil
}
