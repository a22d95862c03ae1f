package origin

import (
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
)

func TestPublish(t *testing.T) {
	t.Parallel()
	sink := newTestSink("rec")
	ts := startServer(t, Config{Node: "node1"}, sink)

	p := ffmpeg(t, ts.url("live/cam"), 3)
	waitFor(t, 10*time.Second, "live stream with frames", func() bool {
		live := ts.srv.Live()
		return len(live) == 1 && live[0].FramesIn > 10
	})
	live := ts.srv.Live()
	if l := live[0]; l.App != "live" || l.Name != "cam" || l.Dropped["rec"] != 0 || l.BytesIn == 0 {
		t.Errorf("Live() = %+v", live)
	}
	if got := ts.metric(t, "rewind_origin_publishers"); got != 1 {
		t.Errorf("publishers gauge = %v, want 1", got)
	}
	if err := p.wait(t); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	waitFor(t, 5*time.Second, "sink Close", func() bool {
		runs := sink.runsFor("live", "cam")
		return len(runs) == 1 && runs[0].closed
	})
	r := sink.runsFor("live", "cam")[0]
	if r.info.Node != "node1" || r.info.ClientAddr == "" || time.Since(r.info.StartedAt) > time.Minute {
		t.Errorf("media.StreamInfo = %+v", r.info)
	}
	if err := catalog.ValidRunID(r.info.Run); err != nil {
		t.Errorf("run id: %v", err)
	}
	// 3 s at 25 fps and ~43 AAC frames/s.
	if r.frames[media.FrameVideo] < 60 || r.frames[media.FrameAudio] < 100 || r.frames[media.FrameData] != 1 {
		t.Errorf("frames = %v, want ~75 video, ~130 audio, 1 data", r.frames)
	}
	// The first frames are the sequence headers and onMetaData.
	if v := r.firstVideo; len(v) < 2 || v[0] != 0x17 || v[1] != 0 {
		t.Errorf("first video frame is not an AVC sequence header: % x", v[:min(len(v), 8)])
	}
	if a := r.firstAudio; len(a) < 2 || a[0]>>4 != 10 || a[1] != 0 {
		t.Errorf("first audio frame is not an AAC sequence header: % x", a[:min(len(a), 8)])
	}
	if d := r.firstData; len(d) < 13 || string(d[3:13]) != "onMetaData" {
		t.Errorf("data frame is not onMetaData: %q", d[:min(len(d), 16)])
	}
	if got := ts.metric(t, "rewind_origin_publishes_total"); got != 1 {
		t.Errorf("publishes_total = %v", got)
	}
	if got := ts.metric(t, "rewind_origin_frames_in_total"); int(got) != r.frames[media.FrameVideo]+r.frames[media.FrameAudio]+r.frames[media.FrameData] {
		t.Errorf("frames_in_total = %v, sink saw %v", got, r.frames)
	}
	if got := ts.metric(t, "rewind_origin_bytes_in_total"); int(got) != r.bytes {
		t.Errorf("bytes_in_total = %v, sink saw %v", got, r.bytes)
	}
	waitFor(t, 5*time.Second, "connection gauge back to 0", func() bool {
		return ts.metric(t, "rewind_origin_connections") == 0 && ts.metric(t, "rewind_origin_publishers") == 0
	})
}
