package origin

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
)

// TestLongStreamTimestamps publishes with FFmpeg from past 0xFFFFFF ms
// (4.66 h) of stream time. FFmpeg sends deltas after the first message of
// each chunk stream, but our wire layer hands go-rtmp every message as a
// fmt 0 chunk with an absolute timestamp, so from there on each one needs
// the extended field: go-rtmp must read them all, with their timestamps.
// (Extended timestamps on fmt 3 chunks, which FFmpeg sends only when a
// delta passes the limit, are covered by the rtmpwire tests.)
func TestLongStreamTimestamps(t *testing.T) {
	t.Parallel()
	sink := newTestSink("rec")
	ts := startServer(t, Config{}, sink)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "3",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac",
		"-output_ts_offset", "16780", "-f", "flv", ts.url("live/long")).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	waitFor(t, 5*time.Second, "run closed", func() bool {
		r := sink.runsFor("live", "long")
		return len(r) == 1 && r[0].closed
	})
	r := sink.runsFor("live", "long")[0]
	// 75 pictures plus the sequence header and end of sequence.
	if r.frames[media.FrameVideo] != 77 || r.frames[media.FrameAudio] < 125 {
		t.Errorf("frames %v, want 77 video and ~129 audio", r.frames)
	}
	for _, ft := range []media.FrameType{media.FrameVideo, media.FrameAudio} {
		if last := r.lastTS[ft]; last < 16780000 || last > 16785000 {
			t.Errorf("last %s timestamp %d, want about 16783000", ft, last)
		}
	}
}
