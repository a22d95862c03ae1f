package collect

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestObserve(t *testing.T) {
	c, reg := newTestCollector(t, Config{QueueSize: 8})
	served := 0
	h := c.Observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		w.WriteHeader(http.StatusOK)
	}))
	for _, tc := range []struct {
		target string
		hdr    map[string]string
	}{
		{"/v1/streams/live/cam1/seg/1.ts?CMCD=bs%2Cd%3D4000%2Cot%3Dv", map[string]string{"X-Rewind-CDN": "cdn-a"}},
		{"/v1/streams/live/cam1/seg/2.ts", map[string]string{"X-Rewind-CDN": "cdn-a", "CMCD-Status": "bs"}},
		{"/v1/streams/live/cam1/seg/3.ts?CMCD=br%3Dx", nil}, // malformed: counted, still served
		{"/v1/streams/live/cam1/index.m3u8", nil},           // no CMCD: nothing counted
	} {
		if w := do(h, "GET", tc.target, "", "", tc.hdr); w.Code != 200 {
			t.Fatalf("%s: %d", tc.target, w.Code)
		}
	}
	if served != 4 {
		t.Fatalf("served %d of 4", served)
	}
	waitFor(t, c, func(ss []Snapshot) bool {
		return len(ss) == 1 && ss[0].CDN == "cdn-a" && ss[0].Region == "us" && ss[0].Stalls == 2 && ss[0].WatchedSeconds == 4
	})
	if got := metricValue(t, reg, "rewind_qos_reports_dropped_total", map[string]string{"reason": DropMalformed}); got != 1 {
		t.Fatalf("dropped{malformed} = %v", got)
	}

	// A full queue sheds the report, never the segment.
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	c.beforeApply = func() {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}
	r := httptest.NewRequest("GET", "/seg.ts?CMCD=bs", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	<-entered
	for range 8 + 20 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/seg.ts?CMCD=bs", nil))
	}
	close(release)
	if served != 4+1+28 {
		t.Fatalf("served %d", served)
	}
	if got := metricValue(t, reg, "rewind_qos_reports_dropped_total", map[string]string{"reason": DropOverload}); got != 20 {
		t.Fatalf("dropped{overload} = %v, want 20", got)
	}
}
