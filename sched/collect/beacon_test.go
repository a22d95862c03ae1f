package collect

import (
	"errors"
	"strings"
	"testing"
)

const goodBeacon = `{"sid":"6e2fb550","cdn":"cdn-a","stream":"live/cam1","events":[
 {"t":"start","ts":1764638400000,"first_frame_ms":850},
 {"t":"stall","ts":1764638410000,"duration_ms":1200},
 {"t":"error","ts":1764638420000,"code":"NET-404"},
 {"t":"latency","ts":1764638430000,"ms":3400},
 {"t":"dropped","ts":1764638440000,"frames":12},
 {"t":"heartbeat","ts":1764638450000,"watched_ms":30000}],
 "push":{"cdn":"cdn-b","addr":"rtmp://push.b/live/cam1","publish_errors":1,"frames_dropped":30,"frames_sent":9000}}`

func TestParseBeaconGood(t *testing.T) {
	b, err := DecodeBeacon(strings.NewReader(goodBeacon))
	if err != nil {
		t.Fatal(err)
	}
	if b.SID != "6e2fb550" || b.CDN != "cdn-a" || b.Stream != "live/cam1" || len(b.Events) != 6 {
		t.Fatalf("got %+v", b)
	}
	if *b.Events[0].FirstFrameMS != 850 || *b.Events[1].DurationMS != 1200 || b.Events[2].Code != "NET-404" ||
		*b.Events[3].MS != 3400 || *b.Events[4].Frames != 12 || *b.Events[5].WatchedMS != 30000 {
		t.Fatalf("event values: %+v", b.Events)
	}
	if b.Push == nil || b.Push.CDN != "cdn-b" || b.Push.PublishErrors != 1 || b.Push.FramesDropped != 30 || b.Push.FramesSent != 9000 {
		t.Fatalf("push: %+v", b.Push)
	}
	if _, err := ParseBeacon([]byte(`{"sid":"s","push":{"publish_errors":2}}`)); err != nil {
		t.Fatalf("push-only beacon: %v", err)
	}
}

func TestParseBeaconBad(t *testing.T) {
	ev := func(e string) string { return `{"sid":"s1","events":[` + e + `]}` }
	many := strings.TrimSuffix(strings.Repeat(`{"t":"latency","ts":1,"ms":5},`, MaxBeaconEvents+1), ",")
	cases := []struct {
		name, body string
		want       error
	}{
		{"not json", `sid=1`, ErrNotJSON},
		{"truncated", `{"sid":"s1"`, ErrNotJSON},
		{"two values", `{"sid":"s1"} {}`, ErrNotJSON},
		{"array", `[1]`, ErrBadBeacon},
		{"unknown field", `{"sid":"s1","x":1,"events":[{"t":"latency","ts":1,"ms":5}]}`, ErrBadBeacon},
		{"no sid", `{"events":[{"t":"latency","ts":1,"ms":5}]}`, ErrBadBeacon},
		{"bad stream", `{"sid":"s1","stream":"../etc","events":[{"t":"latency","ts":1,"ms":5}]}`, ErrBadBeacon},
		{"empty", `{"sid":"s1"}`, ErrBadBeacon},
		{"unknown type", ev(`{"t":"seek","ts":1}`), ErrBadBeacon},
		{"missing value", ev(`{"t":"latency","ts":1}`), ErrBadBeacon},
		{"empty code", ev(`{"t":"error","ts":1,"code":""}`), ErrBadBeacon},
		{"string number", ev(`{"t":"latency","ts":1,"ms":"5"}`), ErrBadBeacon},
		{"float number", ev(`{"t":"latency","ts":1,"ms":5.5}`), ErrBadBeacon},
		{"negative ts", ev(`{"t":"latency","ts":-1,"ms":5}`), ErrAbsurd},
		{"negative latency", ev(`{"t":"latency","ts":1,"ms":-5}`), ErrAbsurd},
		{"latency over 1h", ev(`{"t":"latency","ts":1,"ms":3600001}`), ErrAbsurd},
		{"first frame over 10min", ev(`{"t":"start","ts":1,"first_frame_ms":600001}`), ErrAbsurd},
		{"stall longer than watched", ev(`{"t":"stall","ts":1,"duration_ms":5000},{"t":"heartbeat","ts":2,"watched_ms":4000}`), ErrAbsurd},
		{"stall without heartbeat", ev(`{"t":"stall","ts":1,"duration_ms":1}`), ErrAbsurd},
		{"negative bytes", ev(`{"t":"heartbeat","ts":1,"watched_ms":1000,"bytes":-1}`), ErrAbsurd},
		{"bytes over 1 TiB", ev(`{"t":"heartbeat","ts":1,"watched_ms":1000,"bytes":1099511627777}`), ErrAbsurd},
		{"bytes on a stall", ev(`{"t":"stall","ts":1,"duration_ms":1,"bytes":5},{"t":"heartbeat","ts":2,"watched_ms":4000}`), ErrBadBeacon},
		{"negative push", `{"sid":"s1","push":{"frames_dropped":-1}}`, ErrAbsurd},
		{"too many events", ev(many), ErrBeaconBig},
		{"too large", `{"sid":"` + strings.Repeat("a", MaxBeaconBytes) + `"}`, ErrBeaconBig},
	}
	for _, c := range cases {
		_, err := DecodeBeacon(strings.NewReader(c.body))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// FuzzBeacon: any body either decodes into a beacon within its bounds or
// fails with one of the typed errors; never a panic.
func FuzzBeacon(f *testing.F) {
	f.Add([]byte(goodBeacon))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := ParseBeacon(body)
		if err != nil {
			if !errors.Is(err, ErrNotJSON) && !errors.Is(err, ErrBadBeacon) && !errors.Is(err, ErrAbsurd) && !errors.Is(err, ErrBeaconBig) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(b.Events) > MaxBeaconEvents || len(b.SID) > 64 {
			t.Fatalf("bounds broken: %+v", b)
		}
		var stalled, watched int64
		for _, e := range b.Events {
			if e.TS < 0 {
				t.Fatalf("negative ts accepted")
			}
			if e.Bytes != nil && (e.T != "heartbeat" || *e.Bytes < 0 || *e.Bytes > maxBytes) {
				t.Fatalf("bytes %d on %q accepted", *e.Bytes, e.T)
			}
			if e.T == "stall" {
				stalled += *e.DurationMS
			}
			if e.T == "heartbeat" {
				watched += *e.WatchedMS
			}
		}
		if stalled > watched {
			t.Fatalf("stall %d > watched %d accepted", stalled, watched)
		}
	})
}
