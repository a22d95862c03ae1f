package snapshot

import (
	"maps"
	"testing"
	"time"
)

func TestParseApps(t *testing.T) {
	got, err := ParseApps(" live=5s, private=off ,news=0")
	want := map[string]time.Duration{"live": 5 * time.Second, "private": 0, "news": 0}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("ParseApps = %v, %v; want %v", got, err, want)
	}
	if s := FormatApps(got); s != "live=5s,news=off,private=off" {
		t.Fatalf("FormatApps = %q", s)
	}
	if m, err := ParseApps(""); err != nil || len(m) != 0 {
		t.Fatalf("empty: %v %v", m, err)
	}
	for _, bad := range []string{"live", "live=", "live=5", "live=-1s", "live=10ms", "../x=5s", "live=5s,live=off", "=5s"} {
		if _, err := ParseApps(bad); err == nil {
			t.Errorf("ParseApps(%q) accepted", bad)
		}
	}
}

func FuzzParseApps(f *testing.F) {
	for _, s := range []string{"live=5s,private=off", "a=1h", "", "x=0", "a=1s,b=2m30s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseApps(s)
		if err != nil {
			return
		}
		// What parses formats back to the same settings.
		again, err := ParseApps(FormatApps(m))
		if err != nil || !maps.Equal(m, again) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, m, FormatApps(m), again, err)
		}
	})
}
