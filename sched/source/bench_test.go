package source

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/rewind-vod/rewind/sched/collect"
)

// benchCDNs x benchRegions keys: a large deployment's label space.
const benchCDNs, benchRegions = 8, 32

// BenchmarkInProcessRead: one Read (sample, difference, relay spread)
// over 256 keys.
func BenchmarkInProcessRead(b *testing.B) {
	var cdns []string
	for i := range benchCDNs {
		cdns = append(cdns, fmt.Sprintf("cdn-%d", i))
	}
	regions := map[netip.Prefix]string{}
	for i := range benchRegions {
		regions[netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)] = fmt.Sprintf("r%d", i)
	}
	c, err := collect.New(collect.Config{CDNs: cdns, Regions: regions}, quietLog(), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	rep, _ := collect.ParseCMCD(`br=3200,bs,d=4000,ot=v,sid="s1"`)
	for _, cdn := range cdns {
		for r := range benchRegions {
			c.Aggregator().AddCMCD(cdn, fmt.Sprintf("r%d", r), []collect.Report{rep})
		}
		c.AddRelay(cdn, collect.RelayDelta{Reconnects: 1})
	}
	clk := newFakeClock()
	p, err := NewInProcess(c.Aggregator(), InProcessConfig{Span: time.Minute, Interval: time.Second, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		clk.Advance(time.Second)
		if _, err := p.Read(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWindowsFromVector: turning a Query answer over 256 keys (every
// field) into windows.
func BenchmarkWindowsFromVector(b *testing.B) {
	var vec model.Vector
	for c := range benchCDNs {
		cdn := model.LabelValue(fmt.Sprintf("cdn-%d", c))
		for _, f := range fields {
			if f.relay {
				vec = append(vec, &model.Sample{Metric: model.Metric{"field": model.LabelValue(f.name), "cdn": cdn}, Value: 1})
				continue
			}
			for r := range benchRegions {
				vec = append(vec, &model.Sample{Metric: model.Metric{"field": model.LabelValue(f.name), "cdn": cdn,
					"region": model.LabelValue(fmt.Sprintf("r%d", r))}, Value: 1})
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := windowsFromVector(vec, nil, 20000); err != nil {
			b.Fatal(err)
		}
	}
}
