package origin

import (
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
)

func TestParseRelayRule(t *testing.T) {
	good := map[string]RelayRule{
		"live=rtmp://cdn.example/app/{name}":            {Match: "live", Target: "rtmp://cdn.example/app/{name}"},
		"*=rtmp://cdn:1936/{app}/{name}?key=s3cret":     {Match: "*", Target: "rtmp://cdn:1936/{app}/{name}?key=s3cret"},
		" live/cam = rtmp://a.example/live/cam_backup ": {Match: "live/cam", Target: "rtmp://a.example/live/cam_backup"},
	}
	for in, want := range good {
		if got, err := ParseRelayRule(in); err != nil || got != want {
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
		if _, err := ParseRelayRule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseRelayRule("live=rtmp://cdn/app?key=s3cret"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a bad target's error must not leak its query: %v", err)
	}
}

// A relay pushes the stream to a second origin standing in for a CDN. When
// that origin dies, the first goes on recording; when it comes back, the
// relay reconnects and the second origin gets a new run from a keyframe.
func TestRelayToSecondOrigin(t *testing.T) {
	recB := newTestSink("recB")
	b := startServer(t, Config{Node: "cdn"}, recB)
	relay, err := NewRelay(RelayConfig{
		Rules:      []RelayRule{{Match: "live", Target: "rtmp://" + b.addr + "/edge/{name}_copy"}},
		MinBackoff: 200 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Timeout: 3 * time.Second,
	}, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	recA := newTestSink("recA")
	a := startServer(t, Config{}, recA, relay)
	pub := ffmpeg(t, a.url("live/cam"), 14)

	waitFor(t, 8*time.Second, "relayed run on B", func() bool {
		r := recB.runsFor("edge", "cam_copy")
		return len(r) == 1 && r[0].frames[media.FrameVideo] > 50
	})
	var status []RelayStatus
	waitFor(t, 3*time.Second, "relay status", func() bool {
		live := a.srv.Live()
		if len(live) == 1 {
			status = live[0].Relays
		}
		return len(status) == 1 && status[0].State == relayPublishing && status[0].BytesOut > 0
	})
	if !strings.HasSuffix(status[0].Target, "/edge/cam_copy") {
		t.Errorf("relay target shown as %q", status[0].Target)
	}

	// The CDN dies mid-stream.
	b.stop()
	waitFor(t, 5*time.Second, "relay noticed", func() bool {
		live := a.srv.Live()
		return len(live) == 1 && len(live[0].Relays) == 1 && live[0].Relays[0].State != relayPublishing
	})
	time.Sleep(1500 * time.Millisecond) // a few failed reconnects
	// It comes back on the same address.
	recB2 := newTestSink("recB2")
	startServerAt(t, b.addr, Config{Node: "cdn"}, recB2)
	waitFor(t, 8*time.Second, "relay reconnected", func() bool {
		r := recB2.runsFor("edge", "cam_copy")
		return len(r) == 1 && r[0].frames[media.FrameVideo] > 25
	})
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
		if !isSeqHeader(media.Frame{Type: media.FrameVideo, Payload: r.firstVideo}) || !isSeqHeader(media.Frame{Type: media.FrameAudio, Payload: r.firstAudio}) {
			t.Errorf("%s copy does not start with the sequence headers", name)
		}
		if !isKeyframe(media.Frame{Type: media.FrameVideo, Payload: r.firstPicture}) {
			t.Errorf("%s copy does not start on a keyframe", name)
		}
		if r.firstData == nil {
			t.Errorf("%s copy got no metadata", name)
		}
	}
}
