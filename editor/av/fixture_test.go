package av

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
)

// Fixtures stand for recorder parts: 320x240 H.264 at 25 fps with B-frames
// and a 2 s GOP, ADTS AAC, PTS offset from zero. They are made once per test
// binary with the ffmpeg CLI and shared read-only.
var (
	fixOnce sync.Once
	fixDir  string
	fixErr  error
)

type fixtures struct {
	a string // 12 s, video+audio, three segments concatenated
	b string // 10 s, video+audio, other content and offset (a second run)
	v string // 10 s, video only
	h string // 12 s, HEVC + AAC, like a (B-frames, closed 2 s GOP, VPS/SPS/PPS before every keyframe)
	o string // h with open GOPs: CRAs with leading pictures (libx265's default)
}

func fixture(t testing.TB) fixtures {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	fixOnce.Do(func() { fixDir, fixErr = makeFixtures() })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fixtures{
		a: filepath.Join(fixDir, "a.ts"),
		b: filepath.Join(fixDir, "b.ts"),
		v: filepath.Join(fixDir, "v.ts"),
		h: filepath.Join(fixDir, "h.ts"),
		o: filepath.Join(fixDir, "o.ts"),
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixDir != "" {
		os.RemoveAll(fixDir)
	}
	os.Exit(code)
}

func makeFixtures() (string, error) {
	dir, err := os.MkdirTemp("", "avtest")
	if err != nil {
		return "", err
	}
	enc := []string{"-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "50",
		"-keyint_min", "50", "-sc_threshold", "0", "-pix_fmt", "yuv420p"}
	aac := []string{"-c:a", "aac", "-b:a", "64k"}
	src := func(video, freq string, secs int) []string {
		return []string{"-f", "lavfi", "-i", video + "=size=320x240:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=" + freq + ":sample_rate=44100", "-t", strconv.Itoa(secs)}
	}
	join := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	jobs := [][]string{
		// Segments as the recorder writes them, concatenated below.
		join(src("testsrc2", "440", 12), enc, aac, []string{"-output_ts_offset", "3",
			"-f", "segment", "-segment_time", "4", "-segment_format", "mpegts",
			"-segment_format_options", "mpegts_copyts=1", filepath.Join(dir, "a_%d.ts")}),
		join(src("testsrc", "880", 10), enc, aac, []string{"-output_ts_offset", "10",
			"-f", "mpegts", "-mpegts_copyts", "1", filepath.Join(dir, "b.ts")}),
		join(src("testsrc2", "440", 10), enc, []string{"-an",
			"-f", "mpegts", "-mpegts_copyts", "1", filepath.Join(dir, "v.ts")}),
		// As internal/ertmppub publishes it (the recorder keeps the
		// stream as published).
		join(src("testsrc2", "440", 12), []string{"-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
			"-x265-params", "log-level=error:keyint=50:min-keyint=50:scenecut=0:open-gop=0:bframes=2"}, aac,
			[]string{"-output_ts_offset", "3", "-f", "mpegts", "-mpegts_copyts", "1", filepath.Join(dir, "h.ts")}),
		join(src("testsrc2", "440", 12), []string{"-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
			"-x265-params", "log-level=error:keyint=50:min-keyint=50:scenecut=0:open-gop=1:bframes=3"}, aac,
			[]string{"-output_ts_offset", "3", "-f", "mpegts", "-mpegts_copyts", "1", filepath.Join(dir, "o.ts")}),
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, args := range jobs {
		wg.Go(func() {
			args = append([]string{"-v", "error", "-y", "-threads", "1"}, args...)
			if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("ffmpeg %v: %v: %s", args, err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "a_*.ts"))
	sort.Slice(segs, func(i, j int) bool { return segNum(segs[i]) < segNum(segs[j]) })
	var all []byte
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		all = append(all, b...)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.ts"), all, 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func segNum(p string) int {
	b := filepath.Base(p)
	n, _ := strconv.Atoi(b[len("a_") : len(b)-len(".ts")])
	return n
}

// probeInfo is the part of ffprobe's JSON the tests look at.
type probeInfo struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		CodecTag  string `json:"codec_tag_string"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		BitRate   string `json:"bit_rate"`
		StartTime string `json:"start_time"`
		Duration  string `json:"duration"`
		ReadFrame string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		Duration  string `json:"duration"`
		StartTime string `json:"start_time"`
	} `json:"format"`
	Packets []struct {
		CodecType string `json:"codec_type"`
		Pts       int64  `json:"pts"`
		Dts       int64  `json:"dts"`
		PtsTime   string `json:"pts_time"`
		DtsTime   string `json:"dts_time"`
		Size      string `json:"size"`
		Flags     string `json:"flags"`
	} `json:"packets"`
}

// ffprobe runs ffprobe with args on path and decodes its JSON; anything on
// stderr (at -v error) fails the test.
func ffprobe(t *testing.T, path string, args ...string) probeInfo {
	t.Helper()
	args = append([]string{"-v", "error", "-of", "json"}, args...)
	cmd := exec.Command("ffprobe", append(args, path)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", path, err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Fatalf("ffprobe %s reported errors:\n%s", path, stderr.Bytes())
	}
	var pi probeInfo
	if err := json.Unmarshal(out, &pi); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return pi
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return f
}

// grayThumb decodes one frame of path (the nth shown, after the optional
// filter) to a 32x24 gray image.
func grayThumb(t *testing.T, path string, n int) []byte {
	t.Helper()
	vf := fmt.Sprintf(`select=eq(n\,%d),scale=32:24,format=gray`, n)
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-vf", vf,
		"-frames:v", "1", "-f", "rawvideo", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg thumb %s #%d: %v", path, n, err)
	}
	if len(out) != 32*24 {
		t.Fatalf("ffmpeg thumb %s #%d: %d bytes", path, n, len(out))
	}
	return out
}

// mad is the mean absolute difference of two gray images.
func mad(a, b []byte) float64 {
	var sum int
	for i := range a {
		d := int(a[i]) - int(b[i])
		sum += max(d, -d)
	}
	return float64(sum) / float64(len(a))
}
