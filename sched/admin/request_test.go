package admin

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rewind-vod/rewind/sched/policy"
)

func TestParseOverride(t *testing.T) {
	req, err := ParseOverride(strings.NewReader(` {"action":"pin","cdn":"b","region":"us","who":"Zoë","why":"a/b test – week 2"} ` + "\n"))
	if err != nil || req != (OverrideRequest{Action: "pin", CDN: "b", Region: "us", Who: "Zoë", Why: "a/b test – week 2"}) {
		t.Fatalf("%+v %v", req, err)
	}
	if _, err := ParseOverride(strings.NewReader("")); err == nil || !strings.Contains(err.Error(), "empty body") {
		t.Fatalf("empty body: %v", err)
	}
	if _, err := ParseOverride(strings.NewReader(`{"action":"clear","cdn":"a","who":"` + strings.Repeat("w", MaxText) + `","why":"x"}`)); err != nil {
		t.Fatalf("who of exactly %d characters: %v", MaxText, err)
	}
}

// FuzzParseOverride: the parser never panics, and whatever it accepts is
// an override the engine can be asked for: a known action, a CDN, who
// and why of 1..MaxText printable characters.
func FuzzParseOverride(f *testing.F) {
	f.Add([]byte(`{"action":"disable","cdn":"a","region":"eu","who":"ops","why":"down"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseOverride(bytes.NewReader(body))
		if err != nil {
			return
		}
		if req.Action != policy.ActionDisable && req.Action != policy.ActionPin && req.Action != policy.ActionClear {
			t.Fatalf("accepted action %q", req.Action)
		}
		if req.CDN == "" {
			t.Fatal("accepted no CDN")
		}
		for _, s := range []string{req.Who, req.Why} {
			if n := utf8.RuneCountInString(s); n == 0 || n > MaxText || checkText(s) != nil {
				t.Fatalf("accepted text %q", s)
			}
		}
	})
}
