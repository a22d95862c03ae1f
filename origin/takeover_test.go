package origin

import (
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
)

func TestTakeoverReject(t *testing.T) {
	t.Parallel()
	sink := newTestSink("rec")
	ts := startServer(t, Config{Takeover: TakeoverReject}, sink)

	first := ffmpeg(t, ts.url("live/cam"), 3)
	waitFor(t, 10*time.Second, "first publisher live", func() bool {
		l := ts.srv.Live()
		return len(l) == 1 && l[0].FramesIn > 5
	})
	if err := ffmpeg(t, ts.url("live/cam"), 1).wait(t); err == nil {
		t.Fatal("second publisher of a live stream was accepted")
	}
	if err := first.wait(t); err != nil {
		t.Fatalf("first publisher: %v", err)
	}
	waitFor(t, 5*time.Second, "run closed", func() bool {
		r := sink.runsFor("live", "cam")
		return len(r) == 1 && r[0].closed
	})
	if r := sink.runsFor("live", "cam")[0]; r.frames[media.FrameVideo] < 60 {
		t.Errorf("first publisher frames = %v", r.frames)
	}
	if got := ts.metric(t, "rewind_origin_rejected_total", "reason", "takeover"); got != 1 {
		t.Errorf("rejected_total{takeover} = %v", got)
	}
	// The stream is free again once the first run ended.
	if err := ffmpeg(t, ts.url("live/cam"), 0.5).wait(t); err != nil {
		t.Fatalf("publish after the first ended: %v", err)
	}
}

func TestTakeoverReplace(t *testing.T) {
	t.Parallel()
	sink := newTestSink("rec")
	slow := newTestSink("slow")
	slow.delay = 2 * time.Millisecond // closes a little later: the hand-over must wait for it
	ts := startServer(t, Config{Takeover: TakeoverReplace}, sink, slow)

	first := ffmpeg(t, ts.url("live/cam"), 10)
	waitFor(t, 10*time.Second, "first publisher live", func() bool {
		l := ts.srv.Live()
		return len(l) == 1 && l[0].FramesIn > 20
	})
	second := ffmpeg(t, ts.url("live/cam"), 2)
	if err := first.wait(t); err == nil {
		t.Error("first publisher was not disconnected")
	}
	if d := first.duration(); d > 8*time.Second {
		t.Errorf("first publisher ran %s, should have been cut off", d)
	}
	if err := second.wait(t); err != nil {
		t.Fatalf("second publisher: %v", err)
	}
	for _, s := range []*testSink{sink, slow} {
		waitFor(t, 5*time.Second, "both runs closed", func() bool {
			r := s.runsFor("live", "cam")
			return len(r) == 2 && r[0].closed && r[1].closed
		})
		runs, events := s.snapshot()
		if runs[0].info.Run == runs[1].info.Run || runs[0].info.Run > runs[1].info.Run {
			t.Errorf("%s: run ids %q then %q: want distinct and increasing", s.name, runs[0].info.Run, runs[1].info.Run)
		}
		want := []string{"open " + runs[0].info.Run, "close " + runs[0].info.Run, "open " + runs[1].info.Run, "close " + runs[1].info.Run}
		for i, e := range events {
			if got := e.kind + " " + e.run; i >= len(want) || got != want[i] {
				t.Errorf("%s: event %d = %q, want order %q", s.name, i, got, want)
			}
		}
		if runs[1].frames[media.FrameVideo] < 40 || runs[1].firstVideo[1] != 0 {
			t.Errorf("%s: second run frames = %v", s.name, runs[1].frames)
		}
	}
	if got := ts.metric(t, "rewind_origin_publishes_total"); got != 2 {
		t.Errorf("publishes_total = %v", got)
	}
}
