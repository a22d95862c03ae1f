package httpjson

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestMuxMissesAreJSON(t *testing.T) {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/live/{app}/{name}", func(w http.ResponseWriter, r *http.Request) {
		Write(w, http.StatusOK, map[string]string{"ok": "yes"})
	})
	m.HandleFunc("/old/", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(Mux(m))
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/live/a/b", 200, ""},
		{"GET", "/v1/live/a", 404, "not_found"},
		{"GET", "/nothing", 404, "not_found"},
		{"PUT", "/v1/live/a/b", 405, "method_not_allowed"},
		{"DELETE", "/v1/live/a/b", 405, "method_not_allowed"},
		{"HEAD", "/nothing", 404, ""},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error, Code string }
		derr := json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, ct)
		}
		if tc.code != "" && (derr != nil || body.Code != tc.code || body.Error == "") {
			t.Errorf("%s %s: body %+v (%v), want code %s", tc.method, tc.path, body, derr, tc.code)
		}
		if tc.status == 405 && resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
		}
	}
}
