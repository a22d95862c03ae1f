package origin

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRecControlParsePolicy(t *testing.T) {
	p, err := ParseRecordPolicy(" live=on:4s , private=off,live/cam2=off,*=on:1500ms,,live/cam3=on")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.String(), "live=on:4s,private=off,live/cam2=off,*=on:1.5s,live/cam3=on"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, c := range []struct {
		stream string
		record bool
		seg    time.Duration
	}{
		{"live/cam", true, 4 * time.Second},
		{"live/cam2", false, 4 * time.Second}, // off, and its app's duration if started
		{"live/cam3", true, 4 * time.Second},  // on from its own rule, duration from the app's
		{"private/x", false, 1500 * time.Millisecond},
		{"other/x", true, 1500 * time.Millisecond},
	} {
		app, name, _ := strings.Cut(c.stream, "/")
		if rec, seg := p.For(app, name); rec != c.record || seg != c.seg {
			t.Errorf("%s: record %v segment %s, want %v %s", c.stream, rec, seg, c.record, c.seg)
		}
	}
	want := map[string]time.Duration{"live": 4 * time.Second, "*": 1500 * time.Millisecond}
	if got := p.SegmentDurations(); !reflect.DeepEqual(got, want) {
		t.Errorf("SegmentDurations() = %v, want %v", got, want)
	}
	if p, err := ParseRecordPolicy(""); err != nil || p != nil {
		t.Errorf("empty policy: %v %v", p, err)
	}
	if rec, seg := RecordPolicy(nil).For("live", "cam"); !rec || seg != 0 {
		t.Errorf("no policy: %v %s", rec, seg)
	}

	for in, want := range map[string]string{
		"live":              "want match=on[:duration] or match=off",
		"live=maybe":        "neither on nor off",
		"live=off:4s":       "goes with on only",
		"live=on:4":         "not a duration",
		"live=on:10ms":      "outside",
		"live=on:2h":        "outside",
		"live=on:-1s":       "outside",
		"live/=on":          "not *, an app or app/name",
		"a/b/c=on":          "not *, an app or app/name",
		"=on":               "not *, an app or app/name",
		"bad name=on":       "not *, an app or app/name",
		"live=on,live=off":  "two rules",
		"live/x=on,live/x=": "neither on nor off",
	} {
		if _, err := ParseRecordPolicy(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", in, err, want)
		}
	}
	// A policy built in code is held to the same rules.
	for _, bad := range []RecordPolicy{
		{{Match: "live/", Record: true}},
		{{Match: "live", Record: false, SegmentDuration: time.Second}},
		{{Match: "live", Record: true, SegmentDuration: time.Millisecond}},
		{{Match: "live", Record: true}, {Match: "live"}},
	} {
		if _, err := New(Config{RecordPolicy: bad}, nil, nil, nil); err == nil {
			t.Errorf("New accepted policy %+v", bad)
		}
	}
}

// FuzzParseRecordPolicy: any input parses or fails with an error, never a
// panic; what parses prints back to the same policy and passes check.
func FuzzParseRecordPolicy(f *testing.F) {
	for _, s := range []string{
		"live=on:4s,private=off,live/cam2=off",
		"*=off,live/cam=on",
		"*=on:1500ms",
		" live = on : 2s ,, x=off",
		"live=on:1h",
		"live=on:99ms",
		"live=off:1s",
		"a/b/c=on",
		"live=on,live=off",
		"=",
		",,,",
		"live=on:1.0000001s",
		"li\x00ve=on",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseRecordPolicy(s)
		if err != nil {
			if p != nil {
				t.Fatalf("%q: a policy with the error %v", s, err)
			}
			return
		}
		if err := p.check(); err != nil {
			t.Fatalf("%q parsed to %+v, which check refuses: %v", s, p, err)
		}
		again, err := ParseRecordPolicy(p.String())
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("%q -> %q -> %+v, %v; want %+v", s, p.String(), again, err, p)
		}
		for _, r := range p {
			app, name, ok := strings.Cut(r.Match, "/")
			if !ok {
				name = "x"
			}
			rec, seg := p.For(app, name)
			if r.Match != "*" && ok && (rec != r.Record || (r.SegmentDuration > 0 && seg != r.SegmentDuration)) {
				t.Fatalf("%q: For(%s) = %v %s, rule %+v", s, r.Match, rec, seg, r)
			}
		}
	})
}
