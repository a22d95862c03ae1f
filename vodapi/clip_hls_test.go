package vodapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/runtest"
)

// refClip stores an HLS clip by reference over run's six segments: its own
// first and last segment (copies of the source's first and last, as edges
// would be) and the source's segments 2..5 between them.
func refClip(t *testing.T, st store.Store, stream catalog.Stream, run string, t0 time.Time) string {
	t.Helper()
	ctx := context.Background()
	segs := runtest.Segments(t)
	id := catalog.NewClipID()
	m := &catalog.ClipHLS{Version: catalog.ClipHLSVersion, Stream: stream.String()}
	for i, s := range segs {
		e := catalog.ClipHLSSegment{Run: run, Seq: uint64(i + 1), DurUS: s.Dur.Microseconds(), Size: int64(len(s.Data))}
		if i == 0 || i == len(segs)-1 {
			name := catalog.ClipHLSFileName(min(i, 1))
			if err := st.Put(ctx, catalog.ClipHLSFileKey(id, name), s.Data, ""); err != nil {
				t.Fatal(err)
			}
			e = catalog.ClipHLSSegment{File: name, DurUS: e.DurUS, Size: e.Size, Discontinuity: i > 0}
		}
		if i == 1 {
			e.Discontinuity = true
		}
		m.Segments = append(m.Segments, e)
	}
	b, err := catalog.EncodeClipHLS(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, catalog.ClipHLSKey(id), b, "application/json"); err != nil {
		t.Fatal(err)
	}
	j := &catalog.ClipJob{ID: id, Status: catalog.ClipSucceeded, Progress: 100, CreatedAt: t0, UpdatedAt: t0,
		Request: catalog.ClipRequest{Stream: stream.String(), Start: t0, End: t0.Add(12 * time.Second), Format: "hls", Mode: "copy"},
		Parts:   []catalog.ClipPart{{Run: run, FirstSeq: 1, LastSeq: uint64(len(segs)), StartMS: t0.UnixMilli(), EndMS: t0.UnixMilli() + 12000}},
		Output:  &catalog.ClipOutput{Key: catalog.ClipHLSKey(id), ContentType: "application/vnd.apple.mpegurl", Files: len(segs)}}
	if err := catalog.WriteClipJob(ctx, st, j); err != nil {
		t.Fatal(err)
	}
	return id
}

// countVideo plays url with ffprobe (hls demuxer over HTTP) and counts the
// video frames decoded.
func countVideo(t *testing.T, url string) int {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, stderr.String())
	}
	// The hls demuxer lists the stream under its program too: the same
	// count once per listing.
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	n, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("ffprobe %s: %q", url, out)
	}
	return n
}

// TestClipHLSByReference: the API makes the playlist of an HLS clip by
// reference from its manifest; ffmpeg plays it through the API from first
// to last frame; once the source is gone the clip answers 410 with a JSON
// error, never a playlist of missing segments.
func TestClipHLSByReference(t *testing.T) {
	a := newAPI(t, Config{})
	now := time.Now()
	a.srv.now = func() time.Time { return now }
	t0 := now.Add(-time.Hour).UTC().Truncate(time.Second)
	run := runtest.WriteRun(t, a.st, fixStream, t0, false)
	id := refClip(t, a.st, fixStream, run, t0)
	out := a.ts.URL + "/v1/clips/" + id + "/output"

	resp, b := get(t, out)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Fatalf("playlist: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	pl := string(b)
	if p := parseMedia(t, b); len(segments(p)) != 6 {
		t.Errorf("%d segments in the playlist", len(segments(p)))
	}
	for _, want := range []string{"#EXT-X-PLAYLIST-TYPE:VOD\n", "#EXT-X-TARGETDURATION:2\n", "#EXT-X-ENDLIST\n",
		"\nseg_00000.ts\n", "\nseg_00001.ts\n", "\n/seg/" + fixStream.String() + "/" + run + "/2.ts\n", "/" + run + "/5.ts\n"} {
		if !strings.Contains(pl, want) {
			t.Errorf("playlist lacks %q:\n%s", want, pl)
		}
	}
	if n := strings.Count(pl, "#EXT-X-DISCONTINUITY\n"); n != 2 {
		t.Errorf("%d discontinuities:\n%s", n, pl)
	}
	if n := countVideo(t, out); n != 6*50 {
		t.Errorf("played %d video frames, want %d", n, 6*50)
	}
	reads := a.storeReads()
	if resp, _ := get(t, out); resp.StatusCode != 200 {
		t.Fatalf("again: %d", resp.StatusCode)
	}
	// Within the check's life the source is not looked at again: the job
	// document and the manifest are the only reads.
	if d := a.storeReads() - reads; d != 2 {
		t.Errorf("a repeat playlist read the store %v times", d)
	}

	// Retention takes the run's oldest segment the clip uses.
	if err := a.st.Delete(context.Background(), catalog.SegmentKey(fixStream, run, 2)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(sourceCheckTTL)
	resp, b = get(t, out)
	var e struct{ Code, Error string }
	if resp.StatusCode != http.StatusGone || json.Unmarshal(b, &e) != nil || e.Code != "clip_source_gone" || e.Error == "" {
		t.Errorf("source gone: %d %s", resp.StatusCode, b)
	}
	if strings.Contains(string(b), "#EXTM3U") {
		t.Errorf("a playlist for a clip without its source")
	}
	// The clip's own files are still its own.
	if resp, _ := get(t, a.ts.URL+"/v1/clips/"+id+"/seg_00000.ts"); resp.StatusCode != 200 {
		t.Errorf("edge segment: %d", resp.StatusCode)
	}
}

// TestClipHLSSigned: with signed playback the playlist carries the token
// it was opened with; opened with an app backend's API token (which
// players cannot send on), the source segments get a play token made for
// the stream, and they open with it.
func TestClipHLSSigned(t *testing.T) {
	const secret, apiTok = "play-secret", "backend-token"
	a := newAPI(t, Config{PlaybackSecrets: []string{secret}, APITokens: []string{apiTok}})
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	run := runtest.WriteRun(t, a.st, fixStream, t0, false)
	id := refClip(t, a.st, fixStream, run, t0)
	out := a.ts.URL + "/v1/clips/" + id + "/output"

	q := catalog.SignToken(secret, catalog.PurposePlay, fixStream, time.Now().Add(time.Hour))
	resp, b := get(t, out+"?"+q)
	if resp.StatusCode != 200 || strings.Count(string(b), "?"+q+"\n") != 6 {
		t.Fatalf("playlist with a play token: %d\n%s", resp.StatusCode, b)
	}
	if n := countVideo(t, out+"?"+q); n != 6*50 {
		t.Errorf("played %d video frames", n)
	}

	resp, b = get(t, out, "Authorization", "Bearer "+apiTok)
	if resp.StatusCode != 200 {
		t.Fatalf("playlist with the API token: %d %s", resp.StatusCode, b)
	}
	src := regexp.MustCompile(`(?m)^(/seg/\S+\?exp=\d+&sig=[0-9a-f]+)$`).FindAllStringSubmatch(string(b), -1)
	if len(src) != 4 || strings.Contains(string(b), "seg_00000.ts?") {
		t.Fatalf("source URIs with a made token: %v\n%s", src, b)
	}
	if resp, body := get(t, a.ts.URL+src[0][1]); resp.StatusCode != 200 || len(body) == 0 {
		t.Errorf("source segment with the made token: %d", resp.StatusCode)
	}
}
