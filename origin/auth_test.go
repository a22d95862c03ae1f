package origin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// signPublish is the query that lets stream ("app/name") publish until exp.
func signPublish(secret, stream string, exp time.Time) string {
	st, err := catalog.ParseStream(stream)
	if err != nil {
		panic(err)
	}
	return catalog.SignToken(secret, catalog.PurposePublish, st, exp)
}

// The publish check is catalog's token with the publish purpose (the
// token itself is tested there): a play token of the same stream does not
// open a publish, and each refusal has its metric reason.
func TestVerifySignature(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	st := catalog.Stream{App: "live", Name: "cam"}
	q := func(s string) url.Values {
		v, err := url.ParseQuery(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	good := signPublish("s3cret", "live/cam", now.Add(time.Minute))
	for name, tc := range map[string]struct {
		query  string
		now    time.Time
		reason string
	}{
		"good":    {good, now, ""},
		"play":    {catalog.SignToken("s3cret", catalog.PurposePlay, st, now.Add(time.Minute)), now, reasonBadSignature},
		"missing": {"", now, reasonMissingSignature},
		"expired": {good, now.Add(time.Hour), reasonExpired},
		"forged":  {"exp=1800000060&sig=" + strings.Repeat("ab", 32), now, reasonBadSignature},
	} {
		err := VerifySignature([]string{"other", "s3cret"}, st, q(tc.query), tc.now)
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.reason != "" && (err == nil || signatureReason(err) != tc.reason):
			t.Errorf("%s: %v, want reason %s", name, err, tc.reason)
		}
	}
}

func TestSignedPublish(t *testing.T) {
	t.Parallel()
	sink := newTestSink("rec")
	ts := startServer(t, Config{Auth: AuthConfig{Secrets: []string{"new-secret", "old-secret"}}}, sink)
	future := time.Now().Add(time.Hour)

	refused := map[string]string{
		"unsigned": ts.url("live/cam"),
		"expired":  ts.url("live/cam?" + signPublish("new-secret", "live/cam", time.Now().Add(-time.Minute))),
		"wrong":    ts.url("live/cam?" + signPublish("not-a-secret", "live/cam", future)),
		"other":    ts.url("live/cam?" + signPublish("new-secret", "live/other", future)),
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
	a := ffmpeg(t, ts.url("live/cam?"+signPublish("new-secret", "live/cam", future)), 1)
	b := ffmpeg(t, ts.url("live/cam2?"+signPublish("old-secret", "live/cam2", future)), 1)
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
	if err := ffmpeg(t, ts.url("live/cam?"+signPublish("k", "live/cam", time.Now().Add(time.Minute))), 1).wait(t); err != nil {
		t.Fatalf("signed publish: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("hook calls = %d, want 1", calls)
	}
}
