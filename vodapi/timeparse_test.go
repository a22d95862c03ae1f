package vodapi

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	good := map[string]time.Time{
		"1795000000":                  time.Unix(1795000000, 0),
		"1795000000.25":               time.Unix(1795000000, 250e6),
		"2026-11-23T10:15:00Z":        time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC),
		"2026-11-23T10:15:00.123Z":    time.Date(2026, 11, 23, 10, 15, 0, 123e6, time.UTC),
		"2026-11-23T11:15:00.5+01:00": time.Date(2026, 11, 23, 10, 15, 0, 500e6, time.UTC),
	}
	for in, want := range good {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "1795000000.", ".5", "-1", "1e9", "2026-11-23", "2026-11-23 10:15:00", "99999999999999", "1795000000.5.5", "2026-13-40T99:00:00Z", "0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "999999999999"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"1795000000.25", "2026-11-23T10:15:00.123Z", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err == nil && (tm.Year() < 1970 || tm.Year() > 9999 || tm.Location() != time.UTC) {
			t.Fatalf("%q -> %v", s, tm)
		}
	})
}
