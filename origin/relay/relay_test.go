package relay

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
	"github.com/rewind-vod/rewind/origin"
)

func TestParseRule(t *testing.T) {
	good := map[string]Rule{
		"live=rtmp://cdn.example/app/{name}":            {Match: "live", Target: "rtmp://cdn.example/app/{name}"},
		"*=rtmp://cdn:1936/{app}/{name}?key=s3cret":     {Match: "*", Target: "rtmp://cdn:1936/{app}/{name}?key=s3cret"},
		" live/cam = rtmp://a.example/live/cam_backup ": {Match: "live/cam", Target: "rtmp://a.example/live/cam_backup"},
	}
	for in, want := range good {
		if got, err := ParseRule(in); err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{
		"rtmp://cdn/app/name",                // no match
		"live=http://cdn/app/name",           // not rtmp
		"live=rtmp:///app/name",              // no host
		"live=rtmp://cdn/app",                // no name
		"li ve=rtmp://cdn/app/{name}",        // bad app
		"live/c..am=rtmp://cdn/app/{name}",   // bad stream
		"live=rtmp://cdn/app/{name}?key=abc", // fine, but...
	}[:6] {
		if _, err := ParseRule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, bad := range []string{"live=rtmp://cdn/app?key=s3cret", "live=rtmp://cd n/app/{name}?key=s3cret"} {
		if _, err := ParseRule(bad); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: a bad target's error must not leak its query: %v", bad, err)
		}
	}
}

// A relay pushes the stream to a second origin standing in for a CDN. When
// that origin dies, the first goes on recording; when it comes back, the
// relay reconnects and the second origin gets a new run from a keyframe.
func TestRelayToSecondOrigin(t *testing.T) {
	recB := newTestSink("recB")
	b := startServer(t, origin.Config{Node: "cdn"}, recB)
	var resMu sync.Mutex
	results := map[string]Result{} // by target address, summed
	relay, err := New(Config{
		Rules:      []Rule{{Match: "live", Target: "rtmp://" + b.addr + "/edge/{name}_copy"}},
		MinBackoff: 200 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Timeout: 3 * time.Second,
		Results: func(addr string, r Result) {
			resMu.Lock()
			defer resMu.Unlock()
			sum := results[addr]
			sum.Failures += r.Failures
			sum.Reconnects += r.Reconnects
			sum.Dropped += r.Dropped
			results[addr] = sum
		},
	}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	recA := newTestSink("recA")
	a := startServer(t, origin.Config{}, recA, relay)
	pub := ffmpeg(t, a.url("live/cam"), 14)

	waitFor(t, 8*time.Second, "relayed run on B", func() bool {
		r := recB.runsFor("edge", "cam_copy")
		return len(r) == 1 && r[0].frames[media.FrameVideo] > 50
	})
	var status []origin.RelayStatus
	waitFor(t, 3*time.Second, "relay status", func() bool {
		live := a.srv.Live()
		if len(live) == 1 {
			status = live[0].Relays
		}
		return len(status) == 1 && status[0].State == statePublishing && status[0].BytesOut > 0
	})
	if !strings.HasSuffix(status[0].Target, "/edge/cam_copy") {
		t.Errorf("relay target shown as %q", status[0].Target)
	}

	// The CDN dies mid-stream.
	b.stop()
	waitFor(t, 5*time.Second, "relay noticed", func() bool {
		live := a.srv.Live()
		return len(live) == 1 && len(live[0].Relays) == 1 && live[0].Relays[0].State != statePublishing
	})
	time.Sleep(1500 * time.Millisecond) // a few failed reconnects
	// It comes back on the same address.
	recB2 := newTestSink("recB2")
	startServerAt(t, b.addr, origin.Config{Node: "cdn"}, recB2)
	waitFor(t, 8*time.Second, "relay reconnected", func() bool {
		r := recB2.runsFor("edge", "cam_copy")
		return len(r) == 1 && r[0].frames[media.FrameVideo] > 25
	})
	// The scheduler hears of the outage as faults of that target.
	resMu.Lock()
	got, n := results[b.addr], len(results)
	resMu.Unlock()
	if got.Failures < 1 || got.Reconnects != 1 || n != 1 {
		t.Errorf("results reported %+v, want failures and one reconnect for %s", results, b.addr)
	}
	if err := pub.wait(t); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "runs closed", func() bool {
		ra, rb := recA.runsFor("live", "cam"), recB2.runsFor("edge", "cam_copy")
		return len(ra) == 1 && ra[0].closed && len(rb) == 1 && rb[0].closed
	})

	// The source recorded every frame it received, untouched by the outage.
	ra := recA.runsFor("live", "cam")[0]
	in := a.metric(t, "rewind_origin_frames_in_total")
	if got := ra.frames[media.FrameVideo] + ra.frames[media.FrameAudio] + ra.frames[media.FrameData]; float64(got) != in {
		t.Errorf("source recorded %d of %v frames", got, in)
	}
	if pub.duration() > 17*time.Second {
		t.Errorf("a 14 s publish took %v: the relay outage slowed ingest", pub.duration())
	}
	// Both copies start with the headers and a keyframe.
	for name, r := range map[string]runRec{"first": recB.runsFor("edge", "cam_copy")[0], "after reconnect": recB2.runsFor("edge", "cam_copy")[0]} {
		if !media.IsAVCSeqHeader(r.firstVideo) || !media.IsAACSeqHeader(r.firstAudio) {
			t.Errorf("%s copy does not start with the sequence headers", name)
		}
		if !media.IsVideoKeyframe(r.firstPicture) {
			t.Errorf("%s copy does not start on a keyframe", name)
		}
		if r.firstData == nil {
			t.Errorf("%s copy got no metadata", name)
		}
	}
}

// Drops reach Config.Results from the push's goroutine, in batches: the
// publisher's offer only counts them.
func TestDropsReportedInBatches(t *testing.T) {
	var got []Result
	rl, err := New(Config{Results: func(addr string, r Result) {
		if addr != "cdn.example:1935" {
			t.Errorf("reported for %q", addr)
		}
		got = append(got, r)
	}}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &pusher{rs: &stream{r: rl}, target: target{addr: "cdn.example:1935"}, ch: make(chan media.Frame, 1)}
	p.setState(statePublishing)
	for range 3 {
		p.offer(media.Frame{Type: media.FrameAudio})
	}
	if len(got) != 0 {
		t.Fatalf("offer reported %v itself", got)
	}
	p.reportDrops()
	p.reportDrops() // nothing new
	if len(got) != 1 || got[0] != (Result{Dropped: 2}) {
		t.Errorf("reported %v, want one batch of 2 drops", got)
	}
	p.setState("")
}
