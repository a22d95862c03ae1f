package promtest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestStartScrapes: the private Prometheus scrapes both targets on the
// configured path, WaitScraped returns only once a value set before it
// is stored, and Stop makes its API refuse.
func TestStartScrapes(t *testing.T) {
	if testing.Short() {
		t.Skip("real Prometheus: not in -short")
	}
	var targets []string
	var counters []prometheus.Counter
	for range 2 {
		reg := prometheus.NewRegistry()
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "promtest_things_total", Help: "Things."})
		reg.MustRegister(c)
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		t.Cleanup(srv.Close)
		targets = append(targets, srv.Listener.Addr().String())
		counters = append(counters, c)
	}
	p := Start(t, Config{Job: "things", Targets: targets, MetricsPath: "/metrics"})
	counters[0].Add(3)
	counters[1].Add(4)
	p.WaitScraped(t, time.Now())
	ctx := context.Background()
	v, err := p.Value(ctx, `sum(promtest_things_total{job="things"})`)
	if err != nil {
		t.Fatal(err)
	}
	if v != 7 {
		t.Fatalf("sum of the scraped counters is %v, want 7", v)
	}
	p.Stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := p.Value(ctx, `up`); err == nil {
		t.Fatal("a stopped Prometheus answered")
	}
}
