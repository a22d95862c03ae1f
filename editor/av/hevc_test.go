package av

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// codecName is what ffprobe calls path's video codec.
func codecName(t *testing.T, path string) string {
	t.Helper()
	pi := ffprobe(t, path, "-select_streams", "v", "-show_entries", "stream=codec_name")
	if len(pi.Streams) == 0 {
		t.Fatalf("%s: no video stream", path)
	}
	return pi.Streams[0].CodecName
}

// TestAccurateHEVC: accurate clips of an HEVC recording re-encode their
// edges with libx265 and decode as one stream with the copied middle, in
// every container: every frame shown in the range and no other, the asked
// duration within one frame, the asked first frame. Open GOPs too: a CRA's
// leading pictures reference the GOP before it, which must then not be
// re-encoded under them.
func TestAccurateHEVC(t *testing.T) {
	fx := fixture(t)
	cases := []struct {
		name     string
		src      string
		format   Format
		from, to time.Duration
	}{
		{"mp4 two edges", fx.h, FormatMP4, 3100 * time.Millisecond, 7500 * time.Millisecond},
		{"mp4 one GOP", fx.h, FormatMP4, 4300 * time.Millisecond, 5500 * time.Millisecond},
		{"mp4 keyframe start", fx.h, FormatMP4, 2080 * time.Millisecond, 6080 * time.Millisecond},
		{"ts two edges", fx.h, FormatTS, 1300 * time.Millisecond, 9900 * time.Millisecond},
		{"hls two edges", fx.h, FormatHLS, 500 * time.Millisecond, 10500 * time.Millisecond},
		{"open mp4 two edges", fx.o, FormatMP4, 3100 * time.Millisecond, 7500 * time.Millisecond},
		{"open mp4 keyframe end", fx.o, FormatMP4, 1000 * time.Millisecond, 6080 * time.Millisecond},
		{"open ts", fx.o, FormatTS, 1900 * time.Millisecond, 8100 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, pts := sourceVideo(t, c.src)
			out := filepath.Join(t.TempDir(), "clip")
			switch c.format {
			case FormatMP4:
				out += ".mp4"
			case FormatTS:
				out += ".ts"
			}
			res := cut(t, []Part{{Path: c.src, From: c.from, To: c.to}}, out,
				Options{Format: c.format, Mode: ModeAccurate, HLSSegment: 2 * time.Second})
			probe := out
			if c.format == FormatHLS {
				probe = filepath.Join(out, "index.m3u8")
				pl, err := os.ReadFile(probe)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(pl), "#EXT-X-ENDLIST") || len(res.Files) < 3 {
					t.Fatalf("files %v, playlist:\n%s", res.Files, pl)
				}
				for _, f := range res.Files[1:] {
					if codecName(t, f) != "hevc" {
						t.Errorf("segment %s is not hevc", f)
					}
					checkDecodes(t, f) // each segment on its own
				}
			}
			if name := codecName(t, probe); name != "hevc" {
				t.Errorf("codec %q, want hevc", name)
			}
			pi := checkDecodes(t, probe)
			vi, ok := streamOf(pi, "video")
			if !ok {
				t.Fatal("no video stream")
			}
			if pi.Streams[vi].Width != 320 || pi.Streams[vi].Height != 240 {
				t.Errorf("size %dx%d", pi.Streams[vi].Width, pi.Streams[vi].Height)
			}
			first, n := framesIn(pts, base, c.from, c.to)
			if got := int(num(t, pi.Streams[vi].ReadFrame)); got != n {
				t.Errorf("%d video frames, want %d", got, n)
			}
			d := num(t, pi.Format.Duration)
			if want := (c.to - c.from).Seconds(); math.Abs(d-want) > frame.Seconds()+0.001 {
				t.Errorf("duration %.3f s, want %.3f s within one frame", d, want)
			}
			if c.format == FormatMP4 {
				checkMoovFirst(t, out)
				if tag := ffprobe(t, out, "-select_streams", "v", "-show_entries", "stream=codec_tag_string").Streams[0].CodecTag; tag != "hev1" {
					t.Errorf("sample entry %q, want hev1 (parameter sets in-band)", tag)
				}
			}
			if c.format != FormatHLS {
				checkMonotonic(t, out)
			}
			if c.format == FormatTS {
				// The end edge closes its coded video sequence (see
				// encodeGOP): an end-of-sequence NAL unit last.
				es, err := exec.Command("ffmpeg", "-v", "error", "-i", out, "-map", "0:v", "-c", "copy", "-f", "hevc", "-").Output()
				if err != nil || !bytes.HasSuffix(es, []byte{0, 0, 1, 36 << 1, 1}) {
					t.Errorf("video does not end with an end-of-sequence NAL unit (%v): % x", err, es[max(len(es)-8, 0):])
				}
			}
			got := grayThumb(t, probe, 0)
			want := mad(got, grayThumb(t, c.src, first))
			for _, k := range []int{max(first-1, 0), first + 1} {
				if k == first {
					continue
				}
				if other := mad(got, grayThumb(t, c.src, k)); want >= other || want > 3 {
					t.Errorf("first frame differs from source #%d by %.2f, from #%d by %.2f", first, want, k, other)
				}
			}
		})
	}
}

// TestAccurateOtherCodec: video the edges cannot be re-encoded as is a
// clear error, and nothing is left behind.
func TestAccurateOtherCodec(t *testing.T) {
	fixture(t) // ffmpeg and ffprobe are there
	dir := t.TempDir()
	src := filepath.Join(dir, "mpeg2.ts")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "2",
		"-c:v", "mpeg2video", "-f", "mpegts", src).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "clip.mp4")
	_, err := Cut(t.Context(), []Part{{Path: src, From: 500 * time.Millisecond, To: 1500 * time.Millisecond}}, out,
		Options{Format: FormatMP4, Mode: ModeAccurate})
	if err == nil || !strings.Contains(err.Error(), "accurate mode needs H.264 or HEVC video") {
		t.Fatalf("Cut of MPEG-2 video: %v", err)
	}
	if _, serr := os.Stat(out); !os.IsNotExist(serr) {
		t.Errorf("output left behind: %v", serr)
	}
}

// BenchmarkAccurateEdges cuts the same two-edge range of the H.264 and the
// HEVC fixture (320x240, 25 fps, 2 s GOPs, B-frames): the cost of an edge
// re-encode with libx265 against libx264, read as a ratio of the two; and
// of an open-GOP source, where the range is one unit re-encoded whole.
func BenchmarkAccurateEdges(b *testing.B) {
	fx := fixture(b)
	for _, c := range []struct{ name, src string }{{"h264", fx.a}, {"hevc", fx.h}, {"hevc-open-gop", fx.o}} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			for i := range b.N {
				out := filepath.Join(dir, strconv.Itoa(i)+".mp4")
				if _, err := Cut(b.Context(), []Part{{Path: c.src, From: 3100 * time.Millisecond, To: 7500 * time.Millisecond}}, out,
					Options{Format: FormatMP4, Mode: ModeAccurate}); err != nil {
					b.Fatal(err)
				}
				os.Remove(out)
			}
		})
	}
}
