package collect

import (
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestHLSJSStrings parses the CMCD that hls.js 1.7.4's own encoder
// produced (testdata/hlsjs/gen.mjs): each record sent as the CMCD= query
// must read back the same as when sent as CMCD-* headers, and the v2
// event lines must carry what was encoded.
func TestHLSJSStrings(t *testing.T) {
	raw, err := os.ReadFile("testdata/hlsjs/hlsjs_cmcd.txt")
	if err != nil {
		t.Fatal(err)
	}
	var queries []Report
	var events []string
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	for _, line := range lines {
		kind, rest, _ := strings.Cut(line, "\t")
		switch kind {
		case "query":
			r := httptest.NewRequest("GET", "/seg.ts?CMCD="+url.QueryEscape(rest), nil)
			rep, ok, err := ReportFromRequest(r)
			if err != nil || !ok {
				t.Fatalf("query %q: ok=%v %v", rest, ok, err)
			}
			queries = append(queries, rep)
		case "headers":
			r := httptest.NewRequest("GET", "/seg.ts", nil)
			for _, h := range strings.Split(rest, "\t") {
				k, v, _ := strings.Cut(h, ": ")
				r.Header.Set(k, v)
			}
			rep, ok, err := ReportFromRequest(r)
			if err != nil || !ok {
				t.Fatalf("headers %q: ok=%v %v", rest, ok, err)
			}
			if len(queries) == 0 {
				t.Fatal("headers line before its query line")
			}
			if q := queries[len(queries)-1]; !reflect.DeepEqual(q, rep) {
				t.Errorf("query and headers differ:\n query   %+v\n headers %+v", q, rep)
			}
		case "event":
			events = append(events, rest)
		default:
			t.Fatalf("unknown line kind %q", kind)
		}
	}
	if len(queries) != 8 || len(events) != 4 {
		t.Fatalf("%d queries, %d events: testdata changed?", len(queries), len(events))
	}
	for _, i := range []int{1, 5} { // the video segment, v1 and v2
		q := queries[i]
		if q.Bitrate != 3200 || q.BufferLength != 21300 || q.ObjectDuration != 4004 || q.MeasuredThroughput != 25400 ||
			q.ObjectType != "v" || !q.Startup || q.SessionID != "6e2fb550-c457-11e9-bb97-0800200c9a66" || q.StreamType != "l" {
			t.Errorf("segment record %d: %+v", i, q)
		}
	}
	if q := queries[6]; !q.BufferStarvation || q.PlaybackRate != 1.25 || q.Version != 2 {
		t.Errorf("starved record: %+v", q)
	}

	reps, err := ParseEventBody([]byte(strings.Join(events, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if reps[1].MediaStartDelay != 1250 || reps[1].Latency != 3400 || reps[2].StarvationCount != 2 ||
		reps[2].StarvationDuration != 1800 || reps[2].DroppedFrames != 12 || len(reps[3].ErrorCodes) != 2 || reps[3].State != "e" {
		t.Fatalf("events: %+v", reps)
	}
	a, _ := testAggregator(t, 16)
	a.AddCMCD("cdn-a", "eu", reps)
	a.AddCMCD("cdn-a", "eu", queries[:4])
	s := findSnapshot(t, a, "cdn-a", "eu")
	// stalls: bsa 2 + one bs; watched: 31 s of event gaps + 8.004 s of video segments.
	if s.Stalls != 3 || s.StalledSeconds != 1.8 || s.Errors != 2 || s.DroppedFrames != 12 || s.FirstFrame.Count != 1 || s.Latency.Count != 1 || s.WatchedSeconds != 39.004 {
		t.Fatalf("aggregate of hls.js reports: %+v", s)
	}
}
