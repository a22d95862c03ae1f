package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// ffmpeg, the client the proxy must serve, run for real.

type proc struct {
	cmd    *exec.Cmd
	stderr testproc.Buffer
	done   chan struct{}
	err    error
}

func startFFmpeg(t *testing.T, timeout time.Duration, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	p := &proc{cmd: exec.CommandContext(ctx, "ffmpeg", args...), done: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start ffmpeg: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// wait waits for ffmpeg to exit; the error carries its stderr.
func (p *proc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("ffmpeg did not exit")
	}
	if p.err != nil {
		return fmt.Errorf("%w: %s", p.err, strings.TrimSpace(p.stderr.String()))
	}
	return nil
}

// sourceFile is test media encoded once: testsrc2 and a sine, libx264
// with a one-second GOP (30 frames at 30 fps) and B-frames, AAC.
func sourceFile(t *testing.T, seconds float64) string {
	t.Helper()
	mediatest.Require(t)
	return mediatest.WriteFLV(t, t.TempDir(), "src", mediatest.Source{Seconds: seconds, FPS: 30, GOP: 30})
}

// publishFile publishes file in real time to url, stream copy.
func publishFile(t *testing.T, file, url string) *proc {
	t.Helper()
	return startFFmpeg(t, 60*time.Second, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-re", "-i", file, "-c", "copy", "-f", "flv", url)
}

// publishLive encodes testsrc2 in real time and publishes it to url.
func publishLive(t *testing.T, url string, seconds float64) *proc {
	t.Helper()
	mediatest.Require(t)
	args := mediatest.Source{Seconds: seconds, FPS: 30, GOP: 30, Realtime: true}.Args()
	return startFFmpeg(t, time.Duration(seconds+30)*time.Second, append(args, "-f", "flv", url)...)
}

// record plays url for seconds into an FLV file (stream copy) and returns
// its path.
func record(t *testing.T, url string, seconds float64) (string, *proc) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "play.flv")
	p := startFFmpeg(t, time.Duration(seconds+30)*time.Second, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-rw_timeout", "10000000", "-i", url, "-t", strconv.FormatFloat(seconds, 'f', -1, 64), "-c", "copy", "-f", "flv", "-y", out)
	return out, p
}

// probe is ffprobe's view of a file or URL: per stream, its codec and the
// packets (flags) in order.
type probe struct {
	Streams []struct {
		Index     int    `json:"index"`
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
	} `json:"streams"`
	Packets []struct {
		StreamIndex int    `json:"stream_index"`
		Flags       string `json:"flags"`
	} `json:"packets"`
}

func ffprobe(t *testing.T, timeout time.Duration, target string, extra ...string) (probe, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"-v", "error"}, extra...)
	args = append(args, "-show_streams", "-show_packets", "-show_entries", "stream=index,codec_type,codec_name:packet=stream_index,flags", "-of", "json", target)
	cmd := exec.CommandContext(ctx, "ffprobe", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return probe{}, fmt.Errorf("ffprobe %s: %w: %s", target, err, strings.TrimSpace(stderr.String()))
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		return probe{}, fmt.Errorf("ffprobe %s: %w", target, err)
	}
	return p, nil
}

// checkStartsOnKeyframe checks a recorded play: H.264 and AAC, the first
// video packet a keyframe, the first decoded video frame a key frame, and
// every frame decodes without an error.
func checkStartsOnKeyframe(t *testing.T, file string) {
	t.Helper()
	p, err := ffprobe(t, 30*time.Second, file)
	if err != nil {
		t.Fatal(err)
	}
	video := -1
	codecs := map[string]string{}
	for _, s := range p.Streams {
		codecs[s.CodecType] = s.CodecName
		if s.CodecType == "video" {
			video = s.Index
		}
	}
	if codecs["video"] != "h264" || codecs["audio"] != "aac" {
		t.Fatalf("%s: codecs %v, want h264 and aac", file, codecs)
	}
	for _, pk := range p.Packets {
		if pk.StreamIndex == video {
			if !strings.HasPrefix(pk.Flags, "K") {
				t.Errorf("%s: first video packet has flags %q, want a keyframe", file, pk.Flags)
			}
			break
		}
	}
	frames := mediatest.Frames(t, file, "v")
	if len(frames) < 30 {
		t.Fatalf("%s: %d video frames decoded", file, len(frames))
	}
	if frames[0].KeyFrame != 1 {
		t.Errorf("%s: first frame %+v is not a key frame", file, frames[0])
	}
	c := mediatest.CountFrames(t, file) // fails the test on decoder errors
	if c.Audio == 0 {
		t.Errorf("%s: no audio decoded", file)
	}
}

// packetCounts is the number of video and audio packets of a file.
func packetCounts(t *testing.T, file string) (video, audio int) {
	t.Helper()
	p, err := ffprobe(t, 30*time.Second, file)
	if err != nil {
		t.Fatal(err)
	}
	kind := map[int]string{}
	for _, s := range p.Streams {
		kind[s.Index] = s.CodecType
	}
	for _, pk := range p.Packets {
		switch kind[pk.StreamIndex] {
		case "video":
			video++
		case "audio":
			audio++
		}
	}
	return video, audio
}
