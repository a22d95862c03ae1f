package steer

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkManifest is one steering manifest answer, handler only (the
// HTTP stack is in bench/steer).
func BenchmarkManifest(b *testing.B) {
	cfg := testConfig()
	cfg.Pathways = append(cfg.Pathways, Pathway{ID: "cdn-e", HLSBase: "https://e.example.net", CloneOf: "cdn-a", CloneParams: map[string]string{"cdn": "e"}})
	ts := newTestServer(&testing.T{}, cfg)
	ts.rk.set("eu", []string{"cdn-a", "cdn-e", "cdn-b", "cdn.c_1"}, nil)
	target := "/v1/steer/manifest?v=1&stream=live/cam&pathways=cdn-a,cdn-b,cdn.c_1&session=6e2fb550c45711e9bb970800200c9a66&_HLS_pathway=cdn-a&_HLS_throughput=5000000"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("X-Region", "eu")
		for pb.Next() {
			w := httptest.NewRecorder()
			ts.h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
}
