package origin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := Sign("s3cret", "live/cam", now.Add(time.Minute))
	q := func(s string) url.Values {
		v, err := url.ParseQuery(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if !strings.HasPrefix(good, "exp=1800000060&sig=") || len(good) != len("exp=1800000060&sig=")+64 {
		t.Fatalf("Sign = %q", good)
	}
	tests := []struct {
		name    string
		secrets []string
		stream  string
		query   string
		now     time.Time
		want    error
	}{
		{"good", []string{"s3cret"}, "live/cam", good, now, nil},
		{"good at expiry second", []string{"s3cret"}, "live/cam", good, now.Add(time.Minute), nil},
		{"rotation: second secret", []string{"new", "s3cret"}, "live/cam", good, now, nil},
		{"extra params ignored", []string{"s3cret"}, "live/cam", good + "&foo=bar", now, nil},
		{"uppercase hex", []string{"s3cret"}, "live/cam", "exp=1800000060&sig=" + strings.ToUpper(q(good).Get("sig")), now, nil},
		{"expired", []string{"s3cret"}, "live/cam", good, now.Add(time.Minute + time.Second), ErrExpiredSignature},
		{"missing", []string{"s3cret"}, "live/cam", "", now, ErrMissingSignature},
		{"missing sig", []string{"s3cret"}, "live/cam", "exp=1800000060", now, ErrMissingSignature},
		{"missing exp", []string{"s3cret"}, "live/cam", "sig=" + q(good).Get("sig"), now, ErrMissingSignature},
		{"wrong secret", []string{"other"}, "live/cam", good, now, ErrBadSignature},
		{"no secrets", nil, "live/cam", good, now, ErrBadSignature},
		{"other stream", []string{"s3cret"}, "live/cam2", good, now, ErrBadSignature},
		{"exp changed", []string{"s3cret"}, "live/cam", "exp=1800009999&sig=" + q(good).Get("sig"), now, ErrBadSignature},
		{"exp not a number", []string{"s3cret"}, "live/cam", "exp=+1800000060&sig=" + q(good).Get("sig"), now, ErrBadSignature},
		{"sig not hex", []string{"s3cret"}, "live/cam", "exp=1800000060&sig=zz", now, ErrBadSignature},
		{"sig truncated", []string{"s3cret"}, "live/cam", "exp=1800000060&sig=" + q(good).Get("sig")[:62], now, ErrBadSignature},
		// An expired URL with a wrong signature is reported as forged, not expired.
		{"expired and wrong", []string{"other"}, "live/cam", good, now.Add(time.Hour), ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secrets, tt.stream, q(tt.query), tt.now)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("VerifySignature = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignedPublish(t *testing.T) {
	t.Parallel()
	sink := newTestSink("rec")
	ts := startServer(t, Config{Auth: AuthConfig{Secrets: []string{"new-secret", "old-secret"}}}, sink)
	future := time.Now().Add(time.Hour)

	refused := map[string]string{
		"unsigned": ts.url("live/cam"),
		"expired":  ts.url("live/cam?" + Sign("new-secret", "live/cam", time.Now().Add(-time.Minute))),
		"wrong":    ts.url("live/cam?" + Sign("not-a-secret", "live/cam", future)),
		"other":    ts.url("live/cam?" + Sign("new-secret", "live/other", future)),
	}
	for name, u := range refused {
		if err := ffmpeg(t, u, 1).wait(t); err == nil {
			t.Errorf("%s publish: ffmpeg succeeded, want refused", name)
		}
	}
	if runs, _ := sink.snapshot(); len(runs) != 0 {
		t.Fatalf("refused publishes opened sinks: %+v", runs)
	}
	for reason, want := range map[string]float64{"missing_signature": 1, "expired": 1, "bad_signature": 2} {
		if got := ts.metric(t, "rewind_origin_auth_denied_total", "reason", reason); got != want {
			t.Errorf("auth_denied_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}

	// Both secrets are accepted (rotation), concurrently on two streams.
	a := ffmpeg(t, ts.url("live/cam?"+Sign("new-secret", "live/cam", future)), 1)
	b := ffmpeg(t, ts.url("live/cam2?"+Sign("old-secret", "live/cam2", future)), 1)
	if err := a.wait(t); err != nil {
		t.Errorf("signed publish (new secret): %v", err)
	}
	if err := b.wait(t); err != nil {
		t.Errorf("signed publish (old secret): %v", err)
	}
	waitFor(t, 5*time.Second, "both runs closed", func() bool {
		a, b := sink.runsFor("live", "cam"), sink.runsFor("live", "cam2")
		return len(a) == 1 && a[0].closed && len(b) == 1 && b[0].closed
	})
}

func TestHook(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []HookRequest
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req HookRequest
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("hook got %s %s", r.Method, r.Header.Get("Content-Type"))
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("hook body: %v", err)
		}
		mu.Lock()
		bodies = append(bodies, req)
		mu.Unlock()
		switch r.URL.Path {
		case "/allow":
			w.WriteHeader(http.StatusOK)
		case "/deny":
			http.Error(w, "no", http.StatusForbidden)
		case "/slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(hook.Close)

	cases := []struct {
		name, path string
		failOpen   bool
		allowed    bool
		reason     string
	}{
		{"allow", "/allow", false, true, ""},
		{"deny", "/deny", true, false, "hook_denied"}, // fail-open does not override a refusal
		{"timeout fail-closed", "/slow", false, false, "hook_error"},
		{"timeout fail-open", "/slow", true, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := newTestSink("rec")
			ts := startServer(t, Config{Node: "hooknode", Auth: AuthConfig{
				HookURL: hook.URL + tc.path, HookTimeout: 300 * time.Millisecond, HookFailOpen: tc.failOpen,
			}}, sink)
			err := ffmpeg(t, ts.url("live/cam?token=abc&x=1"), 1).wait(t)
			if tc.allowed && err != nil {
				t.Fatalf("publish refused: %v", err)
			}
			if !tc.allowed && err == nil {
				t.Fatalf("publish allowed, want refused")
			}
			runs, _ := sink.snapshot()
			if tc.allowed != (len(runs) == 1) {
				t.Errorf("sink runs = %d", len(runs))
			}
			if tc.reason != "" {
				if got := ts.metric(t, "rewind_origin_auth_denied_total", "reason", tc.reason); got != 1 {
					t.Errorf("auth_denied_total{%s} = %v", tc.reason, got)
				}
			}
		})
	}
	t.Cleanup(func() {
		// Runs after the parallel subtests.
		mu.Lock()
		defer mu.Unlock()
		if len(bodies) != len(cases) {
			t.Errorf("hook called %d times, want %d", len(bodies), len(cases))
		}
		for _, b := range bodies {
			if b.App != "live" || b.Name != "cam" || b.Query != "token=abc&x=1" || b.Node != "hooknode" || !strings.HasPrefix(b.ClientAddr, "127.0.0.1:") {
				t.Errorf("hook body = %+v", b)
			}
		}
	})
}

func TestSignedAndHook(t *testing.T) {
	t.Parallel()
	calls := 0
	var mu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	sink := newTestSink("rec")
	ts := startServer(t, Config{Auth: AuthConfig{Secrets: []string{"k"}, HookURL: hook.URL}}, sink)
	// Unsigned: refused before the hook is asked.
	if err := ffmpeg(t, ts.url("live/cam"), 1).wait(t); err == nil {
		t.Fatal("unsigned publish accepted")
	}
	if err := ffmpeg(t, ts.url("live/cam?"+Sign("k", "live/cam", time.Now().Add(time.Minute))), 1).wait(t); err != nil {
		t.Fatalf("signed publish: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("hook calls = %d, want 1", calls)
	}
}
