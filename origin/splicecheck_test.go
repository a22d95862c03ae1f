package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
)

// Helpers for the tests of players that outlive a run (playerswait.go):
// players that write what they get to a file, and the checks that such a
// file is one decodable stream made of the runs it should hold.

// filePlayer is a player whose stream goes to a file until the server ends
// it: an HTTP-FLV GET copied as is, or an ffmpeg process.
type filePlayer struct {
	path string
	done chan struct{}
	mu   sync.Mutex
	end  time.Time
	err  error // why it ended: nil for a clean end from the server
	out  bytes.Buffer
}

func (fp *filePlayer) finish(err error) {
	fp.mu.Lock()
	fp.end, fp.err = time.Now(), err
	fp.mu.Unlock()
	close(fp.done)
}

// ended reports whether the stream ended, and when.
func (fp *filePlayer) ended() (bool, time.Time) {
	select {
	case <-fp.done:
		fp.mu.Lock()
		defer fp.mu.Unlock()
		return true, fp.end
	default:
		return false, time.Time{}
	}
}

// waitEnded waits for the server to end the stream and returns when.
func (fp *filePlayer) waitEnded(t *testing.T, timeout time.Duration) time.Time {
	t.Helper()
	select {
	case <-fp.done:
	case <-time.After(timeout):
		t.Fatalf("player %s still connected after %s", fp.path, timeout)
	}
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if fp.err != nil {
		t.Errorf("player %s: %v", fp.path, fp.err)
	}
	return fp.end
}

func (fp *filePlayer) size() int64 {
	st, err := os.Stat(fp.path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// recordFLV GETs an HTTP-FLV url and copies the body to path as it comes.
func recordFLV(t *testing.T, url, path string) *filePlayer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fp := &filePlayer{path: path, done: make(chan struct{})}
	go func() {
		defer resp.Body.Close()
		_, err := io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		fp.finish(err)
	}()
	t.Cleanup(func() {
		cancel()
		<-fp.done
	})
	return fp
}

// recordRTMP plays url with ffmpeg, stream copy into an FLV file at path.
func recordRTMP(t *testing.T, url, path string) *filePlayer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	fp := &filePlayer{path: path, done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-v", "error", "-nostdin",
		"-i", url, "-c", "copy", "-f", "flv", "-y", path)
	cmd.Stderr = &fp.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start ffmpeg player: %v", err)
	}
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("ffmpeg player: %w: %s", err, strings.TrimSpace(fp.out.String()))
		}
		cancel()
		fp.finish(err)
	}()
	t.Cleanup(func() {
		cancel()
		<-fp.done
	})
	return fp
}

// readTags returns the tags of an FLV file.
func readTags(t *testing.T, path string) []media.Frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fr := newFLVReader(f, MaxPullTagSize)
	if err := fr.readHeader(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var tags []media.Frame
	for {
		tag, err := fr.next()
		if errors.Is(err, io.EOF) {
			return tags
		}
		if err != nil {
			t.Fatalf("%s: tag %d: %v", path, len(tags), err)
		}
		tags = append(tags, tag)
	}
}

// checkSplicedFile checks that the FLV file at path is one stream that
// decodes without a complaint and shows pictures of sizes, in that order
// (each "WxH", at least minFrames of each), and that its timeline goes on
// across every change of video configuration: tags never go back, a
// keyframe comes right after the new sequence header and shows after
// every earlier picture, within one frame interval (no gap).
func checkSplicedFile(t *testing.T, path string, minFrames int, sizes ...string) {
	t.Helper()
	if out, err := exec.Command("ffmpeg", "-hide_banner", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("%s: ffmpeg decode: %v\n%s", path, err, out)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=width,height", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("%s: ffprobe frames: %v", path, err)
	}
	var runs []string // sizes in order, one entry per change
	count := map[string]int{}
	for _, line := range strings.Fields(string(out)) {
		size := strings.Replace(strings.TrimSuffix(line, ","), ",", "x", 1)
		if len(runs) == 0 || runs[len(runs)-1] != size {
			runs = append(runs, size)
		}
		count[size]++
	}
	if strings.Join(runs, " ") != strings.Join(sizes, " ") {
		t.Errorf("%s: picture sizes in order %v (counts %v), want %v", path, runs, count, sizes)
	}
	for _, s := range sizes {
		if count[s] < minFrames {
			t.Errorf("%s: %d pictures of %s, want at least %d", path, count[s], s, minFrames)
		}
	}
	checkPacketTimes(t, path)

	tags := readTags(t, path)
	var avc []byte
	splices := 0
	var (
		prev   *media.Frame // the last media tag
		maxPTS int64        // of the pictures so far
		splice bool         // a new configuration came: the next picture starts a run
	)
	for i, tag := range tags {
		if tag.Type == media.FrameData {
			if tag.Timestamp != 0 {
				t.Errorf("%s: metadata at %d ms, want 0", path, tag.Timestamp)
			}
			continue // not on the timeline
		}
		if tag.Type == media.FrameVideo && len(tag.Payload) > 1 && tag.Payload[1] == media.AVCEndOfSeq {
			// ffmpeg's FLV muxer (the RTMP player's file) ends the file
			// with one, at the last video time: behind the last audio.
			continue
		}
		last := prev
		prev = &tags[i]
		if last != nil && int32(tag.Timestamp-last.Timestamp) < 0 {
			t.Errorf("%s: tag %d at %d ms after one at %d ms", path, i, tag.Timestamp, last.Timestamp)
		}
		if tag.Type != media.FrameVideo {
			continue
		}
		if media.IsAVCSeqHeader(tag.Payload) {
			if avc != nil && !bytes.Equal(avc, tag.Payload) {
				splices++
				splice = true
			}
			avc = tag.Payload
			continue
		}
		pts := int64(tag.Timestamp) + int64(videoCTS(tag))
		if splice {
			splice = false
			if !media.IsVideoKeyframe(tag.Payload) {
				t.Errorf("%s: the picture after the new configuration is not a keyframe", path)
			}
			if d := pts - maxPTS; d <= 0 || d > spliceStepMax {
				t.Errorf("%s: the new run's first picture shows %d ms after the last one, want 1 to %d", path, d, spliceStepMax)
			}
		}
		maxPTS = max(maxPTS, pts)
	}
	if splices != len(sizes)-1 {
		t.Errorf("%s: %d changes of video configuration, want %d", path, splices, len(sizes)-1)
	}
}

// checkPacketTimes checks, as ffprobe reads the file, that the decoding
// times of each stream never go back.
func checkPacketTimes(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=stream_index,dts", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("%s: ffprobe packets: %v", path, err)
	}
	last := map[string]int64{}
	n := 0
	for _, line := range strings.Fields(string(out)) {
		idx, dts, ok := strings.Cut(line, ",")
		if !ok || dts == "N/A" {
			continue
		}
		var v int64
		if _, err := fmt.Sscan(dts, &v); err != nil {
			t.Fatalf("%s: packet %q: %v", path, line, err)
		}
		if prev, seen := last[idx]; seen && v < prev {
			t.Errorf("%s: stream %s: dts %d after %d", path, idx, v, prev)
		}
		last[idx] = v
		n++
	}
	if n == 0 {
		t.Errorf("%s: no packets", path)
	}
}
