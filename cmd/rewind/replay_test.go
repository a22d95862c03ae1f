package main

import (
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/queue/embedded"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/vodapi"
)

// --api-tokens (here from the environment, as REWIND_API_TOKENS) reaches the
// API: a clip submit without a bearer is refused, one with either token
// gets past the credential check (to the body's validation).
func TestAPITokensFlag(t *testing.T) {
	fs := flag.NewFlagSet("vodapi", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f, _ := newReplaySettings(fs)
	t.Setenv("REWIND_API_TOKENS", "tok-a, tok-b")
	if err := parseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	q, err := embedded.Open(t.TempDir(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	api, err := vodapi.New(replayConfig(f.API, q), st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	ts := httptest.NewServer(api.Handler())
	defer ts.Close()
	for auth, want := range map[string]int{"": 403, "Bearer tok-c": 403, "Bearer tok-a": 400, "Bearer tok-b": 400} {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/clips", strings.NewReader(`{}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", auth, resp.StatusCode, want)
		}
	}
}
