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
