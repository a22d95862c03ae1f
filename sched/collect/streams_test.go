package collect

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// Reports are also counted per stream: the beacon's stream, CMCD's cid,
// or the replay path a CMCD request was on; the first MaxStreams names get
// series, the rest are other.
func TestPerStream(t *testing.T) {
	c, reg := newTestCollector(t, Config{QueueSize: 64, MaxStreams: 2})
	h := c.Handler()
	beacon := func(stream string) {
		body := `{"sid":"s1","cdn":"cdn-a","stream":"` + stream + `","events":[{"t":"start","ts":1764638400000,"first_frame_ms":900},` +
			`{"t":"error","ts":1764638400000,"code":"x"},{"t":"heartbeat","ts":1764638400000,"watched_ms":60000}]}`
		if w := do(h, "POST", "/v1/qos/beacon", "application/json", body, nil); w.Code != 204 {
			t.Fatalf("beacon: %d %s", w.Code, w.Body)
		}
	}
	beacon("live/cam1")
	beacon("live/cam1")
	// Two CMCD reports in one body, about two streams.
	body := "cid=\"live/cam2\",bsa=1,sid=\"v2\",ts=1764638400000\ncid=\"live/cam1\",bs,d=4000,ot=v,sid=\"v1\"\n"
	if w := do(h, "POST", "/v1/qos/cmcd?cdn=cdn-b", "application/cmcd", body, nil); w.Code != 204 {
		t.Fatalf("cmcd: %d %s", w.Code, w.Body)
	}
	beacon("live/cam3") // the third name: other
	// CMCD on a replay segment without a cid: the path names the stream.
	obs := c.Observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	if w := do(obs, "GET", "/hls/live/cam2/20261201T000000Z-n1-ab12/seg-3.ts?CMCD=bs%2Cd%3D2000%2Cot%3Dv", "", "", map[string]string{"X-Rewind-CDN": "cdn-a"}); w.Code != 200 {
		t.Fatalf("observe: %d", w.Code)
	}

	want := []StreamSnapshot{
		{Stream: "live/cam1", CDN: "cdn-a", Sessions: 2, Errors: 2, WatchedSeconds: 120},
		{Stream: "live/cam1", CDN: "cdn-b", Stalls: 1, WatchedSeconds: 4},
		{Stream: "live/cam2", CDN: "cdn-a", Stalls: 1, WatchedSeconds: 2},
		{Stream: "live/cam2", CDN: "cdn-b", Stalls: 1},
		{Stream: Other, CDN: "cdn-a", Sessions: 1, Errors: 1, WatchedSeconds: 60},
	}
	deadline := time.Now().Add(5 * time.Second)
	for got := c.Aggregator().Streams(); !slices.Equal(got, want); got = c.Aggregator().Streams() {
		if time.Now().After(deadline) {
			t.Fatalf("streams:\n got %+v\nwant %+v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := metricValue(t, reg, "rewind_qos_stream_sessions_total", map[string]string{"stream": "live/cam1", "cdn": "cdn-a"}); got != 2 {
		t.Errorf("rewind_qos_stream_sessions_total{live/cam1,cdn-a} = %v", got)
	}
	if got := metricValue(t, reg, "rewind_qos_stream_watched_seconds_total", map[string]string{"stream": Other, "cdn": "cdn-a"}); got != 60 {
		t.Errorf("rewind_qos_stream_watched_seconds_total{other,cdn-a} = %v", got)
	}
	// The (cdn, region) totals count every stream.
	var sessions uint64
	for _, s := range c.Aggregator().Snapshot() {
		sessions += s.FirstFrame.Count
	}
	if sessions != 3 {
		t.Errorf("sessions in the totals: %d, want 3", sessions)
	}
}
