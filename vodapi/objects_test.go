package vodapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Ranges that select nothing, bad syntax and many ranges: 416 JSON with the
// size in Content-Range, or the whole object; never an empty 206 or a
// multipart answer built from hundreds of parts.
func TestSegmentBadRanges(t *testing.T) {
	a := newAPI(t, Config{})
	run := writeRun(t, a.st, time.Now().Add(-time.Hour), false)
	url := a.ts.URL + "/seg/live/cam/" + run + "/1.ts"
	_, full := get(t, url)
	size := len(full)
	many := "bytes=" + strings.Repeat("0-0,", 597) + "0-0"
	for _, tc := range []struct {
		rng    string
		status int
		body   []byte
	}{
		{"bytes=-0", 416, nil},
		{fmt.Sprintf("bytes=%d-", size), 416, nil},
		{"bytes=5-2", 416, nil},
		{"bytes=abc", 416, nil},
		{"bytes=1-2-3", 416, nil},
		{"bytes= -", 416, nil},
		{"bytes", 416, nil},
		{"bytes=" + strings.Repeat("9", 300), 200, full},
		{"bytes=0-0,-0", 416, nil},
		{"bytes=-100", 206, full[size-100:]},
		{fmt.Sprintf("bytes=%d-%d", size-10, size+500), 206, full[size-10:]},
		{"bytes=0-0,5-9", 200, full},
		{many, 200, full},
		{"items=0-5", 200, full},
	} {
		resp, body := get(t, url, "Range", tc.rng)
		if resp.StatusCode != tc.status {
			t.Errorf("Range %.40q: status %d, want %d", tc.rng, resp.StatusCode, tc.status)
			continue
		}
		if tc.status != 416 {
			if !bytes.Equal(body, tc.body) {
				t.Errorf("Range %.40q: %d bytes, want %d", tc.rng, len(body), len(tc.body))
			}
			continue
		}
		var e struct{ Error, Code string }
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &e) != nil || e.Code != "bad_range" {
			t.Errorf("Range %.40q: %s %q, want a JSON bad_range error", tc.rng, ct, body)
		}
		if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes */%d", size) {
			t.Errorf("Range %.40q: Content-Range %q", tc.rng, cr)
		}
	}
	// If-Range that no longer matches: the whole object, even for a range
	// that would be refused.
	resp, body := get(t, url, "Range", "bytes=-0", "If-Range", `"stale"`)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, full) {
		t.Errorf("stale If-Range: %d, %d bytes", resp.StatusCode, len(body))
	}
}

func FuzzCheckRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-", "bytes=-0", "bytes=-5", "bytes=0-0,1-1", "bytes=5-2", "items=1-2", "bytes=1-2-3"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -size
		}
		whole, err := checkRange(header, size)
		if err != nil && whole {
			t.Fatal("both whole and refused")
		}
		if err == nil && !whole && (size == 0 || strings.Contains(header, ",")) {
			t.Fatalf("%q of %d bytes passed as one satisfiable range", header, size)
		}
	})
}

func TestCacheControl(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	live := cacheLife{maxAge: 2 * time.Second, swr: 4 * time.Second}
	for _, tc := range []struct {
		life cacheLife
		exp  time.Time
		want string
	}{
		{forever, time.Time{}, "public, max-age=31536000, immutable"},
		{forever, now.Add(90 * time.Second), "public, max-age=90"},
		{forever, now.Add(-time.Second), "no-store"},
		{live, time.Time{}, "public, max-age=2, stale-while-revalidate=4"},
		{live, now.Add(3 * time.Second), "public, max-age=2, stale-while-revalidate=1"},
		{live, now.Add(1500 * time.Millisecond), "public, max-age=1"},
		{cacheLife{maxAge: time.Hour, private: true}, now.Add(time.Minute), "private, max-age=60"},
		{noStore, time.Time{}, "no-store"},
		{noStore, now.Add(time.Hour), "no-store"},
		{shortLife(5 * time.Second), time.Time{}, "public, max-age=5"},
	} {
		if got := cacheControl(tc.life, tc.exp, now); got != tc.want {
			t.Errorf("cacheControl(%+v, exp %v) = %q, want %q", tc.life, tc.exp.Sub(now), got, tc.want)
		}
	}
}
