package origin

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
)

// The players of a pulled stream go on when the stream's publisher on
// the live node comes back within the grace with a new configuration: the
// pull is a player of the live node and stays connected, so node B's
// players get the new run through the same upstream, on one timeline,
// from a keyframe after the new header. When no one comes back, the live
// node closes the pull after its grace and B's players end.
func TestPulledStreamGoesOn(t *testing.T) {
	const grace = 2 * time.Second
	a := newPullNode(t, PlayersConfig{ReconnectGrace: grace})
	stop1 := synthPublish(t, a.players, "live", "cam")
	loc := newLocator("live/cam", testNode("node_a", a.http.addr))
	b := newPullNode(t, PlayersConfig{Upstreams: loc, Self: "node_b", PullTimeout: 3 * time.Second})
	pl := playFLV(t, b.http.url+"/live/cam.flv")
	pl.waitFrames(t, 20)

	stop1() // what A's origin does when the publisher drops
	time.Sleep(300 * time.Millisecond)
	avc2 := bytes.Clone(synthAVCHdr)
	avc2[len(avc2)-1] = 0x99
	stop2 := synthPublishHdr(t, a.players, "live", "cam", avc2)
	waitFor(t, 10*time.Second, "the second run on B", func() bool {
		n := 0
		for _, f := range pl.snapshot() {
			if n > 0 || (f.Type == media.FrameVideo && bytes.Equal(f.Payload, avc2)) {
				n++
			}
		}
		return n > 40
	})
	stop2()
	gone := time.Now()
	if err := pl.waitEnded(t, grace+5*time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("B's player: %v, want a clean end", err)
	}
	if d := time.Since(gone); d < grace-300*time.Millisecond {
		t.Errorf("B's player ended %s after the publisher, before A's grace", d)
	}
	if n := a.http.pulls.Load(); n != 1 {
		t.Errorf("%d pull requests to A, want the one", n)
	}

	frames := pl.snapshot()
	checkStartsOnKeyframe(t, frames)
	var (
		last       uint32
		seen, swap bool
	)
	for i, f := range frames {
		if f.Type == media.FrameData {
			continue
		}
		if seen && int32(f.Timestamp-last) < 0 {
			t.Errorf("frame %d at %d ms after %d ms", i, f.Timestamp, last)
		}
		if f.Type == media.FrameVideo && bytes.Equal(f.Payload, avc2) && !swap {
			swap = true
			if step := f.Timestamp - last; step > spliceStepMax {
				t.Errorf("the second run starts %d ms after the first, want at most %d", step, spliceStepMax)
			}
			if next := nextVideo(frames[i+1:]); next == nil || !media.IsVideoKeyframe(next.Payload) {
				t.Errorf("the picture after the new configuration is not a keyframe")
			}
		}
		seen, last = true, f.Timestamp
	}
	if !swap {
		t.Error("B's player never got the new configuration")
	}
}

func nextVideo(fs []media.Frame) *media.Frame {
	for i := range fs {
		if fs[i].Type == media.FrameVideo {
			return &fs[i]
		}
	}
	return nil
}

// Players.Close (the node stops) ends players waiting for a publisher at
// once; from then on players end with their run.
func TestPlayersCloseEndsWait(t *testing.T) {
	n := newPullNode(t, PlayersConfig{ReconnectGrace: time.Minute})
	stop := synthPublish(t, n.players, "live", "cam")
	pl := playFLV(t, n.http.url+"/live/cam.flv")
	pl.waitFrames(t, 10)
	stop()
	time.Sleep(300 * time.Millisecond)
	select {
	case <-pl.done:
		t.Fatal("the player did not wait")
	default:
	}
	if code, _ := getStatus(t, n.http.url+"/live/cam.flv"); code != 404 {
		t.Errorf("a new player while the players wait: %d, want 404", code)
	}
	start := time.Now()
	n.players.Close()
	if err := pl.waitEnded(t, 2*time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("waiting player at Close: %v", err)
	}
	t.Logf("closed %s after Close", time.Since(start))

	stop = synthPublish(t, n.players, "live", "cam")
	again := playFLV(t, n.http.url+"/live/cam.flv")
	again.waitFrames(t, 10)
	stop()
	if err := again.waitEnded(t, 2*time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("player of a run after Close: %v, want it to end with the run", err)
	}
}
