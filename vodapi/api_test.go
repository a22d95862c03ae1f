package vodapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	neturl "net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/grafov/m3u8"
	"github.com/klauspost/compress/zstd"
)

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return do(t, http.MethodGet, url, hdr...)
}

func parseMedia(t *testing.T, body []byte) *m3u8.MediaPlaylist {
	t.Helper()
	p, typ, err := m3u8.DecodeFrom(bytes.NewReader(body), true)
	if err != nil {
		t.Fatalf("m3u8: %v\n%s", err, body)
	}
	if typ != m3u8.MEDIA {
		t.Fatalf("not a media playlist:\n%s", body)
	}
	return p.(*m3u8.MediaPlaylist)
}

func segments(p *m3u8.MediaPlaylist) []*m3u8.MediaSegment {
	var out []*m3u8.MediaSegment
	for _, s := range p.Segments {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// A closed window across a reconnect: VOD, one discontinuity, a
// PROGRAM-DATE-TIME per run, immutable caching; ffmpeg decodes it to the
// end over HTTP and its duration matches the window within a segment.
func TestWindowAcrossReconnect(t *testing.T) {
	a := newAPI(t, Config{})
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	writeRun(t, a.st, t0, false)
	writeRun(t, a.st, t0.Add(20*time.Second), false) // 12 s run, 8 s gap, then the reconnect
	start, end := t0.Add(3*time.Second), t0.Add(29*time.Second)
	url := fmt.Sprintf("%s/hls/live/cam/index.m3u8?start=%d&end=%s", a.ts.URL, start.Unix(), end.Format(time.RFC3339))
	resp, body := get(t, url)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control %q for a closed window", cc)
	}
	if resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" || resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
		t.Errorf("headers %v", resp.Header)
	}
	p := parseMedia(t, body)
	if !p.Closed || p.MediaType != m3u8.VOD {
		t.Errorf("closed=%v type=%v, want VOD with ENDLIST", p.Closed, p.MediaType)
	}
	segs := segments(p)
	disc, pdt := 0, 0
	for i, s := range segs {
		if s.Discontinuity {
			disc++
		}
		if !s.ProgramDateTime.IsZero() {
			pdt++
			if i > 0 && !s.Discontinuity {
				t.Errorf("segment %d: PROGRAM-DATE-TIME without a discontinuity", i)
			}
		}
		if math.Ceil(s.Duration) > float64(p.TargetDuration) {
			t.Errorf("segment %d longer than TARGETDURATION", i)
		}
	}
	if disc != 1 || pdt != 2 {
		t.Errorf("%d discontinuities and %d PROGRAM-DATE-TIMEs, want 1 and 2:\n%s", disc, pdt, body)
	}
	// Each edge lies inside the first and last segment: the playlist covers
	// the window to within one segment.
	first, last := segs[0], segs[len(segs)-1]
	if first.ProgramDateTime.After(start) || !first.ProgramDateTime.Add(secs(first.Duration)).After(start) {
		t.Errorf("first segment %v+%.2fs does not hold the start %v", first.ProgramDateTime, first.Duration, start)
	}
	var sinceDisc float64
	var lastPDT time.Time
	for _, s := range segs {
		if !s.ProgramDateTime.IsZero() {
			lastPDT, sinceDisc = s.ProgramDateTime, 0
		}
		sinceDisc += s.Duration
	}
	if lastEnd := lastPDT.Add(secs(sinceDisc)); lastEnd.Before(end) || lastEnd.Add(-secs(last.Duration)).After(end) {
		t.Errorf("last segment ends %v, the window %v", lastEnd, end)
	}
	if !strings.Contains(string(body), "#EXT-X-INDEPENDENT-SEGMENTS") {
		t.Error("no INDEPENDENT-SEGMENTS")
	}
	// A real client reads it to the end. Timestamps restart at the
	// reconnect (as HLS allows after a discontinuity), so decode with
	// ffprobe, which does not remux.
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames", "-of", "csv=p=0", url)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "rror") {
		t.Errorf("ffprobe decode: %v\n%s", err, out)
	}
	var sum float64
	for _, s := range segs {
		sum += s.Duration
	}
	// 18 s of window, plus at most one segment's overhang at each edge.
	if sum < 18 || sum > 18+2*2.2 {
		t.Errorf("playlist lasts %.2fs for an 18 s window", sum)
	}
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// One run's window decodes to the end with ffmpeg, its duration matching.
func TestWindowDecodesWithFFmpeg(t *testing.T) {
	a := newAPI(t, Config{})
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	writeRun(t, a.st, t0, false)
	url := fmt.Sprintf("%s/hls/live/cam/index.m3u8?start=%d&end=%d", a.ts.URL, t0.Unix(), t0.Add(12*time.Second).Unix())
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", url, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("ffmpeg decode: %v\n%s", err, out)
	}
	d, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url).Output()
	if err != nil {
		t.Fatal(err)
	}
	var dur float64
	fmt.Sscanf(strings.TrimSpace(string(d)), "%g", &dur)
	if math.Abs(dur-12) > 2.1 {
		t.Errorf("duration %.2f for a 12 s window", dur)
	}
}

// A live run's latest playlist is EVENT; when the run ends it stays EVENT
// without ENDLIST while a reconnect could still join it, then only appends
// ENDLIST. The latest URL moves on to the next publish, so it is never
// immutable; the run's own playlist is, once ended.
// (Was TestEventBecomesVOD, which wanted VOD + immutable at once.)
func TestEventEndsWithEndlist(t *testing.T) {
	a := newAPI(t, Config{TargetDuration: 2 * time.Second, ReconnectWindow: 5 * time.Second})
	run := writeRun(t, a.st, time.Now().Add(-12*time.Second), true)
	url := a.ts.URL + "/hls/live/cam/index.m3u8"
	resp, body := get(t, url)
	p := parseMedia(t, body)
	if p.Closed || p.MediaType != m3u8.EVENT {
		t.Errorf("live run: closed=%v type=%v, want EVENT", p.Closed, p.MediaType)
	}
	const live = "public, max-age=1, stale-while-revalidate=2"
	if cc := resp.Header.Get("Cache-Control"); cc != live {
		t.Errorf("live Cache-Control %q", cc)
	}
	endRun(t, a.st, run)
	time.Sleep(1100 * time.Millisecond) // our caches' live life
	resp, ended := get(t, url)
	if p = parseMedia(t, ended); p.Closed || p.MediaType != m3u8.EVENT || resp.Header.Get("Cache-Control") != live {
		t.Errorf("in the reconnect window: closed=%v type=%v Cache-Control %q, want an open EVENT", p.Closed, p.MediaType, resp.Header.Get("Cache-Control"))
	}
	a.srv.now = func() time.Time { return time.Now().Add(time.Minute) } // the window and the arrival slack passed
	time.Sleep(1100 * time.Millisecond)
	resp, body = get(t, url)
	p = parseMedia(t, body)
	if !p.Closed || p.MediaType != m3u8.EVENT || string(body) != string(ended)+"#EXT-X-ENDLIST\n" {
		t.Errorf("after the window: closed=%v type=%v; want the same EVENT with ENDLIST appended:\n%s", p.Closed, p.MediaType, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != live {
		t.Errorf("ended latest: Cache-Control %q, want the live life (the URL moves on)", cc)
	}
	// Run and recording playlists point at the same segments.
	rresp, rb := get(t, a.ts.URL+"/hls/live/cam/runs/"+run+"/index.m3u8")
	rp := parseMedia(t, rb)
	if !rp.Closed || rp.MediaType != m3u8.EVENT || rresp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("ended run: closed=%v type=%v Cache-Control %q", rp.Closed, rp.MediaType, rresp.Header.Get("Cache-Control"))
	}
	if len(segments(rp)) != len(segments(p)) || !strings.HasPrefix(segments(rp)[0].URI, "../../"+run+"/") {
		t.Errorf("run playlist: %d segments, first %q", len(segments(rp)), segments(rp)[0].URI)
	}
	base, _ := neturl.Parse(a.ts.URL + "/hls/live/cam/runs/" + run + "/index.m3u8")
	ref, _ := neturl.Parse(segments(rp)[0].URI)
	resp, _ = get(t, base.ResolveReference(ref).String())
	if resp.StatusCode != 200 {
		t.Errorf("segment via the run playlist's URI: %d", resp.StatusCode)
	}
}

func TestRecordingsAndStreams(t *testing.T) {
	a := newAPI(t, Config{})
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	r1 := writeRun(t, a.st, t0, false)
	r2 := writeRun(t, a.st, t0.Add(30*time.Second), false) // joins r1
	r3 := writeRun(t, a.st, t0.Add(10*time.Minute), false) // its own recording
	_, body := get(t, a.ts.URL+"/v1/streams/live/cam/recordings")
	var res struct {
		Recordings []struct {
			ID       string     `json:"id"`
			Runs     []string   `json:"runs"`
			State    string     `json:"state"`
			EndedAt  *time.Time `json:"ended_at"`
			Duration float64    `json:"duration"`
			Playlist string     `json:"playlist_url"`
		} `json:"recordings"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err, string(body))
	}
	if len(res.Recordings) != 2 || res.Recordings[0].ID != r1 || len(res.Recordings[0].Runs) != 2 || res.Recordings[0].Runs[1] != r2 || res.Recordings[1].ID != r3 {
		t.Fatalf("recordings: %s", body)
	}
	if rec := res.Recordings[0]; rec.State != "ended" || rec.EndedAt == nil || math.Abs(rec.Duration-42) > 1 {
		t.Errorf("recording: %+v", rec)
	}
	_, pb := get(t, a.ts.URL+res.Recordings[0].Playlist)
	if p := parseMedia(t, pb); len(segments(p)) != 2*len(testSegments(t)) || !p.Closed {
		t.Errorf("recording playlist: %d segments closed=%v", len(segments(p)), p.Closed)
	}
	_, sb := get(t, a.ts.URL+"/v1/streams")
	if !strings.Contains(string(sb), `"stream":"live/cam"`) {
		t.Errorf("streams: %s", sb)
	}
}

// Conditional requests, compression and the cache: the same bytes each
// time, decoded identically for every coding, a warm hit with no store read.
func TestCachingAndCompression(t *testing.T) {
	a := newAPI(t, Config{})
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	writeRun(t, a.st, t0, false)
	url := fmt.Sprintf("%s/hls/live/cam/index.m3u8?start=%d&end=%d", a.ts.URL, t0.Unix(), t0.Add(12*time.Second).Unix())
	resp, plain := get(t, url)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || !varies(resp, "Accept-Encoding") {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	etag := resp.Header.Get("ETag")
	before := a.storeReads()
	resp, _ = get(t, url, "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || resp.Header.Get("ETag") != etag {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	if n := a.storeReads() - before; n != 0 {
		t.Errorf("a warm hit made %v store reads", n)
	}
	decoders := map[string]func([]byte) ([]byte, error){
		"gzip": func(b []byte) ([]byte, error) {
			r, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return nil, err
			}
			return io.ReadAll(r)
		},
		"br": func(b []byte) ([]byte, error) { return io.ReadAll(brotli.NewReader(bytes.NewReader(b))) },
		"zstd": func(b []byte) ([]byte, error) {
			d, _ := zstd.NewReader(nil)
			defer d.Close()
			return d.DecodeAll(b, nil)
		},
	}
	for coding, decode := range decoders {
		resp, b := get(t, url, "Accept-Encoding", coding)
		if resp.Header.Get("Content-Encoding") != coding {
			t.Errorf("%s: Content-Encoding %q", coding, resp.Header.Get("Content-Encoding"))
			continue
		}
		got, err := decode(b)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s round trip: %v", coding, err)
		}
		if resp.Header.Get("ETag") == etag {
			t.Errorf("%s shares the identity ETag", coding)
		}
	}
	resp, _ = get(t, url, "Accept-Encoding", "gzip;q=0.5, br;q=0, zstd;q=0.9")
	if resp.Header.Get("Content-Encoding") != "zstd" {
		t.Errorf("q-values: got %q", resp.Header.Get("Content-Encoding"))
	}
	before = a.storeReads()
	for range 3 {
		get(t, url, "Accept-Encoding", "br")
	}
	if n := a.storeReads() - before; n != 0 {
		t.Errorf("warm compressed hits made %v store reads", n)
	}
	// CORS for players on other origins.
	resp, _ = get(t, url, "Origin", "https://player.example")
	if resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Error("no CORS header")
	}
}

// varies says whether the answer's Vary lists token.
func varies(resp *http.Response, token string) bool {
	for _, v := range resp.Header.Values("Vary") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func TestSegmentRange(t *testing.T) {
	a := newAPI(t, Config{})
	run := writeRun(t, a.st, time.Now().Add(-time.Hour), false)
	url := a.ts.URL + "/seg/live/cam/" + run + "/1.ts"
	resp, full := get(t, url)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp2t" || !bytes.Equal(full, testSegments(t)[0].Data) {
		t.Fatalf("segment: %d %v", resp.StatusCode, resp.Header)
	}
	etag := resp.Header.Get("ETag")
	resp, part := get(t, url, "Range", "bytes=188-375")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, full[188:376]) ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 188-375/%d", len(full)) {
		t.Errorf("range: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	if resp, _ := get(t, url, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("segment If-None-Match: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodHead, url, nil)
	hr, err := http.DefaultClient.Do(req)
	if err != nil || hr.StatusCode != 200 || hr.ContentLength != int64(len(full)) {
		t.Errorf("HEAD: %v %v", err, hr)
	}
	if resp, _ := get(t, url, "Range", fmt.Sprintf("bytes=%d-", len(full)+10)); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: %d", resp.StatusCode)
	}
}

// Bad input is a 4xx JSON error, never a 5xx, never a read outside the store.
func TestBadInput(t *testing.T) {
	a := newAPI(t, Config{MaxWindow: time.Hour})
	run := writeRun(t, a.st, time.Now().Add(-3*time.Hour), false)
	now := time.Now().Unix()
	for _, path := range []string{
		"/hls/live/cam/index.m3u8?start=yesterday",
		"/hls/live/cam/index.m3u8?start=1795000000&end=soon",
		fmt.Sprintf("/hls/live/cam/index.m3u8?start=%d&end=%d", now, now-10),
		fmt.Sprintf("/hls/live/cam/index.m3u8?start=%d&end=%d", now-7200, now),
		"/hls/live/cam/index.m3u8?end=1795000000",
		"/hls/live/nobody/index.m3u8",
		fmt.Sprintf("/hls/live/nobody/index.m3u8?start=%d", now-60),
		"/hls/live/cam/runs/not-a-run/index.m3u8",
		"/hls/live/cam/runs/20261123T101500.123Z-node1-7f3a/index.m3u8",
		"/hls/live/cam/recordings/20261123T101500.123Z-node1-7f3a/index.m3u8",
		"/hls/../../etc/index.m3u8",
		"/hls/live/%2e%2e/index.m3u8",
		"/hls/%2e%2e/%2e%2e/index.m3u8",
		"/hls/live/cam%2f..%2f..%2fetc/index.m3u8",
		"/seg/live/cam/" + run + "/..%2f..%2frun.json",
		"/seg/live/cam/" + run + "/0.ts",
		"/seg/live/cam/" + run + "/99.ts",
		"/seg/live/cam/" + run + "/1.json",
		"/seg/live/cam/..%2f" + run + "/1.ts",
		"/seg/live/c%00am/" + run + "/1.ts",
		"/v1/streams?limit=0",
		"/v1/streams/live/cam/recordings?from=x",
		"/v1/streams/live/ca.m/recordings",
		"/nope",
	} {
		resp, body := get(t, a.ts.URL+path)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
			continue
		}
		var e struct{ Error, Code string }
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || e.Code == "" {
			t.Errorf("%s: not a JSON error: %s", path, body)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: Content-Type %q", path, resp.Header.Get("Content-Type"))
		}
	}
}

// With a CDN in front of the bucket, segment URIs point at the store keys
// under the configured base.
func TestSegmentBaseURL(t *testing.T) {
	a := newAPI(t, Config{SegmentBaseURL: "https://cdn.example/rec/"})
	run := writeRun(t, a.st, time.Now().Add(-time.Hour), false)
	_, body := get(t, a.ts.URL+"/hls/live/cam/runs/"+run+"/index.m3u8")
	segs := segments(parseMedia(t, body))
	if want := "https://cdn.example/rec/streams/live/cam/" + run + "/seg/0000000001.ts"; segs[0].URI != want {
		t.Errorf("URI %q, want %q", segs[0].URI, want)
	}

	// "/": root-relative, for a CDN serving the bucket and the API on one
	// host (the Terraform deployment).
	a = newAPI(t, Config{SegmentBaseURL: "/"})
	run = writeRun(t, a.st, time.Now().Add(-time.Hour), false)
	_, body = get(t, a.ts.URL+"/hls/live/cam/runs/"+run+"/index.m3u8")
	segs = segments(parseMedia(t, body))
	if want := "/streams/live/cam/" + run + "/seg/0000000001.ts"; segs[0].URI != want {
		t.Errorf("URI %q, want %q", segs[0].URI, want)
	}

	for _, bad := range []string{"cdn.example", "//cdn.example/x", "ftp://cdn.example", "https://cdn.example/?a=1", "https://u:p@cdn.example", "https://"} {
		if _, err := New(Config{SegmentBaseURL: bad}, a.st, nil, nil); err == nil {
			t.Errorf("segment base URL %q accepted", bad)
		}
	}
}

// N concurrent cold requests for one playlist make the store reads of one.
func TestConcurrentMissesReadOnce(t *testing.T) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	one := newAPI(t, Config{})
	writeRun(t, one.st, t0, false)
	path := fmt.Sprintf("/hls/live/cam/index.m3u8?start=%d&end=%d", t0.Unix(), t0.Add(12*time.Second).Unix())
	get(t, one.ts.URL+path)
	single := one.storeReads()
	if single == 0 {
		t.Fatal("a cold request made no store reads")
	}

	many := newAPI(t, Config{})
	writeRun(t, many.st, t0, false)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if resp, _ := get(t, many.ts.URL+path); resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if got := many.storeReads(); got != single {
		t.Errorf("20 concurrent cold requests made %v store reads; one makes %v", got, single)
	}
}

func TestCORSAllowList(t *testing.T) {
	a := newAPI(t, Config{CORSOrigins: []string{"https://player.example"}})
	writeRun(t, a.st, time.Now().Add(-time.Hour), false)
	url := a.ts.URL + "/v1/streams"
	if resp, _ := get(t, url, "Origin", "https://player.example"); resp.Header.Get("Access-Control-Allow-Origin") != "https://player.example" {
		t.Errorf("allowed origin: %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if resp, _ := get(t, url, "Origin", "https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// Errors are cached briefly, so a CDN absorbs repeats.
	if resp, _ := get(t, a.ts.URL+"/hls/live/cam/index.m3u8?start=x"); resp.Header.Get("Cache-Control") != "public, max-age=5" {
		t.Errorf("4xx Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
}
