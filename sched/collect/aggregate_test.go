package collect

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var testRegions = map[netip.Prefix]string{
	netip.MustParsePrefix("10.0.0.0/8"):    "eu",
	netip.MustParsePrefix("10.1.0.0/16"):   "us",
	netip.MustParsePrefix("2001:db8::/32"): "ap",
}

func testLabels(t *testing.T) *Labels {
	t.Helper()
	l, err := NewLabels([]string{"cdn-a", "cdn-b"}, testRegions)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLabels(t *testing.T) {
	l := testLabels(t)
	for in, want := range map[string]string{"cdn-a": "cdn-a", "cdn-b": "cdn-b", "cdn-c": Other, "": Other, "CDN-A": Other} {
		if got := l.CDN(in); got != want {
			t.Errorf("CDN(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"10.2.3.4":         "eu",
		"10.1.2.3":         "us", // longest prefix wins over 10/8
		"::ffff:10.1.2.3":  "us", // IPv4-mapped
		"2001:db8::1":      "ap",
		"192.0.2.1":        Other,
		"2001:db9::1":      Other,
		"11.0.0.1":         Other,
		"::ffff:192.0.2.1": Other,
	} {
		if got := l.Region(netip.MustParseAddr(in)); got != want {
			t.Errorf("Region(%s) = %q, want %q", in, got, want)
		}
	}
	if got := l.Regions(); len(got) != 3 || got[0] != "ap" || got[2] != "us" {
		t.Errorf("Regions() = %v", got)
	}
	bad := []struct {
		cdns    []string
		regions map[netip.Prefix]string
	}{
		{nil, nil},
		{[]string{"other"}, nil},
		{[]string{"a", "a"}, nil},
		{[]string{"a b"}, nil},
		{[]string{"a"}, map[netip.Prefix]string{netip.MustParsePrefix("10.1.2.3/8"): "eu"}},
		{[]string{"a"}, map[netip.Prefix]string{netip.MustParsePrefix("10.0.0.0/8"): "other"}},
	}
	for _, b := range bad {
		if _, err := NewLabels(b.cdns, b.regions); err == nil {
			t.Errorf("NewLabels(%v, %v): no error", b.cdns, b.regions)
		}
	}
}

func testAggregator(t *testing.T, maxSessions int) (*Aggregator, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return newAggregator(m, maxSessions, 100), reg
}

// metricValue reads one series from reg: a counter's value, or a
// histogram's sample count.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue series
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func findSnapshot(t *testing.T, a *Aggregator, cdn, region string) Snapshot {
	t.Helper()
	for _, s := range a.Snapshot() {
		if s.CDN == cdn && s.Region == region {
			return s
		}
	}
	t.Fatalf("no snapshot for %s/%s in %+v", cdn, region, a.Snapshot())
	return Snapshot{}
}

func TestAggregateBeacon(t *testing.T) {
	a, reg := testAggregator(t, 10)
	l := testLabels(t)
	b, err := ParseBeacon([]byte(goodBeacon))
	if err != nil {
		t.Fatal(err)
	}
	a.AddBeacon(l, "eu", b)
	a.AddBeacon(l, "eu", b)
	unknown := *b
	unknown.CDN = "cdn-zzz"
	unknown.Push = nil
	a.AddBeacon(l, Other, &unknown)

	s := findSnapshot(t, a, "cdn-a", "eu")
	if s.Stalls != 2 || s.StalledSeconds != 2.4 || s.WatchedSeconds != 60 || s.Errors != 2 || s.DroppedFrames != 24 {
		t.Fatalf("counters: %+v", s)
	}
	if s.FirstFrame.Count != 2 || math.Abs(s.FirstFrame.Mean()-0.85) > 1e-9 || s.Latency.Count != 2 || s.Latency.Mean() != 3.4 {
		t.Fatalf("histograms: %+v %+v", s.FirstFrame, s.Latency)
	}
	// 0.85 s falls in the (0.75, 1] bucket.
	if s.FirstFrame.Counts[4] != 2 {
		t.Fatalf("first frame buckets %v", s.FirstFrame.Counts)
	}
	if got := s.StallsPerMinute(); got != 2 {
		t.Fatalf("StallsPerMinute = %v, want 2", got)
	}
	if got := s.StalledRatio(); math.Abs(got-0.04) > 1e-9 {
		t.Fatalf("StalledRatio = %v, want 0.04", got)
	}
	p := findSnapshot(t, a, "cdn-b", "eu")
	if p.PushPublishErrors != 2 || p.PushDroppedFrames != 60 || p.PushFrames != 18000 || p.Stalls != 0 {
		t.Fatalf("push: %+v", p)
	}
	o := findSnapshot(t, a, Other, Other)
	if o.Stalls != 1 || o.PushFrames != 0 {
		t.Fatalf("other: %+v", o)
	}
	if n := len(a.Snapshot()); n != 3 {
		t.Fatalf("%d snapshots, want 3", n)
	}

	ce := map[string]string{"cdn": "cdn-a", "region": "eu"}
	for name, want := range map[string]float64{
		"rewind_qos_stalls_total":          2,
		"rewind_qos_stalled_seconds_total": 2.4,
		"rewind_qos_watched_seconds_total": 60,
		"rewind_qos_errors_total":          2,
		"rewind_qos_dropped_frames_total":  24,
		"rewind_qos_first_frame_seconds":   2,
		"rewind_qos_latency_seconds":       2,
	} {
		if got := metricValue(t, reg, name, ce); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s{cdn-a,eu} = %v, want %v", name, got, want)
		}
	}
	cb := map[string]string{"cdn": "cdn-b", "region": "eu"}
	if got := metricValue(t, reg, "rewind_qos_push_dropped_frames_total", cb); got != 60 {
		t.Errorf("push dropped frames = %v", got)
	}
}

func TestAggregateCMCD(t *testing.T) {
	a, reg := testAggregator(t, 10)
	parse := func(s string) Report {
		r, err := ParseCMCD(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// v1 request data: two video segments of 4 s, one after a starvation;
	// an audio segment adds no watched time.
	a.AddCMCD("cdn-a", "us", []Report{
		parse(`br=3200,d=4004,ot=v,sid="s1",su`),
		parse(`br=3200,bs,d=4000,ot=v,sid="s1"`),
		parse(`br=128,d=4000,ot=a,sid="s1"`),
	})
	// v2 event reports: absolute counters become deltas per session.
	a.AddCMCD("cdn-a", "us", []Report{
		parse(`e=ps,sta=p,msd=1250,ltc=3400,bsa=1,bsd=500,dfa=10,sid="s2",ts=1764638400000,v=2`),
		parse(`e=ps,sta=r,msd=1250,ltc=3600,bsa=3,bsd=1700,dfa=15,sid="s2",ts=1764638430000,v=2`),
		parse(`e=e,ec=("NET-404" "MEDIA_ERR"),sid="s2",ts=1764638431000,v=2`),
		parse(`e=ps,bsa=1,dfa=2,sid="s3",ts=1764638431000,v=2`),
	})
	s := findSnapshot(t, a, "cdn-a", "us")
	// stalls: 1 (v1 bs) + 3 (s2 bsa) + 1 (s3 bsa)
	if s.Stalls != 5 || s.StalledSeconds != 1.7 || s.DroppedFrames != 17 || s.Errors != 2 {
		t.Fatalf("counters: %+v", s)
	}
	// watched: 4.004 + 4.0 (v1) + 30 + 1 (s2 ts gaps)
	if math.Abs(s.WatchedSeconds-39.004) > 1e-9 {
		t.Fatalf("watched %v", s.WatchedSeconds)
	}
	if s.FirstFrame.Count != 1 || s.FirstFrame.Sum != 1.25 || s.Latency.Count != 2 || math.Abs(s.Latency.Sum-7) > 1e-9 {
		t.Fatalf("histograms: %+v %+v", s.FirstFrame, s.Latency)
	}
	if got := metricValue(t, reg, "rewind_qos_stalls_total", map[string]string{"cdn": "cdn-a", "region": "us"}); got != 5 {
		t.Fatalf("stalls metric %v", got)
	}

	// A counter that goes down (player restart) adds nothing.
	a.AddCMCD("cdn-a", "us", []Report{parse(`bsa=0,sid="s2",v=2`)})
	if s := findSnapshot(t, a, "cdn-a", "us"); s.Stalls != 5 {
		t.Fatalf("stalls after decrease: %d", s.Stalls)
	}
}

func TestSessionTableBounded(t *testing.T) {
	a, _ := testAggregator(t, 4)
	for i := range 100 {
		r, err := ParseCMCD(`bsa=1,sid="s` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `",v=2`)
		if err != nil {
			t.Fatal(err)
		}
		a.AddCMCD("cdn-a", "eu", []Report{r})
	}
	if n := a.sessions.len(); n != 4 {
		t.Fatalf("%d sessions kept, want 4", n)
	}
	if s := findSnapshot(t, a, "cdn-a", "eu"); s.Stalls != 100 {
		t.Fatalf("stalls %d, want 100", s.Stalls)
	}
}

func TestHistogramBuckets(t *testing.T) {
	h := newHistogram([]float64{1, 2})
	for _, d := range []time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 3 * time.Second} {
		h.observe(d.Seconds())
	}
	if h.Counts[0] != 2 || h.Counts[1] != 1 || h.Counts[2] != 1 || h.Count != 4 || h.Sum != 6 {
		t.Fatalf("%+v", h)
	}
}
