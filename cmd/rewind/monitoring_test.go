package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// monitoringDir holds the Prometheus alerting rules and the Grafana
// dashboard that ship with rewind.
const monitoringDir = "../../infra/monitoring"

// requiredAlerts are the alerts infra/monitoring/alerts.yml must define,
// by kind: an operator relies on each of them.
var requiredAlerts = []struct{ kind, alert string }{
	{"spool growing", "RewindSpoolGrowing"},
	{"upload failing", "RewindUploadFailing"},
	{"relay down", "RewindRelayDown"},
	{"auth-deny spike", "RewindAuthDeniedSpike"},
	{"no segments from a live stream", "RewindStreamNoSegments"},
	{"no segments on a node with publishers", "RewindNoSegmentsRecorded"},
	{"clip jobs failing", "RewindClipJobsFailing"},
	{"webhooks failing", "RewindWebhookFailing"},
}

// severities are the values an alert's severity label may take (what
// Alertmanager routes on).
var severities = map[string]bool{"critical": true, "warning": true, "info": true}

// prometheusSynthetic are series Prometheus itself writes for every scrape
// target; no exporter exports them, any rule may use them.
var prometheusSynthetic = map[string]bool{
	"up":                                    true,
	"scrape_duration_seconds":               true,
	"scrape_samples_scraped":                true,
	"scrape_samples_post_metric_relabeling": true,
	"scrape_series_added":                   true,
}

// TestMonitoringUsesExportedMetrics holds infra/monitoring to the metrics a
// dev node (origin, recorder, live players, replay API, caches, Go and
// process collectors) actually registers: every metric name an alert or a
// dashboard query names must be exported, or the alert never fires and the
// panel stays empty without anyone noticing.
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	// With the scheduler on (a probe too), once with its in-process input
	// and once with Prometheus: each registers its reader's metrics.
	sched := []string{"--cdns", "cdn-a;hls=http://a.example;probe=http://a.example/ok cdn-b;hls=http://b.example",
		"--regions", "eu=10.1.0.0/16", "--steer-public-url", "http://sched.example"}
	exported := exportedByDevNode(t, sched...)
	exported.merge(exportedByDevNode(t, append(sched, "--prometheus-url", "http://127.0.0.1:1")...))
	if len(exported.names) == 0 {
		t.Fatal("the dev node exports no metrics at all")
	}

	// Rules file: parsed and validated the way Prometheus loads it.
	rulesPath := filepath.Join(monitoringDir, "alerts.yml")
	groups, errs := rulefmt.ParseFile(rulesPath)
	if len(errs) > 0 {
		t.Fatalf("%s does not load as a Prometheus rules file:\n%s", rulesPath, joinErrors(errs))
	}
	recorded := map[string]bool{} // series the rules file itself records
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record.Value != "" {
				recorded[r.Record.Value] = true
			}
		}
	}
	// labelsOf returns the labels a series of that name carries once
	// scraped; ok is false for names not exported (reported as missing)
	// and for recorded series, whose labels the test does not work out.
	labelsOf := func(name string) (labels map[string]bool, ok bool) {
		switch {
		case recorded[name]:
			return nil, false
		case prometheusSynthetic[name]:
			return withTargetLabels(nil), true
		}
		return exported.labelsOf(name)
	}
	known := func(name string) bool {
		return exported.has(name) || recorded[name] || prometheusSynthetic[name]
	}

	alertRefs := newRefs()
	alerts := map[string]bool{}
	nAlerts := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			where := "record " + r.Record.Value
			if a := r.Alert.Value; a != "" {
				nAlerts++
				where = "alert " + a
				alerts[a] = true
				if s := r.Labels["severity"]; !severities[s] {
					t.Errorf("%s: %s: severity label %q is not one of critical, warning, info", rulesPath, where, s)
				}
				for _, k := range []string{"summary", "description"} {
					if strings.TrimSpace(r.Annotations[k]) == "" {
						t.Errorf("%s: %s: no %s annotation", rulesPath, where, k)
					}
				}
				if r.For <= 0 {
					t.Errorf("%s: %s: no for: (it would fire on a single evaluation)", rulesPath, where)
				}
			}
			used, err := inspectExpr(r.Expr.Value)
			if err != nil {
				t.Errorf("%s: %s: %v", rulesPath, where, err)
			}
			alertRefs.add(used, where)
		}
	}
	if nAlerts == 0 {
		t.Errorf("%s defines no alerts", rulesPath)
	}
	for _, req := range requiredAlerts {
		if !alerts[req.alert] {
			t.Errorf("%s: no %s alert (%s)", rulesPath, req.kind, req.alert)
		}
	}
	alertRefs.check(t, rulesPath, known, labelsOf)

	// Dashboard: every panel target and every query variable.
	dashPath := filepath.Join(monitoringDir, "dashboard.json")
	queries, err := dashboardQueries(dashPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) == 0 {
		t.Fatalf("%s has no Prometheus queries", dashPath)
	}
	dashRefs := newRefs()
	for _, q := range queries {
		used, err := inspectExpr(substituteGrafanaVars(q.expr))
		if err != nil {
			t.Errorf("%s: %s: %q: %v", dashPath, q.where, q.expr, err)
		}
		dashRefs.add(used, q.where)
	}
	dashRefs.check(t, dashPath, known, labelsOf)
}

// refs collects, for one file, where each metric name and each label of
// a metric is used.
type refs struct {
	names  map[string][]string // metric name -> where
	labels map[labelUse][]string
}

func newRefs() *refs {
	return &refs{names: map[string][]string{}, labels: map[labelUse][]string{}}
}

func appendWhere(l []string, where string) []string {
	if len(l) == 0 || l[len(l)-1] != where {
		l = append(l, where)
	}
	return l
}

func (r *refs) add(u exprUses, where string) {
	for _, n := range u.names {
		r.names[n] = appendWhere(r.names[n], where)
	}
	for _, l := range u.labels {
		r.labels[l] = appendWhere(r.labels[l], where)
	}
}

// check reports, in one error per file, every referenced metric name that
// is not exported, and every label matched on or grouped by that none of
// the metrics concerned has.
func (r *refs) check(t *testing.T, file string, known func(string) bool, labelsOf func(string) (map[string]bool, bool)) {
	t.Helper()
	var missing []string
	for name, where := range r.names {
		if !known(name) {
			missing = append(missing, fmt.Sprintf("  %s  (%s)", name, strings.Join(where, "; ")))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("%s references %d metric(s) the dev node does not export:\n%s",
			file, len(missing), strings.Join(missing, "\n"))
	}
	var badLabels []string
uses:
	for use, where := range r.labels {
		metrics := strings.Split(use.metrics, ",")
		for _, m := range metrics {
			labels, ok := labelsOf(m)
			if !ok {
				continue uses // missing (reported above) or of unknown labels
			}
			if labels[use.label] {
				continue uses
			}
		}
		badLabels = append(badLabels, fmt.Sprintf("  %s: no label %q (%s %s; %s)",
			use.metrics, use.label, use.how, use.label, strings.Join(where, "; ")))
	}
	if len(badLabels) > 0 {
		sort.Strings(badLabels)
		t.Errorf("%s uses %d label(s) the metrics do not have:\n%s",
			file, len(badLabels), strings.Join(badLabels, "\n"))
	}
}

// exportedMetrics are the metric names a node exports, and which of them
// are histograms or summaries (whose samples carry suffixed names).
type exportedMetrics struct {
	names  map[string]bool
	kinds  map[string]dto.MetricType
	labels map[string]map[string]bool // the metric's own labels (const and variable)
}

// merge adds what o exports.
func (e exportedMetrics) merge(o exportedMetrics) {
	for n := range o.names {
		e.names[n] = true
	}
	for n, k := range o.kinds {
		e.kinds[n] = k
	}
	for n, ls := range o.labels {
		if e.labels[n] == nil {
			e.labels[n] = map[string]bool{}
		}
		for l := range ls {
			e.labels[n][l] = true
		}
	}
}

// targetLabels are the labels Prometheus adds to every series it scrapes.
var targetLabels = []string{"job", "instance"}

func withTargetLabels(labels map[string]bool) map[string]bool {
	out := map[string]bool{}
	for l := range labels {
		out[l] = true
	}
	for _, l := range targetLabels {
		out[l] = true
	}
	return out
}

// labelsOf returns the labels of the series of a sample name, target
// labels included; ok is false if the name is not exported.
func (e exportedMetrics) labelsOf(name string) (labels map[string]bool, ok bool) {
	if !e.has(name) {
		return nil, false
	}
	if e.names[name] {
		labels = withTargetLabels(e.labels[name])
		if e.kinds[name] == dto.MetricType_SUMMARY {
			labels["quantile"] = true
		}
		return labels, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && e.names[base] {
			labels = withTargetLabels(e.labels[base])
			if suffix == "_bucket" {
				labels["le"] = true
			}
			return labels, true
		}
	}
	return nil, false
}

// has reports whether name is a sample name the node exposes: a metric
// name, or <histogram>_bucket, <histogram or summary>_sum / _count.
func (e exportedMetrics) has(name string) bool {
	if e.names[name] {
		return true
	}
	for suffix, kinds := range map[string][]dto.MetricType{
		"_bucket": {dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM},
		"_sum":    {dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM, dto.MetricType_SUMMARY},
		"_count":  {dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM, dto.MetricType_SUMMARY},
	} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok || !e.names[base] {
			continue
		}
		kind, ok := e.kinds[base]
		for _, k := range kinds {
			if ok && kind == k {
				return true
			}
		}
	}
	return false
}

// recordingRegistry is a registry that remembers every collector
// registered on it, so that the test can Describe them: a vector with no
// children yet is in no Gather output, but its Desc names it all the same.
type recordingRegistry struct {
	*prometheus.Registry
	mu         sync.Mutex
	collectors []prometheus.Collector
}

func (r *recordingRegistry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
	return nil
}

func (r *recordingRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *recordingRegistry) registered() []prometheus.Collector {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]prometheus.Collector(nil), r.collectors...)
}

// exportedByDevNode builds a dev node as `rewind dev` does (same flags,
// same setup, same buildNode) and returns every metric name it exports.
func exportedByDevNode(t *testing.T, extra ...string) exportedMetrics {
	t.Helper()
	fs := flag.NewFlagSet("rewind dev", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f, _ := newNodeSettings(fs, "dev")
	err := fs.Parse(append([]string{
		"--jobs", "file://" + t.TempDir(),
		"--spool", t.TempDir(),
		"--store", "file://" + t.TempDir(),
		"--rtmp-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0",
		"--node", "monitoring-test",
	}, extra...))
	if err != nil {
		t.Fatal(err)
	}
	// setup makes its logger the default one: put the test's back after.
	defaultLog := slog.Default()
	t.Cleanup(func() { slog.SetDefault(defaultLog) })
	// setup's registry already holds the Go and process collectors, exactly
	// as the binary's does; they are read back through Gather below.
	log, st, base, err := f.setup(context.Background(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	reg := &recordingRegistry{Registry: base}
	n, err := buildNode("dev", f, log, st, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()

	e := exportedMetrics{names: map[string]bool{}, kinds: map[string]dto.MetricType{}, labels: map[string]map[string]bool{}}
	addLabel := func(name, label string) {
		if e.labels[name] == nil {
			e.labels[name] = map[string]bool{}
		}
		e.labels[name][label] = true
	}
	for _, c := range reg.registered() {
		descs := make(chan *prometheus.Desc)
		go func() {
			c.Describe(descs)
			close(descs)
		}()
		var names []string
		for d := range descs {
			name, labels, err := parseDesc(d)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
			e.names[name] = true
			for _, l := range labels {
				addLabel(name, l)
			}
		}
		// A vector without children collects nothing: its kind comes from
		// its type.
		switch c.(type) {
		case *prometheus.HistogramVec:
			for _, name := range names {
				e.kinds[name] = dto.MetricType_HISTOGRAM
			}
		case *prometheus.SummaryVec:
			for _, name := range names {
				e.kinds[name] = dto.MetricType_SUMMARY
			}
		}
		// Anything else that collects (plain histograms, summaries, custom
		// collectors) tells its kind through the metrics it writes.
		metrics := make(chan prometheus.Metric)
		go func() {
			c.Collect(metrics)
			close(metrics)
		}()
		for m := range metrics {
			name, _, err := parseDesc(m.Desc())
			if err != nil {
				t.Fatal(err)
			}
			var pb dto.Metric
			if err := m.Write(&pb); err != nil {
				continue // the registry's Gather reports it; not this test's business
			}
			switch {
			case pb.Histogram != nil:
				e.kinds[name] = dto.MetricType_HISTOGRAM
			case pb.Summary != nil:
				e.kinds[name] = dto.MetricType_SUMMARY
			}
		}
	}
	// Gather adds what was registered before the node was built (the Go
	// and process collectors from setup) and checks the whole registry is
	// consistent, as a scrape of /metrics would.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering the dev node's metrics: %v", err)
	}
	for _, mf := range mfs {
		e.names[mf.GetName()] = true
		if _, ok := e.kinds[mf.GetName()]; !ok {
			e.kinds[mf.GetName()] = mf.GetType()
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				addLabel(mf.GetName(), lp.GetName())
			}
		}
	}
	return e
}

// descRE takes a Desc's String() apart, the only place a Desc shows its
// name and labels:
// Desc{fqName: "name", help: "...", constLabels: {k="v",...}, variableLabels: {a,c(b),...}}.
var (
	descRE       = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: "(?:[^"\\]|\\.)*", constLabels: \{(.*)\}, variableLabels: \{([^{}]*)\}\}$`)
	constLabelRE = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)="(?:[^"\\]|\\.)*"`)
)

// parseDesc returns a Desc's metric name and label names.
func parseDesc(d *prometheus.Desc) (name string, labels []string, err error) {
	s := d.String()
	m := descRE.FindStringSubmatch(s)
	if m == nil {
		return "", nil, fmt.Errorf("cannot read the metric name from %s", s)
	}
	if name, err = strconv.Unquote(m[1]); err != nil {
		return "", nil, fmt.Errorf("fqName in %s: %w", s, err)
	}
	if name == "" {
		return "", nil, fmt.Errorf("empty fqName in %s", s)
	}
	for _, c := range constLabelRE.FindAllStringSubmatch(m[2], -1) {
		labels = append(labels, c[1])
	}
	for _, v := range strings.Split(m[3], ",") {
		v = strings.TrimSuffix(strings.TrimPrefix(v, "c("), ")") // c(name): a constrained label
		if v != "" {
			labels = append(labels, v)
		}
	}
	return name, labels, nil
}

// exprUses is what a PromQL expression needs from the metrics: their
// names, and the labels it matches on or groups by.
type exprUses struct {
	names  []string
	labels []labelUse
}

// labelUse is a label an expression expects on at least one of metrics
// (comma-separated: a map key).
type labelUse struct {
	label, metrics, how string
}

// inspectExpr parses a PromQL expression and returns the metric name of
// every vector selector in it, the labels each selector matches on, and
// the labels each aggregation groups by (which must come from one of the
// selectors it aggregates). A selector whose name is not fixed
// ({__name__=~"..."}) cannot be checked and is an error.
func inspectExpr(expr string) (exprUses, error) {
	var u exprUses
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return u, err
	}
	var errs []error
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			name := selectorName(n)
			if name == "" {
				errs = append(errs, fmt.Errorf("selector %s has no fixed metric name, so it cannot be checked", n))
				return nil
			}
			u.names = append(u.names, name)
			for _, m := range n.LabelMatchers {
				if m.Name != model.MetricNameLabel {
					u.labels = append(u.labels, labelUse{label: m.Name, metrics: name, how: "matches on"})
				}
			}
		case *parser.AggregateExpr:
			if n.Without || len(n.Grouping) == 0 {
				return nil
			}
			var inner []string
			makesLabels := false
			parser.Inspect(n.Expr, func(node parser.Node, _ []parser.Node) error {
				switch c := node.(type) {
				case *parser.VectorSelector:
					if name := selectorName(c); name != "" {
						inner = append(inner, name)
					}
				case *parser.Call:
					if c.Func.Name == "label_replace" || c.Func.Name == "label_join" {
						makesLabels = true
					}
				case *parser.AggregateExpr:
					if c.Op == parser.COUNT_VALUES {
						makesLabels = true
					}
				}
				return nil
			})
			if makesLabels || len(inner) == 0 {
				return nil // labels made up inside: not checkable this way
			}
			sort.Strings(inner)
			inner = slices.Compact(inner)
			for _, l := range n.Grouping {
				u.labels = append(u.labels, labelUse{label: l, metrics: strings.Join(inner, ","), how: n.Op.String() + " by"})
			}
		}
		return nil
	})
	return u, errors.Join(errs...)
}

// selectorName is the metric name a selector selects, "" if not fixed.
func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// dashboardQuery is one PromQL query of the dashboard and where it is.
type dashboardQuery struct {
	where, expr string
}

// dashboardQueries returns the expr of every panel target (rows and
// collapsed rows included) and the PromQL inside every query variable.
func dashboardQueries(path string) ([]dashboardQuery, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []dashboardQuery
	var walkPanels func(panels []any) error
	walkPanels = func(panels []any) error {
		for i, p := range panels {
			panel, ok := p.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: panel %d is not an object", path, i)
			}
			title, _ := panel["title"].(string)
			targets, _ := panel["targets"].([]any)
			for j, tg := range targets {
				target, ok := tg.(map[string]any)
				if !ok {
					return fmt.Errorf("%s: panel %q: target %d is not an object", path, title, j)
				}
				expr, _ := target["expr"].(string)
				if strings.TrimSpace(expr) == "" {
					return fmt.Errorf("%s: panel %q: target %d has no expr", path, title, j)
				}
				refID, _ := target["refId"].(string)
				out = append(out, dashboardQuery{where: fmt.Sprintf("panel %q %s", title, refID), expr: expr})
			}
			if sub, ok := panel["panels"].([]any); ok {
				if err := walkPanels(sub); err != nil {
					return err
				}
			}
		}
		return nil
	}
	panels, _ := dash["panels"].([]any)
	if err := walkPanels(panels); err != nil {
		return nil, err
	}

	templating, _ := dash["templating"].(map[string]any)
	vars, _ := templating["list"].([]any)
	for _, v := range vars {
		variable, _ := v.(map[string]any)
		if variable["type"] != "query" {
			continue
		}
		name, _ := variable["name"].(string)
		q := variable["query"]
		if obj, ok := q.(map[string]any); ok { // newer Grafana: {"query": "...", "refId": ...}
			q = obj["query"]
		}
		s, _ := q.(string)
		expr, ok := variablePromQL(s)
		if !ok {
			continue
		}
		out = append(out, dashboardQuery{where: "variable $" + name, expr: expr})
	}
	return out, nil
}

var (
	labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(.+)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)
	queryResultRE = regexp.MustCompile(`^\s*query_result\(\s*(.+)\s*\)\s*$`)
)

// variablePromQL turns a Grafana Prometheus variable query into PromQL:
// label_values(selector, label) becomes count by (label) (selector), so
// that the label is checked too; query_result(expr) is expr. Queries that
// name no metric (label_values(label), label_names(), metrics(re)) have
// none.
func variablePromQL(q string) (string, bool) {
	if m := labelValuesRE.FindStringSubmatch(q); m != nil {
		return fmt.Sprintf("count by (%s) (%s)", m[2], m[1]), true
	}
	if m := queryResultRE.FindStringSubmatch(q); m != nil {
		return m[1], true
	}
	return "", false
}

// grafanaVarRE matches a Grafana template variable: $name, ${name},
// ${name:format} or [[name]].
var grafanaVarRE = regexp.MustCompile(`^(?:\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]|\$([A-Za-z0-9_]+))`)

// substituteGrafanaVars makes a dashboard query parseable PromQL: interval
// variables become a duration, millisecond/second variables a number, and
// any other variable a placeholder: a plain word inside a quoted string (a
// label matcher), a number outside one.
func substituteGrafanaVars(expr string) string {
	var b strings.Builder
	var quote byte // the open quote, 0 outside a string
	for i := 0; i < len(expr); {
		c := expr[i]
		if quote != 0 && c == '\\' && quote != '`' && i+1 < len(expr) {
			b.WriteString(expr[i : i+2])
			i += 2
			continue
		}
		if m := grafanaVarRE.FindStringSubmatch(expr[i:]); m != nil && (c == '$' || c == '[') {
			name := m[1] + m[2] + m[3]
			switch {
			case name == "__interval" || name == "__rate_interval" || name == "__range" ||
				strings.HasPrefix(name, "__auto_interval"):
				b.WriteString("5m")
			case strings.HasPrefix(name, "__") && strings.HasSuffix(name, "_ms"):
				b.WriteString("300000")
			case strings.HasPrefix(name, "__") && strings.HasSuffix(name, "_s"):
				b.WriteString("300")
			case quote != 0:
				b.WriteString("grafana_var_" + name)
			default:
				b.WriteString("1")
			}
			i += len(m[0])
			continue
		}
		switch {
		case quote == 0 && (c == '"' || c == '\'' || c == '`'):
			quote = c
		case quote != 0 && c == quote:
			quote = 0
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

func joinErrors(errs []error) string {
	lines := make([]string, len(errs))
	for i, err := range errs {
		lines[i] = "  " + err.Error()
	}
	return strings.Join(lines, "\n")
}
