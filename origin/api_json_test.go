package origin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Routing misses of the live API answer JSON like its handlers do.
func TestLiveAPIMissesAreJSON(t *testing.T) {
	ts := startServer(t, Config{}, newTestSink("rec"))
	api := httptest.NewServer(ts.srv.APIHandler("s3cret"))
	defer api.Close()
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/live/onlyapp", 404},
		{"GET", "/v1/live/a/b/c", 404},
		{"PUT", "/v1/live/live/cam", 405},
		{"POST", "/readyz", 405},
	} {
		code, body := apiCall(t, tc.method, api.URL+tc.path, "s3cret")
		var e struct{ Error, Code string }
		if code != tc.status || json.Unmarshal(body, &e) != nil || e.Code == "" {
			t.Errorf("%s %s: %d %q, want %d JSON", tc.method, tc.path, code, body, tc.status)
		}
	}
	if code, _ := apiCall(t, http.MethodGet, api.URL+"/readyz", ""); code != 200 {
		t.Errorf("readyz: %d", code)
	}
}

// The console on another host may call the live API from a browser only
// when its origin is allowed: the preflight, then the call with the token.
func TestLiveAPICORS(t *testing.T) {
	ts := startServer(t, Config{AdminCORSOrigins: []string{"https://console.example"}}, newTestSink("rec"))
	api := httptest.NewServer(ts.srv.APIHandler("s3cret"))
	defer api.Close()
	do := func(method, origin string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(method, api.URL+"/v1/live", nil)
		req.Header.Set("Origin", origin)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	pre := do(http.MethodOptions, "https://console.example", "Access-Control-Request-Method", "DELETE", "Access-Control-Request-Headers", "authorization")
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "https://console.example" ||
		pre.Header.Get("Access-Control-Allow-Headers") == "" || pre.Header.Get("Access-Control-Allow-Methods") == "" {
		t.Fatalf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	if r := do(http.MethodGet, "https://console.example", "Authorization", "Bearer s3cret"); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://console.example" {
		t.Fatalf("allowed call: %d %v", r.StatusCode, r.Header)
	}
	// Still the token: CORS opens the door to the page, not the API.
	if r := do(http.MethodGet, "https://console.example"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("allowed origin without the token: %d", r.StatusCode)
	}
	if r := do(http.MethodGet, "https://evil.example", "Authorization", "Bearer s3cret"); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin allowed: %v", r.Header)
	}
	if r := do(http.MethodOptions, "https://evil.example", "Access-Control-Request-Method", "GET"); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin's preflight allowed: %v", r.Header)
	}
}
