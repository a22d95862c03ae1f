package thumb

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/rewind-vod/rewind/internal/mediatest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Bad inputs make libav complain on stderr, and swscale warns on every
	// yuvj420p context; keep the errors for -v runs only.
	astiav.SetLogLevel(astiav.LogLevelQuiet)
	if testing.Verbose() {
		astiav.SetLogLevel(astiav.LogLevelError)
	}
	os.Exit(m.Run())
}

// The fixtures are encoded once per test binary and kept in memory; each
// test that needs a file for ffmpeg writes its own copy.
var fixtures struct {
	once         sync.Once
	video, audio []byte
	err          string
}

// segments returns a 4 s 320x240 segment (H.264 with B-frames, a keyframe
// every second, AAC) and a 1 s audio-only one, both MPEG-TS.
func segments(t testing.TB) (video, audio []byte) {
	t.Helper()
	mediatest.Require(t)
	fixtures.once.Do(func() {
		dir, err := os.MkdirTemp("", "thumb-fixtures")
		if err != nil {
			fixtures.err = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		fixtures.video, fixtures.err = encodeTS(dir, "video", mediatest.Source{Seconds: 4, GOP: 25})
		if fixtures.err == "" {
			fixtures.audio, fixtures.err = encodeTS(dir, "audio", mediatest.Source{Seconds: 1, NoVideo: true})
		}
	})
	if fixtures.err != "" {
		t.Fatal(fixtures.err)
	}
	return fixtures.video, fixtures.audio
}

func encodeTS(dir, name string, src mediatest.Source) ([]byte, string) {
	out := filepath.Join(dir, name+".ts")
	args := append(src.Args(), "-f", "mpegts", "-y", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return nil, "ffmpeg: " + err.Error() + "\n" + string(b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err.Error()
	}
	return b, ""
}

func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// refKeyframes asks ffprobe for the video keyframes' offsets from the first
// video DTS and ffmpeg for their pictures (keyframe-only decode).
func refKeyframes(t testing.TB, path string) ([]time.Duration, []image.Image) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=dts,flags", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets: %v", err)
	}
	var offsets []time.Duration
	first := int64(-1)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) < 2 || f[0] == "" {
			continue
		}
		dts, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatalf("ffprobe dts %q: %v", line, err)
		}
		if first < 0 {
			first = dts
		}
		if strings.HasPrefix(f[1], "K") {
			offsets = append(offsets, time.Duration(dts-first)*time.Second/90000)
		}
	}
	dir := t.TempDir()
	if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-skip_frame", "nokey",
		"-i", path, "-map", "0:v:0", "-fps_mode", "passthrough", filepath.Join(dir, "kf%02d.png")).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg keyframes: %v\n%s", err, b)
	}
	var pics []image.Image
	for i := 1; ; i++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("kf%02d.png", i)))
		if os.IsNotExist(err) {
			break
		}
		pics = append(pics, decodeImage(t, b))
	}
	if len(pics) != len(offsets) || len(pics) == 0 {
		t.Fatalf("ffmpeg decoded %d keyframes, ffprobe lists %d", len(pics), len(offsets))
	}
	return offsets, pics
}

func decodeImage(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode image: %v", err)
	}
	return img
}

// gray box-averages r of img down to a 40x30 luma grid, so pictures of
// different sizes and codecs compare on content.
func gray(img image.Image, r image.Rectangle) []float64 {
	const gw, gh = 40, 30
	sum := make([]float64, gw*gh)
	n := make([]float64, gw*gh)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			i := (y-r.Min.Y)*gh/r.Dy()*gw + (x-r.Min.X)*gw/r.Dx()
			sum[i] += float64(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
			n[i]++
		}
	}
	for i := range sum {
		sum[i] /= n[i]
	}
	return sum
}

// grayPixels lists the luma of every pixel of r.
func grayPixels(img image.Image, r image.Rectangle) []float64 {
	var out []float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			out = append(out, float64(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y))
		}
	}
	return out
}

func meanAbsDiff(a, b []float64) float64 {
	var d float64
	for i := range a {
		if a[i] > b[i] {
			d += a[i] - b[i]
		} else {
			d += b[i] - a[i]
		}
	}
	return d / float64(len(a))
}

// isJPEG checks the SOI and EOI markers.
func isJPEG(b []byte) bool {
	return len(b) > 4 && b[0] == 0xff && b[1] == 0xd8 && b[len(b)-2] == 0xff && b[len(b)-1] == 0xd9
}

// probeJPEG asks ffprobe for the codec and size of a JPEG.
func probeJPEG(t testing.TB, b []byte) (codec string, w, h int) {
	t.Helper()
	p := writeTemp(t, "still.jpg", b)
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
		"-of", "csv=p=0", p).Output()
	if err != nil {
		t.Fatalf("ffprobe jpeg: %v", err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(f) != 3 {
		t.Fatalf("ffprobe jpeg: %q", out)
	}
	w, _ = strconv.Atoi(f[1])
	h, _ = strconv.Atoi(f[2])
	return f[0], w, h
}
