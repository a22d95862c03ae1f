package vodapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Every error answer is JSON, routing misses and static files included.
func TestErrorsAreJSON(t *testing.T) {
	a := newAPI(t, Config{})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/web/nope.js", 404},
		{"GET", "/web/", 404},
		{"GET", "/web/vendor/", 404},
		{"GET", "/web/../openapi.json", 404},
		{"GET", "/nothing/here", 404},
		{"PUT", "/hls/live/cam/index.m3u8", 405},
		{"DELETE", "/v1/streams", 405},
		{"PATCH", "/v1/clips", 405},
	} {
		req, _ := http.NewRequest(tc.method, a.ts.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error, Code string }
		derr := json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || derr != nil || body.Code == "" {
			t.Errorf("%s %s: %d %q %+v (%v), want %d JSON", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, derr, tc.status)
		}
	}
	// The files themselves are still served.
	resp, err := http.Get(a.ts.URL + "/web/vendor/hls.light.min.js")
	if err == nil {
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("a vendored file: %v %v", err, resp)
	}
}
