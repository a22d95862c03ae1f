package source

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/rewind-vod/rewind/sched/qos"
)

// TestQueryParses: the combined query is valid PromQL with every field,
// takes the difference of two samples rather than an extrapolating
// increase() or rate(), and puts the selector on every metric.
func TestQueryParses(t *testing.T) {
	q := Query(90*time.Second, `job="rewind-collect"`)
	expr, err := parser.ParseExpr(q)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	if expr.Type() != parser.ValueTypeVector {
		t.Fatalf("query type %s, want vector", expr.Type())
	}
	var selectors int
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.Call:
			if n.Func.Name != "label_replace" {
				t.Errorf("query calls %s", n.Func.Name)
			}
		case *parser.VectorSelector:
			selectors++
			if !strings.Contains(n.String(), `job="rewind-collect"`) {
				t.Errorf("selector %s lacks the job matcher", n)
			}
			if n.OriginalOffset != 0 && n.OriginalOffset != 90*time.Second {
				t.Errorf("selector %s: offset %v", n, n.OriginalOffset)
			}
		}
		return nil
	})
	if selectors != 3*len(fields) {
		t.Fatalf("%d selectors, want 3 per field (%d)", selectors, 3*len(fields))
	}
	for _, f := range fields {
		if !strings.Contains(q, `"field", "`+f.name+`"`) {
			t.Errorf("no field %s in the query", f.name)
		}
	}
	if _, err := parser.ParseExpr(Query(5*time.Minute, "")); err != nil {
		t.Fatalf("no selector: %v", err)
	}
}

// TestWindowsFromVector: series land in their field, relay totals are
// copied into the CDN's regions, and what is not ours is skipped.
func TestWindowsFromVector(t *testing.T) {
	s := func(v float64, kv ...string) *model.Sample {
		m := model.Metric{}
		for i := 0; i < len(kv); i += 2 {
			m[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
		}
		return &model.Sample{Metric: m, Value: model.SampleValue(v)}
	}
	vec := model.Vector{
		s(3, "field", "stalls", "cdn", "cdn-a", "region", "eu"),
		s(1.5, "field", "first_frame_sum", "cdn", "cdn-a", "region", "eu"),
		s(2, "field", "sessions", "cdn", "cdn-a", "region", "us"),
		s(4, "field", "relay_reconnects", "cdn", "cdn-a"),
		s(5, "field", "relay_dropped_frames", "cdn", "cdn-z"),
		s(9, "field", "nonsense", "cdn", "cdn-a", "region", "eu"),
		s(9, "field", "stalls", "region", "eu"),
		s(9, "field", "stalls", "cdn", "cdn-a"),
		s(9, "field", "stalls", "cdn", "bad cdn", "region", "eu"),
		s(math.NaN(), "field", "errors", "cdn", "cdn-a", "region", "eu"),
		s(math.Inf(1), "field", "errors", "cdn", "cdn-a", "region", "eu"),
		s(-1, "field", "errors", "cdn", "cdn-a", "region", "eu"),
	}
	ws, err := windowsFromVector(vec, []string{"eu", "us", "ap"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	assertWindows(t, "vector", ws, map[qos.Key]qos.Window{
		{CDN: "cdn-a", Region: "eu"}: {Stalls: 3, FirstFrameSum: 1.5, RelayReconnects: 4},
		{CDN: "cdn-a", Region: "us"}: {Sessions: 2, RelayReconnects: 4},
		{CDN: "cdn-z", Region: "eu"}: {RelayDroppedFrames: 5},
		{CDN: "cdn-z", Region: "us"}: {RelayDroppedFrames: 5},
		{CDN: "cdn-z", Region: "ap"}: {RelayDroppedFrames: 5},
	})
	if _, err := windowsFromVector(vec, nil, 5); err == nil {
		t.Fatal("12 series with a limit of 5: no error")
	}
	// No configured regions: a relay-only CDN gets the snapshot's regions,
	// and with none at all, "other".
	ws, _ = windowsFromVector(model.Vector{s(1, "field", "relay_reconnects", "cdn", "cdn-a")}, nil, 10)
	assertWindows(t, "relay only", ws, map[qos.Key]qos.Window{{CDN: "cdn-a", Region: "other"}: {RelayReconnects: 1}})
}

func TestPrometheusConfig(t *testing.T) {
	for _, cfg := range []PrometheusConfig{
		{},
		{URL: "localhost:9090"},
		{URL: "ftp://h/"},
		{URL: "http://h:9090", Span: -time.Second},
		{URL: "http://h:9090", Span: 500 * time.Millisecond},
		{URL: "http://h:9090", Span: time.Second + time.Microsecond},
		{URL: "http://h:9090", Timeout: -time.Second},
		{URL: "http://h:9090", Selector: `{job="x"}`},
		{URL: "http://h:9090", MaxSeries: -1},
		{URL: "http://h:9090", Regions: []string{"eu", "eu"}},
	} {
		if _, err := NewPrometheus(cfg, nil, prometheus.NewRegistry()); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	p, err := NewPrometheus(PrometheusConfig{URL: "http://h:9090"}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultPrometheusConfig()
	if p.cfg.Span != def.Span || p.cfg.Timeout != def.Timeout || p.cfg.MaxSeries != def.MaxSeries || p.Span() != def.Span {
		t.Errorf("zero config got %+v, want the defaults", p.cfg)
	}
}

// FuzzWindowsFromVector: whatever vector a Prometheus answers, the
// windows hold only finite, non-negative values under valid keys, within
// the series bound; never a panic.
func FuzzWindowsFromVector(f *testing.F) {
	f.Add([]byte(`[{"metric":{"field":"stalls","cdn":"cdn-a","region":"eu"},"value":[1764644400,"3"]}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var vec model.Vector
		if json.Unmarshal(body, &vec) != nil {
			return
		}
		ws, err := windowsFromVector(vec, nil, 64)
		if err != nil {
			return // over the bound
		}
		if len(ws) > 64 {
			t.Fatalf("%d windows from %d series, limit 64", len(ws), len(vec))
		}
		for k, w := range ws {
			if !validLabel(k.CDN) || !validLabel(k.Region) {
				t.Fatalf("bad key %q", k)
			}
			for _, fl := range allFields {
				if v := fl.get(&w); !finite(v) || v < 0 {
					t.Fatalf("%v %s = %v", k, fl.name, v)
				}
			}
		}
	})
}
