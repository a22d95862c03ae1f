// Package mediatest drives the real ffmpeg and ffprobe for tests: it makes
// test media and checks what rewind wrote.
package mediatest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Require fails the test when ffmpeg or ffprobe is missing (make deps installs them).
func Require(t testing.TB) {
	t.Helper()
	for _, b := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not found: run `make deps`", b)
		}
	}
}

// Source describes test media: testsrc2 + sine, libx264 with B-frames and
// AAC, as the issues' publishers.
type Source struct {
	Seconds  float64
	FPS      int // default 25
	GOP      int // frames, default 2 s worth
	Size     string
	NoAudio  bool
	NoVideo  bool
	Bitrate  string // e.g. "2500k"; default crf
	Realtime bool   // -re
}

// Args returns the ffmpeg input and encoding arguments for src (no output).
func (src Source) Args() []string {
	fps := src.FPS
	if fps == 0 {
		fps = 25
	}
	gop := src.GOP
	if gop == 0 {
		gop = 2 * fps
	}
	size := src.Size
	if size == "" {
		size = "320x240"
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin"}
	if src.Realtime {
		args = append(args, "-re")
	}
	if !src.NoVideo {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", size, fps))
	}
	if !src.NoAudio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100")
	}
	args = append(args, "-t", strconv.FormatFloat(src.Seconds, 'f', -1, 64))
	if !src.NoVideo {
		args = append(args, "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "2",
			"-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p")
		// zerolatency turns B-frames off; put them back (the recorder must handle CTS).
		args = append(args, "-x264-params", "bframes=2:rc-lookahead=4")
		if src.Bitrate != "" {
			args = append(args, "-b:v", src.Bitrate, "-maxrate", src.Bitrate, "-bufsize", src.Bitrate)
		}
	}
	if !src.NoAudio {
		args = append(args, "-c:a", "aac", "-b:a", "64k")
	}
	return args
}

// WriteFLV encodes src into dir/name.flv and returns its path.
func WriteFLV(t testing.TB, dir, name string, src Source) string {
	t.Helper()
	out := filepath.Join(dir, name+".flv")
	args := append(src.Args(), "-f", "flv", "-y", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// Counts holds decoded frame counts.
type Counts struct {
	Video, Audio int
}

// CountFrames decodes the file fully and counts frames per kind; any
// decoder error fails the test.
func CountFrames(t testing.TB, path string) Counts {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_type,nb_read_frames", "-of", "json", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Errorf("ffprobe %s reports errors:\n%s", path, s)
	}
	var res struct {
		Streams []struct {
			CodecType    string `json:"codec_type"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var c Counts
	for _, s := range res.Streams {
		n, _ := strconv.Atoi(s.NbReadFrames)
		switch s.CodecType {
		case "video":
			c.Video += n
		case "audio":
			c.Audio += n
		}
	}
	return c
}

// Frame is one decoded frame's facts from ffprobe.
type Frame struct {
	MediaType string `json:"media_type"`
	KeyFrame  int    `json:"key_frame"`
	PTSTime   string `json:"pts_time"`
	PictType  string `json:"pict_type"`
}

// Frames lists the frames of one stream kind ("v" or "a") in decode output order.
func Frames(t testing.TB, path, kind string) []Frame {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", kind, "-show_frames",
		"-show_entries", "frame=media_type,key_frame,pts_time,pict_type", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe frames %s: %v", path, err)
	}
	var res struct {
		Frames []Frame `json:"frames"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe frames %s: %v", path, err)
	}
	return res.Frames
}

// Duration is the container duration ffprobe reports, in seconds.
func Duration(t testing.TB, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe duration %s: %v", path, err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe duration %s: %q: %v", path, out, err)
	}
	return d
}
