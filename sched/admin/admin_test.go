package admin

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rewind-vod/rewind/sched/policy"
	"github.com/rewind-vod/rewind/sched/qos"
)

func TestAuth(t *testing.T) {
	f := newFixture(t, testToken)
	ov := `{"action":"disable","cdn":"a","region":"eu","who":"ops","why":"test"}`
	for _, c := range []struct {
		name, method, path, auth, body string
		code                           int
		msg                            string
	}{
		{"report, no token", "GET", "/v1/sched/report", "", "", 401, "admin token required"},
		{"report, wrong token", "GET", "/v1/sched/report", "Bearer nope", "", 403, "wrong admin token"},
		{"report, longer wrong token", "GET", "/v1/sched/report", "Bearer " + testToken + "x", "", 403, "wrong admin token"},
		{"report, basic scheme", "GET", "/v1/sched/report", "Basic " + testToken, "", 401, "admin token required"},
		{"report, empty bearer", "GET", "/v1/sched/report", "Bearer ", "", 401, "admin token required"},
		{"report, right token", "GET", "/v1/sched/report", "Bearer " + testToken, "", 200, ""},
		{"report, scheme case-insensitive", "GET", "/v1/sched/report", "bearer " + testToken, "", 200, ""},
		{"override, no token", "POST", "/v1/sched/overrides", "", ov, 401, "admin token required"},
		{"override, wrong token", "POST", "/v1/sched/overrides", "Bearer nope", ov, 403, "wrong admin token"},
	} {
		req, _ := http.NewRequest(c.method, f.ts.URL+c.path, strings.NewReader(c.body))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e errorBody
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s: %d %q, want %d %q", c.name, resp.StatusCode, e.Error, c.code, c.msg)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q", c.name, cc)
		}
		if c.code == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}
	if rep := f.eng.Report(t0); len(rep.Overrides) != 0 {
		t.Fatalf("a refused request changed the overrides: %+v", rep.Overrides)
	}
}

func TestTokenOff(t *testing.T) {
	f := newFixture(t, "")
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/sched/report", ""},
		{"POST", "/v1/sched/overrides", `{"action":"disable","cdn":"a","region":"","who":"ops","why":"x"}`},
	} {
		// Any token, even the empty one the API is configured with.
		for _, tok := range []string{"", "anything"} {
			code, h, body := f.do(t, c.method, c.path, tok, c.body)
			if code != 403 || !strings.Contains(body, "admin API off") || h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s token %q: %d %s", c.method, c.path, tok, code, body)
			}
		}
	}
	if rep := f.eng.Report(t0); len(rep.Overrides) != 0 {
		t.Fatalf("overrides changed with the API off: %+v", rep.Overrides)
	}
	// The page itself still loads (and says so when asked for the report).
	if code, _, body := f.do(t, "GET", "/sched", "", ""); code != 200 || !strings.Contains(body, "<title>") {
		t.Fatalf("page with the API off: %d", code)
	}
}

func TestNewRefusesBadToken(t *testing.T) {
	f := newFixture(t, testToken)
	for _, tok := range []string{"has space", "tab\t", "nl\n", "é"} {
		if _, err := New(Config{Token: tok}, f.eng, nil); err == nil {
			t.Errorf("token %q accepted", tok)
		}
	}
	if _, err := New(Config{Token: testToken}, nil, nil); err == nil {
		t.Error("nil engine accepted")
	}
}

func TestReport(t *testing.T) {
	f := newFixture(t, testToken)
	code, h, body := f.do(t, "GET", "/v1/sched/report", testToken, "")
	if code != 200 || h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("report: %d %v", code, h)
	}
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("report %s: %v", body, err)
	}
	if rep.Source != "inprocess" || rep.State != qos.Fresh || rep.Static || !rep.SnapshotAt.Equal(t0) ||
		!rep.At.Equal(t0.Add(60e9)) {
		t.Errorf("report head: source %q state %q static %v snapshot %v at %v", rep.Source, rep.State, rep.Static, rep.SnapshotAt, rep.At)
	}
	if rep.Inputs["inprocess"] != qos.Fresh || rep.Inputs["prometheus"] != qos.Stale || len(rep.Inputs) != 2 {
		t.Errorf("inputs %v", rep.Inputs)
	}
	for _, r := range []string{"eu", "us", policy.Other} {
		if got := rep.Orders[r]; !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Errorf("order %s = %v, want a b c", r, got)
		}
		if got := rep.PushOrders[r]; len(got) != 3 {
			t.Errorf("push order %s = %v", r, got)
		}
	}
	if len(rep.Keys) != 9 {
		t.Fatalf("%d keys, want 3 CDNs x 3 regions", len(rep.Keys))
	}
	for _, k := range rep.Keys {
		ff := k.Pull.Items[policy.FirstFrame]
		if !ff.Known || k.Pull.Composite <= 0 || k.Pull.Rank == 0 {
			t.Errorf("%s/%s: first frame %+v composite %v rank %d", k.CDN, k.Region, ff, k.Pull.Composite, k.Pull.Rank)
		}
		if k.CDN == "a" && (ff.Value != 0.5 || ff.Score != 100 || k.Pull.Rank != 1) {
			t.Errorf("a/%s: first frame %+v rank %d", k.Region, ff, k.Pull.Rank)
		}
	}
	if len(rep.CDNs) != 3 || rep.CDNs[2].CDN != "c" || rep.CDNs[2].MarginalPerGB != 0.05 ||
		rep.CDNs[2].MonthBytes <= 0 || rep.CDNs[2].Projected.Amount <= 0 || rep.CDNs[0].MarginalPerGB != 0 {
		t.Errorf("billing %+v", rep.CDNs)
	}
	// The raw JSON carries the policy report's fields at the top level,
	// beside inputs (what the page reads).
	var raw map[string]json.RawMessage
	_ = json.Unmarshal([]byte(body), &raw)
	for _, k := range []string{"at", "source", "state", "cdns", "keys", "orders", "push_orders", "overrides", "audit", "switches", "inputs"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("report JSON has no %q", k)
		}
	}
}

// A CDN that fails shows failed, with the engine's reason, and drops to
// the end of the order in the report.
func TestReportFailed(t *testing.T) {
	f := newFixture(t, testToken)
	ws := map[qos.Key]qos.Window{}
	for _, r := range []string{"eu", "us", policy.Other} {
		ws[qos.Key{CDN: "a", Region: r}] = healthy(0.5)
		ws[qos.Key{CDN: "b", Region: r}] = healthy(1.5)
		ws[qos.Key{CDN: "c", Region: r}] = healthy(2.5)
	}
	// a fails in us: most attempts error.
	ws[qos.Key{CDN: "a", Region: "us"}] = qos.Window{Sessions: 10, FirstFrameSum: 10, Errors: 40, WatchedSeconds: 600, ProbeSuccesses: 6, PushFrames: 1800}
	f.eng.Update(qos.Snapshot{Source: "prometheus", At: t0.Add(30e9), Span: 60e9, State: qos.Fresh, Windows: ws}, t0.Add(30e9))
	f.setInput("prometheus", qos.Fresh)
	_, _, body := f.do(t, "GET", "/v1/sched/report", testToken, "")
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Source != "prometheus" || rep.Inputs["prometheus"] != qos.Fresh {
		t.Errorf("source %q inputs %v", rep.Source, rep.Inputs)
	}
	for _, k := range rep.Keys {
		failed := k.CDN == "a" && k.Region == "us"
		if k.Pull.Failed != failed {
			t.Errorf("%s/%s: failed %v", k.CDN, k.Region, k.Pull.Failed)
		}
		if failed && (k.Pull.FailReason == "" || k.Pull.FailedSince.IsZero() || k.Pull.Rank != 3 ||
			k.Pull.Items[policy.ErrorRate].Score != 0 || k.Pull.Worst == "") {
			t.Errorf("a/us: %+v", k.Pull)
		}
	}
	if got := rep.Orders["us"]; got[len(got)-1] != "a" {
		t.Errorf("us order with a failed: %v", got)
	}
	if len(rep.Switches) == 0 || rep.Switches[len(rep.Switches)-1].From != "a" {
		t.Errorf("switch log: %+v", rep.Switches)
	}
}

func TestOverrides(t *testing.T) {
	f := newFixture(t, testToken)
	// post returns the status and the body, or the error message of one.
	post := func(body string) (int, string) {
		t.Helper()
		code, h, b := f.do(t, "POST", "/v1/sched/overrides", testToken, body)
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("POST %s: Cache-Control %q", body, h.Get("Cache-Control"))
		}
		var e errorBody
		if code != 200 {
			if err := json.Unmarshal([]byte(b), &e); err != nil || e.Error == "" {
				t.Errorf("POST %s: %d with body %q, want a JSON error", body, code, b)
			}
			return code, e.Error
		}
		return code, b
	}
	for _, c := range []struct {
		name, body string
		code       int
		msg        string
	}{
		{"bad action", `{"action":"drop","cdn":"a","region":"eu","who":"ops","why":"x"}`, 400, `action "drop"`},
		{"unknown cdn", `{"action":"disable","cdn":"zz","region":"eu","who":"ops","why":"x"}`, 400, `CDN "zz" is not configured`},
		{"unknown region", `{"action":"disable","cdn":"a","region":"mars","who":"ops","why":"x"}`, 400, `region "mars" is not configured`},
		{"no cdn", `{"action":"disable","region":"eu","who":"ops","why":"x"}`, 400, "cdn is required"},
		{"missing who", `{"action":"disable","cdn":"a","region":"eu","why":"x"}`, 400, "who: required"},
		{"missing why", `{"action":"disable","cdn":"a","region":"eu","who":"ops"}`, 400, "why: required"},
		{"who too long", `{"action":"disable","cdn":"a","region":"eu","who":"` + strings.Repeat("é", 201) + `","why":"x"}`, 400, "who: 201 characters"},
		{"why not printable", `{"action":"disable","cdn":"a","region":"eu","who":"ops","why":"a\nb"}`, 400, "why: character U+000A"},
		{"unknown field", `{"action":"disable","cdn":"a","region":"eu","who":"ops","why":"x","until":"never"}`, 400, `unknown field "until"`},
		{"two objects", `{"action":"disable","cdn":"a","region":"eu","who":"ops","why":"x"}{}`, 400, "one JSON object only"},
		{"not json", `disable a`, 400, "override body"},
		{"oversized body", `{"action":"disable","cdn":"a","region":"eu","who":"ops","why":"` + strings.Repeat("x", MaxBody) + `"}`, 413, "larger than"},
	} {
		code, body := post(c.body)
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s, want %d %q", c.name, code, body, c.code, c.msg)
		}
	}
	if rep := f.eng.Report(t0); len(rep.Overrides) != 0 || len(rep.Audit) != 0 {
		t.Fatalf("refused requests changed the engine: %+v %+v", rep.Overrides, rep.Audit)
	}
	if code, _, _ := f.do(t, "GET", "/v1/sched/overrides", testToken, ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET overrides: %d", code)
	}
	req, _ := http.NewRequest("POST", f.ts.URL+"/v1/sched/overrides", strings.NewReader(`action=disable`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form body: %v %v", resp, err)
	}

	// Accepted: disable a in eu moves it out of eu's order, not us's.
	code, body := post(`{"action":"disable","cdn":"a","region":"eu","who":"alice","why":"eu POPs down"}`)
	if code != 200 {
		t.Fatalf("disable: %d %s", code, body)
	}
	var ans OverridesAnswer
	if err := json.Unmarshal([]byte(body), &ans); err != nil {
		t.Fatal(err)
	}
	if len(ans.Overrides) != 1 || ans.Overrides[0] != (policy.Override{Action: "disable", CDN: "a", Region: "eu", Who: "alice",
		Why: "eu POPs down", At: t0.Add(60e9)}) {
		t.Fatalf("overrides answered %+v", ans.Overrides)
	}
	if got := f.eng.Order("eu"); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("eu order after disable: %v", got)
	}
	if got := f.eng.Order("us"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("us order after an eu disable: %v", got)
	}
	if l := f.log.String(); !strings.Contains(l, "override accepted") || !strings.Contains(l, "who=alice") || !strings.Contains(l, `why="eu POPs down"`) {
		t.Errorf("accepted override not logged:\n%s", l)
	}

	// A global pin puts c first where nothing else decides.
	if code, body := post(`{"action":"pin","cdn":"c","region":"","who":"bob","why":"contract test"}`); code != 200 || !strings.Contains(body, `"pin"`) {
		t.Fatalf("pin: %d %s", code, body)
	}
	if got := f.eng.Order("us"); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Errorf("us order after a global pin c: %v", got)
	}
	if got := f.eng.Order("eu"); !slices.Equal(got, []string{"c", "b"}) {
		t.Errorf("eu order after a global pin c with a disabled there: %v", got)
	}
	// Clear both; the report shows the audit trail of all four.
	for _, b := range []string{`{"action":"clear","cdn":"c","region":"","who":"bob","why":"done"}`,
		`{"action":"clear","cdn":"a","region":"eu","who":"alice","why":"POPs back"}`} {
		if code, body := post(b); code != 200 {
			t.Fatalf("clear: %d %s", code, body)
		}
	}
	// a is back in eu's order (where exactly is the switching rules' say).
	if got := f.eng.Order("eu"); len(got) != 3 || !slices.Contains(got, "a") {
		t.Errorf("eu order after clearing: %v", got)
	}
	_, _, body = f.do(t, "GET", "/v1/sched/report", testToken, "")
	var rep Report
	_ = json.Unmarshal([]byte(body), &rep)
	if len(rep.Overrides) != 0 || len(rep.Audit) != 4 || rep.Audit[0].Who != "alice" || rep.Audit[3].Why != "POPs back" {
		t.Errorf("report after clearing: overrides %+v audit %+v", rep.Overrides, rep.Audit)
	}
}

func TestConsoleFiles(t *testing.T) {
	f := newFixture(t, testToken)
	for path, want := range map[string]string{
		"/sched":           "text/html",
		"/sched/app.js":    "text/javascript",
		"/sched/app.css":   "text/css",
		"/sched/../go.mod": "",
		"/sched/nope.js":   "",
		"/sched/":          "",
	} {
		code, h, body := f.do(t, "GET", path, "", "")
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, h.Get("Cache-Control"))
		}
		if want == "" {
			if code == 200 {
				t.Errorf("%s: served %q", path, body[:min(len(body), 60)])
			}
			continue
		}
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), want) || len(body) < 100 {
			t.Errorf("%s: %d %q (%d bytes)", path, code, h.Get("Content-Type"), len(body))
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, h.Get("Content-Security-Policy"))
		}
	}
	// The page loads nothing from elsewhere.
	_, _, page := f.do(t, "GET", "/sched", "", "")
	for _, bad := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page refers to %q", bad)
		}
	}
}
