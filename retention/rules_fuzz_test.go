package retention

import (
	"testing"
	"time"
)

func TestParseRules(t *testing.T) {
	r, err := ParseRules(" live=30d, news=7d ,clips_x=36h")
	if err != nil {
		t.Fatal(err)
	}
	if r["live"] != 30*day || r["news"] != 7*day || r["clips_x"] != 36*time.Hour || len(r) != 3 {
		t.Fatalf("rules %v", r)
	}
	if got := r.String(); got != "clips_x=36h0m0s,live=30d,news=7d" {
		t.Errorf("String() = %q", got)
	}
	if r, err := ParseRules(""); err != nil || len(r) != 0 {
		t.Errorf("empty: %v %v", r, err)
	}
	for _, bad := range []string{"live", "live=", "=7d", "live=0d", "live=-1h", "live=7x", "live=7d,live=8d",
		"a/b=7d", "live=1.5d", "live=99999999999d", "live=1000000h", "live=7d,", "../x=1d"} {
		if _, err := ParseRules(bad); err == nil {
			t.Errorf("ParseRules(%q) accepted", bad)
		}
	}
}

// Whatever the input: an error, or rules that print and parse back the
// same, each within bounds.
func FuzzParseRules(f *testing.F) {
	for _, s := range []string{"live=30d,news=7d", "", "live=36h", "a=1d,b=2d,c=90m", "live=7d,live=8d",
		"live=0d", "x=100000d", "live=1h30m", " a = 1d ", "a=1d,,b=2d", "é=1d", "a=18446744073709551615d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRules(s)
		if err != nil {
			return
		}
		for app, d := range r {
			if d <= 0 || d > maxRetention || app == "" {
				t.Fatalf("%q: rule %s=%v out of bounds", s, app, d)
			}
		}
		back, err := ParseRules(r.String())
		if err != nil {
			t.Fatalf("%q: String() %q does not parse: %v", s, r.String(), err)
		}
		if len(back) != len(r) {
			t.Fatalf("%q: round trip %v != %v", s, back, r)
		}
		for app, d := range r {
			if back[app] != d {
				t.Fatalf("%q: round trip %v != %v", s, back, r)
			}
		}
	})
}
