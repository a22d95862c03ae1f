package admin

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/rewind-vod/rewind/internal/browsertest"
	"github.com/rewind-vod/rewind/sched/qos"
)

// The console in headless Chromium: it asks for the token (and again
// after a wrong one), shows the scores of every configured CDN and region
// and each input's state, and a disable submitted through its form lands
// in the engine, shows in the audit log and takes the CDN out of the
// region's shown order.
func TestConsoleInChromium(t *testing.T) {
	nm := browsertest.NodeModules(t)
	f := newFixture(t, testToken)
	f.setInput("probe", qos.Missing)

	cmd := browsertest.Command(nm, "testdata/browser/console.cjs", f.ts.URL+"/sched", testToken)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, out)
	}
	var res struct {
		AskedFirst   bool              `json:"askedFirst"`
		WrongError   string            `json:"wrongError"`
		AskedAgain   bool              `json:"askedAgain"`
		Keys         []string          `json:"keys"`
		Headers      []string          `json:"headers"`
		Inputs       map[string]string `json:"inputs"`
		InputClasses map[string]string `json:"inputClasses"`
		OrderBefore  string            `json:"orderBefore"`
		OrderAfter   string            `json:"orderAfter"`
		OrderUSAfter string            `json:"orderUSAfter"`
		Audit        []string          `json:"audit"`
		Overrides    []string          `json:"overrides"`
		Session      bool              `json:"session"`
		Local        int               `json:"local"`
		Reloaded     bool              `json:"reloaded"`
		HTTP         []string          `json:"http"`
		Errors       []string          `json:"errors"`
		Console      []string          `json:"console"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	t.Logf("browser: %s", out)
	if len(res.Errors) > 0 || len(res.Console) > 0 {
		t.Fatalf("errors %v; console %v", res.Errors, res.Console)
	}
	// The only HTTP errors: the wrong token's, and Chromium's favicon.
	for _, h := range res.HTTP {
		if h != "403 /v1/sched/report" && h != "404 /favicon.ico" {
			t.Errorf("unexpected HTTP error %s (all: %v)", h, res.HTTP)
		}
	}
	if !slices.Contains(res.HTTP, "403 /v1/sched/report") {
		t.Errorf("the wrong token was not refused: %v", res.HTTP)
	}
	if !res.AskedFirst || !res.AskedAgain || !strings.Contains(res.WrongError, "wrong admin token") {
		t.Errorf("token prompt: first %v; after a wrong token %v with %q", res.AskedFirst, res.AskedAgain, res.WrongError)
	}
	var want []string
	for _, cdn := range []string{"a", "b", "c"} {
		for _, r := range []string{"eu", "us", "other"} {
			want = append(want, cdn+"/"+r)
		}
	}
	if !slices.Equal(res.Keys, want) {
		t.Errorf("score rows %v, want %v", res.Keys, want)
	}
	for _, h := range []string{"first_frame", "error_rate", "composite", "worst", "state", "pull rank", "marginal / GB", "month to date", "projected bill", "push rank"} {
		if !slices.Contains(res.Headers, h) {
			t.Errorf("score table has no %q column: %v", h, res.Headers)
		}
	}
	for name, st := range map[string]string{"inprocess": "fresh", "prometheus": "stale", "probe": "missing"} {
		if res.Inputs[name] != st || res.InputClasses[name] != st {
			t.Errorf("input %s shown %q (class %q), want %q", name, res.Inputs[name], res.InputClasses[name], st)
		}
	}
	if res.OrderBefore != "a,b,c" || res.OrderAfter != "b,c" || res.OrderUSAfter != "a,b,c" {
		t.Errorf("eu order shown %q then %q (us %q), want a,b,c then b,c (us unchanged)", res.OrderBefore, res.OrderAfter, res.OrderUSAfter)
	}
	if len(res.Audit) != 1 || !strings.Contains(res.Audit[0], "console-test|disable|a|eu|browser disable") {
		t.Errorf("audit log shown %q", res.Audit)
	}
	if len(res.Overrides) != 1 || !strings.HasPrefix(res.Overrides[0], "disable|a|eu|console-test") {
		t.Errorf("overrides shown %q", res.Overrides)
	}
	if !res.Session || res.Local != 0 || !res.Reloaded {
		t.Errorf("token in sessionStorage %v, localStorage keys %d, kept across a reload %v", res.Session, res.Local, res.Reloaded)
	}
	// And the engine has it: the page went through the API.
	if got := f.eng.Order("eu"); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("engine eu order %v", got)
	}
	if rep := f.eng.Report(t0); len(rep.Audit) != 1 || rep.Audit[0].Who != "console-test" || rep.Audit[0].Why != "browser disable" {
		t.Errorf("engine audit %+v", rep.Audit)
	}
}
