package thumb

import (
	"context"
	"errors"
	"math/rand"
	"sync"
	"testing"
	"time"
)

func TestFrameSize(t *testing.T) {
	seg, _ := segments(t)
	for _, tc := range []struct {
		width, wantW, wantH int
	}{
		{160, 160, 120},
		{0, 320, 240},
		{101, 100, 76}, // odd widths round down to even; 75 rounds to the even 76
	} {
		jpg, err := Frame(context.Background(), seg, time.Second, Options{Width: tc.width})
		if err != nil {
			t.Fatalf("width %d: %v", tc.width, err)
		}
		if !isJPEG(jpg) {
			t.Fatalf("width %d: not FFD8...FFD9: % x ... % x", tc.width, jpg[:min(4, len(jpg))], jpg[max(0, len(jpg)-2):])
		}
		codec, w, h := probeJPEG(t, jpg)
		if codec != "mjpeg" || w != tc.wantW || h != tc.wantH {
			t.Errorf("width %d: ffprobe says %s %dx%d, want mjpeg %dx%d", tc.width, codec, w, h, tc.wantW, tc.wantH)
		}
	}
}

func TestFrameQuality(t *testing.T) {
	seg, _ := segments(t)
	size := func(q int) int {
		jpg, err := Frame(context.Background(), seg, 0, Options{Quality: q})
		if err != nil {
			t.Fatalf("quality %d: %v", q, err)
		}
		return len(jpg)
	}
	best, def, worst := size(2), size(0), size(31)
	if !(best > def && def > worst) {
		t.Errorf("sizes at qscale 2, default, 31: %d, %d, %d; want decreasing", best, def, worst)
	}
	if def != size(4) {
		t.Errorf("default quality is not 4")
	}
}

// TestFramePicture compares against ffmpeg's own keyframe-only decode: the
// still must be the keyframe at or before at, and not one 2 s away.
func TestFramePicture(t *testing.T) {
	seg, _ := segments(t)
	offsets, pics := refKeyframes(t, writeTemp(t, "seg.ts", seg))
	if len(pics) != 4 {
		t.Fatalf("fixture has %d keyframes, want 4", len(pics))
	}
	for _, at := range []time.Duration{0, 999 * time.Millisecond, time.Second, 2500 * time.Millisecond, 3900 * time.Millisecond, time.Hour, -time.Second} {
		want := 0
		for i, off := range offsets {
			if off <= at {
				want = i
			}
		}
		jpg, err := Frame(context.Background(), seg, at, Options{Width: 160})
		if err != nil {
			t.Fatalf("at %v: %v", at, err)
		}
		img := decodeImage(t, jpg)
		got := gray(img, img.Bounds())
		diffs := make([]float64, len(pics))
		for i, p := range pics {
			diffs[i] = meanAbsDiff(got, gray(p, p.Bounds()))
		}
		t.Logf("at %v: want keyframe %d; mean abs diff to each: %.2f", at, want, diffs)
		if diffs[want] > 3 {
			t.Errorf("at %v: mean abs diff %.2f from ffmpeg's keyframe %d, want <= 3", at, diffs[want], want)
		}
		// Every other keyframe, 2 s away included, must be clearly further.
		for i, d := range diffs {
			if i != want && (d < 2*diffs[want] || d < 4) {
				t.Errorf("at %v: keyframe %d is as close (%.2f) as keyframe %d (%.2f)", at, i, d, want, diffs[want])
			}
		}
	}
}

func TestFrameNoVideo(t *testing.T) {
	_, audio := segments(t)
	if _, err := Frame(context.Background(), audio, 0, Options{}); !errors.Is(err, ErrNoVideo) {
		t.Fatalf("audio-only: got %v, want ErrNoVideo", err)
	}
}

func TestFrameBadInput(t *testing.T) {
	seg, _ := segments(t)
	rnd := rand.New(rand.NewSource(1))
	junk := make([]byte, 64<<10)
	rnd.Read(junk)
	// Sync bytes every 188 with random payloads get past the packet-size probe.
	ts := make([]byte, 188*200)
	rnd.Read(ts)
	for i := 0; i < len(ts); i += 188 {
		ts[i] = 0x47
	}
	flipped := append([]byte(nil), seg...)
	for i := 0; i < 2000; i++ {
		flipped[rnd.Intn(len(flipped))] ^= byte(1 + rnd.Intn(255))
	}
	for name, in := range map[string][]byte{
		"nil":       nil,
		"junk":      junk,
		"ts junk":   ts,
		"text":      []byte("#EXTM3U\n#EXT-X-VERSION:3\n"),
		"truncated": seg[:len(seg)/7],
		"head":      seg[:1000],
		"flipped":   flipped,
	} {
		jpg, err := Frame(context.Background(), in, time.Second, Options{Width: 64})
		t.Logf("%s: %d bytes, %v", name, len(jpg), err)
		switch name {
		case "nil", "junk", "ts junk", "text", "head":
			if err == nil {
				t.Errorf("%s: no error", name)
			}
		}
		if err == nil && !isJPEG(jpg) {
			t.Errorf("%s: no error and no JPEG", name)
		}
	}
}

func TestFrameOptions(t *testing.T) {
	seg, _ := segments(t)
	for _, opt := range []Options{{Width: -2}, {Width: maxSide + 2}, {Quality: -1}, {Quality: 32}} {
		if _, err := Frame(context.Background(), seg, 0, opt); err == nil {
			t.Errorf("%+v: no error", opt)
		}
	}
}

func TestFrameCancelled(t *testing.T) {
	seg, _ := segments(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Frame(ctx, seg, time.Hour, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := Frame(ctx, seg, time.Hour, Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
}

// TestFrameConcurrent runs stills in parallel: the custom IO callbacks and
// libav contexts must not share state between calls.
func TestFrameConcurrent(t *testing.T) {
	seg, _ := segments(t)
	want, err := Frame(context.Background(), seg, 2*time.Second, Options{Width: 96})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				got, err := Frame(context.Background(), seg, 2*time.Second, Options{Width: 96})
				if err != nil || string(got) != string(want) {
					t.Errorf("concurrent still differs (err %v)", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
