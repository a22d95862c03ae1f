package thumb

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/mediatest"
)

var hevcFixture struct {
	once sync.Once
	seg  []byte
	err  string
}

// hevcSegment returns a 4 s 320x240 MPEG-TS segment as the recorder keeps
// an enhanced-RTMP HEVC publish: libx265 with B-frames, a closed GOP of
// 1 s, VPS/SPS/PPS before every keyframe, AAC.
func hevcSegment(t testing.TB) []byte {
	t.Helper()
	mediatest.Require(t)
	hevcFixture.once.Do(func() {
		dir, err := os.MkdirTemp("", "thumb-hevc")
		if err != nil {
			hevcFixture.err = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "hevc.ts")
		args := []string{"-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "4",
			"-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
			"-x265-params", "log-level=error:keyint=25:min-keyint=25:scenecut=0:open-gop=0:bframes=2",
			"-c:a", "aac", "-f", "mpegts", "-y", out}
		if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			hevcFixture.err = "ffmpeg: " + err.Error() + "\n" + string(b)
			return
		}
		hevcFixture.seg, err = os.ReadFile(out)
		if err != nil {
			hevcFixture.err = err.Error()
		}
	})
	if hevcFixture.err != "" {
		t.Fatal(hevcFixture.err)
	}
	return hevcFixture.seg
}

// TestFrameHEVC: stills of an HEVC segment are the keyframe at or before
// the asked offset, as ffmpeg decodes it, at the asked size.
func TestFrameHEVC(t *testing.T) {
	seg := hevcSegment(t)
	offsets, pics := refKeyframes(t, writeTemp(t, "hevc.ts", seg))
	if len(pics) != 4 {
		t.Fatalf("fixture has %d keyframes, want 4", len(pics))
	}
	for _, at := range []time.Duration{0, 999 * time.Millisecond, 2500 * time.Millisecond, time.Hour} {
		want := 0
		for i, off := range offsets {
			if off <= at {
				want = i
			}
		}
		for _, width := range []int{0, 160} {
			jpg, err := Frame(context.Background(), seg, at, Options{Width: width})
			if err != nil {
				t.Fatalf("at %v: %v", at, err)
			}
			wantW, wantH := 320, 240
			if width != 0 {
				wantW, wantH = 160, 120
			}
			if codec, w, h := probeJPEG(t, jpg); codec != "mjpeg" || w != wantW || h != wantH {
				t.Errorf("at %v width %d: ffprobe says %s %dx%d, want mjpeg %dx%d", at, width, codec, w, h, wantW, wantH)
			}
			img := decodeImage(t, jpg)
			got := gray(img, img.Bounds())
			d := meanAbsDiff(got, gray(pics[want], pics[want].Bounds()))
			if d > 3 {
				t.Errorf("at %v: mean abs diff %.2f from ffmpeg's keyframe %d, want <= 3", at, d, want)
			}
			for i, p := range pics {
				if o := meanAbsDiff(got, gray(p, p.Bounds())); i != want && (o < 2*d || o < 4) {
					t.Errorf("at %v: keyframe %d is as close (%.2f) as keyframe %d (%.2f)", at, i, o, want, d)
				}
			}
		}
	}
}

// TestSpriteHEVC: a scrub sprite of HEVC segments is made of their stills.
func TestSpriteHEVC(t *testing.T) {
	seg := hevcSegment(t)
	tiles := []Tile{{Segment: seg, At: 0}, {Segment: seg, At: 1500 * time.Millisecond}, {Segment: seg, At: 3 * time.Second}}
	jpg, th, err := Sprite(context.Background(), tiles, SpriteOptions{Columns: 3})
	if err != nil {
		t.Fatal(err)
	}
	if codec, w, h := probeJPEG(t, jpg); codec != "mjpeg" || w != 480 || h != 120 || th != 120 {
		t.Fatalf("sprite: %s %dx%d, tile height %d; want mjpeg 480x120, 120", codec, w, h, th)
	}
	img := decodeImage(t, jpg)
	for i, tile := range tiles {
		still, err := Frame(context.Background(), tile.Segment, tile.At, Options{Width: 160})
		if err != nil {
			t.Fatal(err)
		}
		s := decodeImage(t, still)
		cell := img.Bounds()
		cell.Min.X, cell.Max.X = i*160, i*160+160
		if d := meanAbsDiff(gray(img, cell), gray(s, s.Bounds())); d > 3 {
			t.Errorf("cell %d differs from Frame of tile %d by %.2f", i, i, d)
		}
	}
}
