package av

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	frame = 40 * time.Millisecond // at 25 fps
	gop   = 2 * time.Second
)

func cut(t *testing.T, parts []Part, out string, opt Options) Result {
	t.Helper()
	res, err := Cut(context.Background(), parts, out, opt)
	if err != nil {
		t.Fatalf("Cut: %v", err)
	}
	return res
}

// sourceVideo returns the 90 kHz DTS of a file's first video packet and the
// PTS of all its video frames in presentation order.
func sourceVideo(t *testing.T, path string) (base int64, pts []int64) {
	t.Helper()
	pi := ffprobe(t, path, "-select_streams", "v", "-show_entries", "packet=pts,dts")
	for i, p := range pi.Packets {
		if i == 0 {
			base = p.Dts
		}
		pts = append(pts, p.Pts)
	}
	slices.Sort(pts)
	return base, pts
}

// framesIn returns the index (presentation order) of the first frame shown
// at or after from and how many are shown in [from, to).
func framesIn(pts []int64, base int64, from, to time.Duration) (first, n int) {
	first = -1
	for i, p := range pts {
		if p-base >= ticks(from) && p-base < ticks(to) {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	return first, n
}

// checkDecodes fully decodes path with ffprobe (failing on any error) and
// returns the frame count of its video stream.
func checkDecodes(t *testing.T, path string) probeInfo {
	t.Helper()
	return ffprobe(t, path, "-count_frames", "-show_entries",
		"stream=codec_type,width,height,bit_rate,start_time,duration,nb_read_frames:format=duration,start_time")
}

// checkMonotonic fails if any stream's DTS does not strictly increase.
func checkMonotonic(t *testing.T, path string) {
	t.Helper()
	pi := ffprobe(t, path, "-show_entries", "packet=codec_type,dts")
	last := map[string]int64{}
	for i, p := range pi.Packets {
		if l, ok := last[p.CodecType]; ok && p.Dts <= l {
			t.Fatalf("%s packet %d: %s DTS %d after %d", path, i, p.CodecType, p.Dts, l)
		}
		last[p.CodecType] = p.Dts
	}
}

// checkMoovFirst fails unless an MP4's moov box precedes its mdat.
func checkMoovFirst(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var boxes []string
	for i := 0; i+8 <= len(b); {
		size := int(b[i])<<24 | int(b[i+1])<<16 | int(b[i+2])<<8 | int(b[i+3])
		boxes = append(boxes, string(b[i+4:i+8]))
		if size < 8 {
			break
		}
		i += size
	}
	moov, mdat := slices.Index(boxes, "moov"), slices.Index(boxes, "mdat")
	if moov < 0 || mdat < 0 || moov > mdat {
		t.Fatalf("%s: top-level boxes %v, want moov before mdat", path, boxes)
	}
}

// firstVideoPTS is the presentation time of a file's first video frame.
func firstVideoPTS(t *testing.T, path string) float64 {
	t.Helper()
	pi := ffprobe(t, path, "-select_streams", "v", "-show_entries", "packet=pts_time")
	first := math.Inf(1)
	for _, p := range pi.Packets {
		first = min(first, num(t, p.PtsTime))
	}
	return first
}

func streamOf(pi probeInfo, kind string) (int, bool) {
	for i, s := range pi.Streams {
		if s.CodecType == kind {
			return i, true
		}
	}
	return 0, false
}

func TestCopy(t *testing.T) {
	fx := fixture(t)
	for _, f := range []Format{FormatMP4, FormatTS} {
		t.Run(string(f), func(t *testing.T) {
			from, to := 3100*time.Millisecond, 7500*time.Millisecond
			out := filepath.Join(t.TempDir(), "clip."+string(f))
			var calls []float64
			res := cut(t, []Part{{Path: fx.a, From: from, To: to}}, out, Options{
				Format: f, Mode: ModeCopy, Progress: func(d float64) { calls = append(calls, d) },
			})
			pi := checkDecodes(t, out)
			d := num(t, pi.Format.Duration)
			want := (to - from).Seconds()
			if d < want-0.1 || d > want+gop.Seconds() {
				t.Errorf("duration %.3f s, want %.3f s up to one GOP more", d, want)
			}
			if math.Abs(d-res.Duration.Seconds()) > 0.1 {
				t.Errorf("Result.Duration %s, ffprobe %.3f s", res.Duration, d)
			}
			if s := num(t, pi.Format.StartTime); s > 0.1 {
				t.Errorf("start time %.3f s, want about 0", s)
			}
			if s := firstVideoPTS(t, out); f == FormatMP4 && math.Abs(s) > 0.001 {
				t.Errorf("first frame at %.3f s, want 0", s)
			}
			if res.Width != 320 || res.Height != 240 || len(res.Files) != 1 || res.Files[0] != out {
				t.Errorf("result %+v", res)
			}
			if fi, err := os.Stat(out); err != nil || fi.Size() != res.Size {
				t.Errorf("size %d, Result.Size %d (%v)", fi.Size(), res.Size, err)
			}
			pk := ffprobe(t, out, "-select_streams", "v", "-show_entries", "packet=flags", "-read_intervals", "%+#1")
			if len(pk.Packets) == 0 || !strings.HasPrefix(pk.Packets[0].Flags, "K") {
				t.Errorf("first video packet is not a keyframe: %+v", pk.Packets)
			}
			if _, ok := streamOf(pi, "audio"); !ok {
				t.Error("no audio stream")
			}
			if f == FormatMP4 {
				checkMoovFirst(t, out)
			}
			checkMonotonic(t, out)
			if len(calls) == 0 || calls[len(calls)-1] != 1 {
				t.Errorf("progress calls %v, want a final 1", calls)
			}
		})
	}
}

func TestAccurate(t *testing.T) {
	fx := fixture(t)
	base, pts := sourceVideo(t, fx.a)
	cases := []struct {
		name     string
		from, to time.Duration
	}{
		{"two edges", 3100 * time.Millisecond, 7500 * time.Millisecond},
		{"one GOP", 4300 * time.Millisecond, 5500 * time.Millisecond},
		{"keyframe start", 2080 * time.Millisecond, 6080 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "clip.mp4")
			res := cut(t, []Part{{Path: fx.a, From: c.from, To: c.to}}, out, Options{Format: FormatMP4, Mode: ModeAccurate})
			pi := checkDecodes(t, out)
			vi, ok := streamOf(pi, "video")
			if !ok {
				t.Fatal("no video stream")
			}
			first, n := framesIn(pts, base, c.from, c.to)
			if got := int(num(t, pi.Streams[vi].ReadFrame)); got != n {
				t.Errorf("%d video frames, want %d", got, n)
			}
			d := num(t, pi.Format.Duration)
			if want := (c.to - c.from).Seconds(); math.Abs(d-want) > frame.Seconds()+0.001 {
				t.Errorf("duration %.3f s, want %.3f s within one frame", d, want)
			}
			if math.Abs(d-res.Duration.Seconds()) > frame.Seconds() {
				t.Errorf("Result.Duration %s, ffprobe %.3f s", res.Duration, d)
			}
			checkMoovFirst(t, out)
			checkMonotonic(t, out)
			if s := firstVideoPTS(t, out); math.Abs(s) > 0.001 {
				t.Errorf("first frame at %.3f s, want 0", s)
			}
			// The first frame is the asked one: closer to the source frame
			// at From than to its neighbours.
			got := grayThumb(t, out, 0)
			want := mad(got, grayThumb(t, fx.a, first))
			for _, k := range []int{first - 1, first + 1} {
				if other := mad(got, grayThumb(t, fx.a, k)); want >= other || want > 2 {
					t.Errorf("first frame differs from source #%d by %.2f, from #%d by %.2f", first, want, k, other)
				}
			}
		})
	}
}

func TestTwoParts(t *testing.T) {
	fx := fixture(t)
	ab := []Part{
		{Path: fx.a, From: 3100 * time.Millisecond, To: 7500 * time.Millisecond},
		{Path: fx.b, From: 1 * time.Second, To: 4 * time.Second},
	}
	// The second run has no audio: it adds video only.
	noAudio := []Part{ab[0], {Path: fx.v, From: 2 * time.Second, To: 5 * time.Second}}
	for _, c := range []struct {
		name   string
		parts  []Part
		mode   Mode
		format Format
		slack  float64 // seconds the duration may exceed the sum of cuts
	}{
		{"accurate-mp4", ab, ModeAccurate, FormatMP4, frame.Seconds()},
		{"copy-ts", ab, ModeCopy, FormatTS, 2 * gop.Seconds()},
		{"no-audio-accurate-ts", noAudio, ModeAccurate, FormatTS, frame.Seconds()},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "clip."+string(c.format))
			res := cut(t, c.parts, out, Options{Format: c.format, Mode: c.mode})
			pi := checkDecodes(t, out)
			d := num(t, pi.Format.Duration)
			var want float64
			for _, p := range c.parts {
				want += (p.To - p.From).Seconds()
			}
			if d < want-2*frame.Seconds() || d > want+c.slack+2*frame.Seconds() {
				t.Errorf("duration %.3f s, want %.3f s (+%.2f)", d, want, c.slack)
			}
			if math.Abs(d-res.Duration.Seconds()) > 0.1 {
				t.Errorf("Result.Duration %s, ffprobe %.3f s", res.Duration, d)
			}
			if len(pi.Streams) != 2 {
				t.Errorf("%d streams, want video and audio", len(pi.Streams))
			}
			checkMonotonic(t, out)
		})
	}
}

func TestVideoOnly(t *testing.T) {
	fx := fixture(t)
	for _, m := range []Mode{ModeCopy, ModeAccurate} {
		t.Run(string(m), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "clip.mp4")
			cut(t, []Part{{Path: fx.v, From: time.Second, To: 5 * time.Second}}, out, Options{Format: FormatMP4, Mode: m})
			pi := checkDecodes(t, out)
			if _, ok := streamOf(pi, "audio"); ok || len(pi.Streams) != 1 {
				t.Errorf("streams %+v, want video only", pi.Streams)
			}
		})
	}
}

func TestTranscode(t *testing.T) {
	fx := fixture(t)
	out := filepath.Join(t.TempDir(), "clip.mp4")
	res := cut(t, []Part{{Path: fx.a, From: time.Second, To: 11 * time.Second}}, out, Options{
		Format: FormatMP4, Mode: ModeCopy,
		Transcode: &Transcode{Height: 180, VideoBitrate: 300_000, AudioBitrate: 64_000},
	})
	pi := checkDecodes(t, out)
	vi, ok := streamOf(pi, "video")
	if !ok {
		t.Fatal("no video stream")
	}
	v := pi.Streams[vi]
	if v.Height != 180 || v.Width%2 != 0 || v.Width != 240 {
		t.Errorf("size %dx%d, want 240x180", v.Width, v.Height)
	}
	if res.Width != v.Width || res.Height != v.Height {
		t.Errorf("Result size %dx%d", res.Width, res.Height)
	}
	if br := num(t, v.BitRate); br < 300_000*0.75 || br > 300_000*1.25 {
		t.Errorf("video bitrate %.0f, want 300k ±25%%", br)
	}
	ai, ok := streamOf(pi, "audio")
	if !ok {
		t.Fatal("no audio stream")
	}
	if br := num(t, pi.Streams[ai].BitRate); br < 64_000*0.75 || br > 64_000*1.25 {
		t.Errorf("audio bitrate %.0f, want 64k ±25%%", br)
	}
	if d := num(t, pi.Format.Duration); math.Abs(d-10) > 0.1 {
		t.Errorf("duration %.3f s, want 10 s", d)
	}
	if s := firstVideoPTS(t, out); math.Abs(s) > 0.001 {
		t.Errorf("first frame at %.3f s, want 0", s)
	}
	checkMoovFirst(t, out)
	checkMonotonic(t, out)
}

func TestHLS(t *testing.T) {
	fx := fixture(t)
	for _, c := range []struct {
		name string
		opt  Options
	}{
		{"copy", Options{Format: FormatHLS, Mode: ModeCopy}},
		{"transcode", Options{Format: FormatHLS, Mode: ModeAccurate, HLSSegment: 2 * time.Second,
			Transcode: &Transcode{Height: 120}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hls")
			res := cut(t, []Part{
				{Path: fx.a, From: 1 * time.Second, To: 9 * time.Second},
				{Path: fx.b, From: 0, To: 3 * time.Second},
			}, dir, c.opt)
			pl, err := os.ReadFile(filepath.Join(dir, "index.m3u8"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(pl), "#EXT-X-ENDLIST") {
				t.Errorf("playlist without #EXT-X-ENDLIST:\n%s", pl)
			}
			if len(res.Files) < 3 || res.Files[0] != filepath.Join(dir, "index.m3u8") {
				t.Fatalf("files %v, want the playlist then segments", res.Files)
			}
			var size int64
			for _, f := range res.Files {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				size += fi.Size()
				if f != res.Files[0] {
					if !strings.Contains(string(pl), filepath.Base(f)) {
						t.Errorf("segment %s not in playlist", f)
					}
					checkDecodes(t, f)
				}
			}
			if size != res.Size {
				t.Errorf("Result.Size %d, files hold %d", res.Size, size)
			}
			pi := checkDecodes(t, filepath.Join(dir, "index.m3u8"))
			if d := num(t, pi.Format.Duration); d < 10.5 || d > 13 {
				t.Errorf("playlist duration %.3f s", d)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	fx := fixture(t)
	dir := t.TempDir()
	ok := []Part{{Path: fx.a, From: time.Second, To: 2 * time.Second}}
	cases := []struct {
		name  string
		parts []Part
		opt   Options
	}{
		{"from after to", []Part{{Path: fx.a, From: 3 * time.Second, To: 2 * time.Second}}, Options{Format: FormatMP4, Mode: ModeCopy}},
		{"empty range", []Part{{Path: fx.a, From: 2 * time.Second, To: 2 * time.Second}}, Options{Format: FormatMP4, Mode: ModeCopy}},
		{"missing file", []Part{ok[0], {Path: filepath.Join(dir, "nope.ts"), From: 0, To: time.Second}}, Options{Format: FormatMP4, Mode: ModeCopy}},
		{"not media", []Part{{Path: filepath.Join(dir, "junk.ts"), From: 0, To: time.Second}}, Options{Format: FormatTS, Mode: ModeCopy}},
		{"beyond the end", []Part{ok[0], {Path: fx.b, From: 30 * time.Second, To: 40 * time.Second}}, Options{Format: FormatMP4, Mode: ModeAccurate}},
		{"unknown format", ok, Options{Format: "avi", Mode: ModeCopy}},
		{"unknown mode", ok, Options{Format: FormatMP4, Mode: "fast"}},
		{"no parts", nil, Options{Format: FormatMP4, Mode: ModeCopy}},
		{"odd height", ok, Options{Format: FormatMP4, Mode: ModeCopy, Transcode: &Transcode{Height: 181}}},
		{"hls beyond the end", []Part{{Path: fx.b, From: 30 * time.Second, To: 40 * time.Second}}, Options{Format: FormatHLS, Mode: ModeCopy}},
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.ts"), []byte(strings.Repeat("not a transport stream ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".out")
			res, err := Cut(context.Background(), c.parts, out, c.opt)
			if err == nil {
				t.Fatalf("no error, result %+v", res)
			}
			t.Log(err)
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("output left behind: %v", serr)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	fx := fixture(t)
	parts := []Part{{Path: fx.a, From: 0, To: 12 * time.Second}, {Path: fx.b, From: 0, To: 10 * time.Second}}
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		out := filepath.Join(t.TempDir(), "clip.mp4")
		if _, err := Cut(ctx, parts, out, Options{Format: FormatMP4, Mode: ModeCopy}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
	t.Run("during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out := filepath.Join(t.TempDir(), "clip.mp4")
		// Cancelled from the first progress report, mid-transcode.
		start := time.Now()
		_, err := Cut(ctx, parts, out, Options{Format: FormatMP4, Mode: ModeCopy,
			Transcode: &Transcode{Height: 120}, Progress: func(float64) { cancel() }})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("took %s to stop", el)
		}
		if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("output left behind: %v", serr)
		}
	})
}

func TestProbe(t *testing.T) {
	fx := fixture(t)
	res, err := Probe(fx.a)
	if err != nil {
		t.Fatal(err)
	}
	if res.Width != 320 || res.Height != 240 || math.Abs(res.Duration.Seconds()-12) > 0.2 || res.Size <= 0 {
		t.Errorf("Probe(a) = %+v", res)
	}
	if _, err := Probe(filepath.Join(t.TempDir(), "missing.ts")); err == nil {
		t.Error("Probe of a missing file: no error")
	}
}
