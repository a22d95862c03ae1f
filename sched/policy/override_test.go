package policy

import (
	"strings"
	"testing"
	"time"
)

func TestOverrides(t *testing.T) {
	var sunk []AuditEntry
	e, _ := newTestEngine(t, func(c *Config) { c.AuditSink = func(a AuditEntry) { sunk = append(sunk, a) } })
	ws := everywhere(nil, "a", healthy(0.5))
	everywhere(ws, "b", healthy(1.5))
	everywhere(ws, "c", healthy(2.5))
	e.Update(fresh(t0, ws), t0)
	check := func(step, region string, want ...string) {
		t.Helper()
		if got := e.Order(region); !equal(got, want) {
			t.Fatalf("%s: Order(%s) = %v, want %v", step, region, got, want)
		}
		if got := e.PushOrder(region); len(got) != len(want) || (len(want) > 0 && got[0] != want[0]) {
			t.Fatalf("%s: PushOrder(%s) = %v, want %v first", step, region, got, want)
		}
	}
	check("start", "eu", "a", "b", "c")

	at := t0.Add(time.Minute)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.Disable("a", "eu", "ops", "a's eu POPs are down", at))
	check("disable a in eu", "eu", "b", "c")
	check("disable a in eu", "us", "a", "b", "c")

	must(e.Pin("c", "", "ops", "contract test", at))
	check("global pin c", "eu", "c", "b")
	check("global pin c", "us", "c", "a", "b")

	must(e.Pin("b", "us", "ops", "us test", at))
	check("region pin wins over global", "us", "b", "a", "c")

	must(e.Disable("b", "us", "ops", "b broke", at))
	check("disable wins over pin", "us", "c", "a")

	must(e.Disable("c", "", "ops", "c everywhere", at))
	check("global disable", "eu", "b")
	check("global disable", "us", "a")

	must(e.Clear("c", "", "ops", "back", at))
	check("clear global c (disable and pin)", "eu", "b", "c")
	must(e.Clear("b", "us", "ops", "", at))
	must(e.Clear("a", "eu", "ops", "", at))
	must(e.Clear("a", "eu", "ops", "twice is fine", at))
	rep := e.Report(at)
	if len(rep.Overrides) != 0 {
		t.Fatalf("overrides left: %+v", rep.Overrides)
	}
	if len(rep.Audit) != 9 || len(sunk) != 9 {
		t.Fatalf("audit %d entries, sink %d, want 9", len(rep.Audit), len(sunk))
	}
	if a := rep.Audit[0]; a.Action != ActionDisable || a.CDN != "a" || a.Region != "eu" || a.Who != "ops" ||
		a.Why != "a's eu POPs are down" || !a.At.Equal(at) || sunk[0] != a {
		t.Fatalf("audit[0] = %+v", a)
	}
	var pinned, disabled bool
	for _, s := range rep.Switches {
		if s.Region == "us" && s.Order == "pull" && s.To == "c" && s.Reason == ReasonPinned && !s.Automatic {
			pinned = true
		}
		if s.Region == "eu" && s.Order == "pull" && s.From == "a" && s.Reason == ReasonDisabled {
			disabled = true
		}
	}
	if !pinned || !disabled {
		t.Fatalf("switch log misses the pin or the disable: %+v", rep.Switches)
	}

	for _, bad := range []struct {
		err  error
		want string
	}{
		{e.Disable("zzz", "eu", "ops", "", at), `CDN "zzz" is not configured`},
		{e.Pin("a", "mars", "ops", "", at), `region "mars" is not configured`},
		{e.Clear("a", "eu", "", "", at), "who"},
	} {
		if bad.err == nil || !strings.Contains(bad.err.Error(), bad.want) {
			t.Errorf("error %v, want %q", bad.err, bad.want)
		}
	}
	if got := len(e.Report(at).Audit); got != 9 {
		t.Fatalf("refused overrides were audited: %d entries", got)
	}
	must(e.Pin("a", Other, "ops", "the other region is configured too", at))
}

func TestOverridesOnStaticOrder(t *testing.T) {
	e, _ := newTestEngine(t, func(c *Config) { c.StaticOrder = []string{"c", "b", "a"} })
	if got := e.Order("eu"); !equal(got, []string{"c", "b", "a"}) {
		t.Fatalf("static %v", got)
	}
	if err := e.Disable("c", "", "ops", "", t0); err != nil {
		t.Fatal(err)
	}
	if err := e.Pin("a", "eu", "ops", "", t0); err != nil {
		t.Fatal(err)
	}
	if got := e.Order("eu"); !equal(got, []string{"a", "b"}) {
		t.Fatalf("static with overrides %v", got)
	}
	if got := e.Order("us"); !equal(got, []string{"b", "a"}) {
		t.Fatalf("static with overrides %v", got)
	}
}

func TestAuditRingBounded(t *testing.T) {
	e, _ := newTestEngine(t, func(c *Config) { c.AuditSize = 5 })
	for i := range 12 {
		if err := e.Pin([]string{"a", "b", "c"}[i%3], "", "ops", string(rune('a'+i)), t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	a := e.Report(t0).Audit
	if len(a) != 5 || a[0].Why != "h" || a[4].Why != "l" {
		t.Fatalf("audit ring %+v", a)
	}
}

func TestRestore(t *testing.T) {
	var sunk []AuditEntry
	e, _ := newTestEngine(t, func(c *Config) { c.AuditSink = func(a AuditEntry) { sunk = append(sunk, a) } })
	for _, err := range []error{
		e.Disable("a", "", "ops", "down", t0),
		e.Pin("c", "eu", "ops", "test", t0),
		e.Pin("b", "us", "ops", "test", t0),
		e.Clear("b", "us", "ops", "done", t0),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A restart: a new engine replays what the sink kept.
	e2, _ := newTestEngine(t, nil)
	if err := e2.Restore(sunk); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"eu", "us"} {
		if got, want := e2.Order(r), e.Order(r); !equal(got, want) {
			t.Fatalf("Order(%s) after restore %v, want %v", r, got, want)
		}
	}
	if got := len(e2.Report(t0).Audit); got != 4 {
		t.Fatalf("audit after restore: %d entries", got)
	}
	e3, _ := newTestEngine(t, func(c *Config) { c.CDNs = []string{"b", "c"} })
	if err := e3.Restore(sunk); err == nil || !strings.Contains(err.Error(), "restore entry 1") {
		t.Fatalf("restore with a CDN gone: %v", err)
	}
}
