package vodapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/grafov/m3u8"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
)

const immutable = "public, max-age=31536000, immutable"

// clock lets a test move the API's wall clock forward (atomically: handlers
// read it on their own goroutines).
type clock struct{ shift atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.shift.Load())) }
func (c *clock) advance(d time.Duration) { c.shift.Add(int64(d)) }

// follow puts the API's clock just after the end of run r's last segment,
// as if r were being recorded right now.
func (c *clock) follow(r *liveRun) {
	c.shift.Store(int64(time.Until(time.UnixMilli(r.at).Add(500 * time.Millisecond))))
}
func newClockAPI(t *testing.T, cfg Config) (*api, *clock) {
	t.Helper()
	a := newAPI(t, cfg)
	c := &clock{}
	a.srv.now = c.now // before any request: nothing reads it yet
	return a, c
}

// liveRun writes a run into the store the way the recorder does while it
// is live: run.json (live) before the first index entry, then one segment
// object and the rewritten tail chunk per segment, run.json (ended) last.
type liveRun struct {
	t    *testing.T
	st   store.Store
	id   string
	m    catalog.Manifest
	w    *catalog.IndexWriter
	at   int64 // wall clock of the next segment, ms
	seq  uint64
	data [][]byte // segment bytes, cycled
}

func startLiveRun(t *testing.T, st store.Store, start time.Time) *liveRun {
	t.Helper()
	id := catalog.NewRunID(start, "node1")
	var data [][]byte
	for _, s := range testSegments(t) {
		data = append(data, s.Data)
	}
	r := &liveRun{t: t, st: st, id: id, w: catalog.NewIndexWriter(nil), at: start.UnixMilli(), data: data,
		m: catalog.Manifest{Version: 1, Stream: fixStream.String(), Run: id, Node: "node1", StartedAt: start.UTC(),
			State: catalog.StateLive, TargetDurationMS: 2000, MaxSegmentDurationMS: 6000,
			Video: &catalog.VideoInfo{Codec: "avc1.64000d", Width: 320, Height: 240, FPS: 25}}}
	return r
}

// add stores and indexes one segment of d; independent says whether it
// starts on a keyframe (a cut at the hard maximum does not).
func (r *liveRun) add(d time.Duration, independent bool) catalog.Entry {
	r.t.Helper()
	ctx := context.Background()
	if r.seq == 0 {
		if err := catalog.WriteManifest(ctx, r.st, r.m); err != nil {
			r.t.Fatal(err)
		}
	}
	r.seq++
	data := r.data[int(r.seq-1)%len(r.data)]
	if err := r.st.Put(ctx, catalog.SegmentKey(fixStream, r.id, r.seq), data, "video/mp2t"); err != nil {
		r.t.Fatal(err)
	}
	e := catalog.Entry{Seq: r.seq, StartMS: r.at, Duration: uint32(d * catalog.TicksPerSecond / time.Second), Size: uint32(len(data))}
	if independent {
		e.Flags = catalog.FlagIndependent
	}
	r.at = e.EndMS()
	writes, err := r.w.Append(e)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, cw := range writes {
		if err := r.st.Put(ctx, catalog.IndexChunkKey(fixStream, r.id, cw.Number), cw.Data, ""); err != nil {
			r.t.Fatal(err)
		}
	}
	return e
}

// end writes the ended run.json, at the end of the last segment.
func (r *liveRun) end() time.Time {
	r.t.Helper()
	end := time.UnixMilli(r.at).UTC()
	r.m.State, r.m.EndedAt = catalog.StateEnded, &end
	if err := catalog.WriteManifest(context.Background(), r.st, r.m); err != nil {
		r.t.Fatal(err)
	}
	return end
}

// decode undoes a content coding.
func decode(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch coding {
	case "":
		return b
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	default:
		t.Fatalf("coding %q", coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", coding, err)
	}
	return out
}

// playlistIn fetches url in one content coding and returns the decoded body.
func playlistIn(t *testing.T, url, coding string) (*http.Response, []byte) {
	t.Helper()
	resp, b := get(t, url, "Accept-Encoding", coding)
	if resp.StatusCode != 200 {
		t.Fatalf("%s (%q): %d %s", url, coding, resp.StatusCode, b)
	}
	if got := resp.Header.Get("Content-Encoding"); got != coding {
		t.Fatalf("%s: Content-Encoding %q, want %q", url, got, coding)
	}
	return resp, decode(t, coding, b)
}

// header is the value of a playlist's tag line ("" when absent).
func header(body []byte, tag string) string {
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, tag); ok {
			return v
		}
	}
	return ""
}

// Refreshes of a live playlist only append lines (RFC 8216 6.2.1), with a
// GOP longer than the target in the middle (cut at the hard maximum, the
// next segment not independent), across a reconnect, and finally ENDLIST:
// TARGETDURATION, PLAYLIST-TYPE and INDEPENDENT-SEGMENTS never change.
func TestLiveRefreshesAppendOnly(t *testing.T) {
	// A short configured target keeps our caches' life (half of it) short,
	// so that each refresh sees the store; the runs say 2 s.
	a, clk := newClockAPI(t, Config{TargetDuration: 400 * time.Millisecond, ReconnectWindow: 5 * time.Second})
	// The API's clock follows the writer: the run is live (its last segment
	// just ended) at every refresh.
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	r1 := startLiveRun(t, a.st, start)
	urls := []string{
		a.ts.URL + "/hls/live/cam/index.m3u8",
		a.ts.URL + "/hls/live/cam/index.m3u8?start=" + strconv.FormatInt(start.Unix(), 10),
		a.ts.URL + "/hls/live/cam/recordings/" + r1.id + "/index.m3u8",
	}
	prev := make([][]byte, len(urls))
	refresh := func(step string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // past our caches' life
		for i, url := range urls {
			_, body := playlistIn(t, url, "")
			parseMedia(t, body)
			if tg := header(body, "#EXT-X-TARGETDURATION:"); tg != "7" {
				t.Errorf("%s, %s: TARGETDURATION %q, want 7 (the 6 s hard maximum, rounded up, plus a frame's second)", step, url, tg)
			}
			if pt := header(body, "#EXT-X-PLAYLIST-TYPE:"); pt != "EVENT" {
				t.Errorf("%s, %s: PLAYLIST-TYPE %q, want EVENT", step, url, pt)
			}
			if bytes.Contains(body, []byte("#EXT-X-INDEPENDENT-SEGMENTS")) {
				t.Errorf("%s, %s: INDEPENDENT-SEGMENTS in a playlist that can grow", step, url)
			}
			if prev[i] != nil && !bytes.HasPrefix(body, prev[i]) {
				t.Errorf("%s, %s: not the previous body with lines appended:\nwas:\n%s\nnow:\n%s", step, url, prev[i], body)
			}
			prev[i] = body
		}
	}
	r1.add(2*time.Second, true)
	clk.follow(r1)
	refresh("first segment")
	r1.add(2*time.Second, true)
	clk.follow(r1)
	refresh("second segment")
	r1.add(5900*time.Millisecond, true) // a long GOP, cut at the hard maximum
	clk.follow(r1)
	refresh("long GOP")
	r1.add(1500*time.Millisecond, false) // what follows the cut starts mid-GOP
	clk.follow(r1)
	refresh("non-keyframe cut")
	r1.add(2*time.Second, true)
	end1 := r1.end()
	clk.follow(r1)
	refresh("first run ended")
	for i := range urls {
		if bytes.Contains(prev[i], []byte("#EXT-X-ENDLIST")) {
			t.Errorf("%s: ENDLIST while a reconnect can still join", urls[i])
		}
	}
	r2 := startLiveRun(t, a.st, end1.Add(3*time.Second))
	r2.add(2*time.Second, true)
	clk.follow(r2)
	refresh("reconnect")
	r2.add(2*time.Second, true)
	r2.end()
	clk.follow(r2)
	refresh("second run ended")
	for i := range urls {
		if n := bytes.Count(prev[i], []byte("#EXT-X-DISCONTINUITY\n")); n != 1 {
			t.Errorf("%s: %d discontinuities, want 1 between the runs", urls[i], n)
		}
		if n := bytes.Count(prev[i], []byte("#EXTINF:")); n != 7 {
			t.Errorf("%s: %d segments, want 7", urls[i], n)
		}
	}
	closedBefore := append([][]byte(nil), prev...)
	clk.advance(time.Minute) // past the reconnect window and the arrival slack
	refresh("nothing can join")
	for i := range urls {
		if want := string(closedBefore[i]) + "#EXT-X-ENDLIST\n"; string(prev[i]) != want {
			t.Errorf("%s: the end appended more than ENDLIST:\n%s", urls[i], prev[i])
		}
	}
}

// The reconnect: a run ends, and in the gap before the next one the
// latest, the open-ended and the recording playlists stay open (EVENT, no
// ENDLIST, live caching) in every coding; the reconnect's run then shows in
// all of them, after a DISCONTINUITY, the same segments in every coding.
func TestReconnectGapStaysOpen(t *testing.T) {
	a, clk := newClockAPI(t, Config{})
	start := time.Now().Add(-40 * time.Second).Truncate(time.Second)
	r1 := startLiveRun(t, a.st, start)
	for range 6 {
		r1.add(2*time.Second, true)
	}
	end1 := r1.end() // 28 s ago: long timed out, well inside the 60 s window
	urls := map[string]string{
		"latest":     a.ts.URL + "/hls/live/cam/index.m3u8",
		"open-ended": a.ts.URL + "/hls/live/cam/index.m3u8?start=" + strconv.FormatInt(start.Add(time.Second).Unix(), 10),
		"recording":  a.ts.URL + "/hls/live/cam/recordings/" + r1.id + "/index.m3u8",
	}
	const live = "public, max-age=1, stale-while-revalidate=2"
	check := func(step string, segs, discs int) {
		t.Helper()
		for name, url := range urls {
			var identity []byte
			for _, coding := range []string{"", "gzip", "br"} {
				resp, body := playlistIn(t, url, coding)
				p := parseMedia(t, body)
				if p.Closed || p.MediaType != m3u8.EVENT {
					t.Errorf("%s, %s %q: closed=%v type=%v, want an open EVENT", step, name, coding, p.Closed, p.MediaType)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != live {
					t.Errorf("%s, %s %q: Cache-Control %q, want %q", step, name, coding, cc, live)
				}
				if n := len(segments(p)); n != segs {
					t.Errorf("%s, %s %q: %d segments, want %d", step, name, coding, n, segs)
				}
				if n := bytes.Count(body, []byte("#EXT-X-DISCONTINUITY\n")); n != discs {
					t.Errorf("%s, %s %q: %d discontinuities, want %d", step, name, coding, n, discs)
				}
				if coding == "" {
					identity = body
				} else if !bytes.Equal(body, identity) {
					t.Errorf("%s, %s: the %s body differs from identity:\n%s\nidentity:\n%s", step, name, coding, body, identity)
				}
			}
		}
	}
	check("in the gap", 6, 0)
	r2 := startLiveRun(t, a.st, end1.Add(5*time.Second))
	for range 3 {
		r2.add(2*time.Second, true)
	}
	r2.end()
	time.Sleep(1100 * time.Millisecond) // our caches' live life
	check("after the reconnect", 9, 1)

	// Once nothing can join, ENDLIST; the recording is then immutable, the
	// latest and open-ended URLs are not (they move on to the next publish).
	clk.advance(2 * time.Minute)
	time.Sleep(1100 * time.Millisecond)
	for name, url := range urls {
		resp, body := playlistIn(t, url, "br")
		if p := parseMedia(t, body); !p.Closed || p.MediaType != m3u8.EVENT {
			t.Errorf("ended %s: closed=%v type=%v, want EVENT + ENDLIST", name, p.Closed, p.MediaType)
		}
		want := live
		if name == "recording" {
			want = immutable
		}
		if cc := resp.Header.Get("Cache-Control"); cc != want {
			t.Errorf("ended %s: Cache-Control %q, want %q", name, cc, want)
		}
	}
}

// Every coding of a URL is the one identity render compressed, whenever
// each was first asked for: a br answer cached before a new segment is not
// served next to an identity answer rendered after it.
func TestCodingsShareOneRender(t *testing.T) {
	a := newAPI(t, Config{TargetDuration: 2 * time.Second}) // our caches keep 1 s
	r := startLiveRun(t, a.st, time.Now().Add(-10*time.Second))
	for range 4 {
		r.add(2*time.Second, true)
	}
	url := a.ts.URL + "/hls/live/cam/index.m3u8"
	playlistIn(t, url, "") // 4 segments, kept 1 s
	r.add(2*time.Second, true)
	time.Sleep(700 * time.Millisecond)
	playlistIn(t, url, "br") // asked for while the 4-segment identity is kept
	playlistIn(t, url, "gzip")
	// Once the identity is rendered again with the new segment, every
	// coding must follow it at once, whatever each had cached.
	var identity []byte
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, identity = playlistIn(t, url, ""); bytes.Count(identity, []byte("#EXTINF:")) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity never listed the 5 stored segments:\n%s", identity)
		}
	}
	for _, coding := range []string{"br", "gzip"} {
		if _, body := playlistIn(t, url, coding); !bytes.Equal(body, identity) {
			t.Errorf("%s lists %d segments, identity %d", coding, bytes.Count(body, []byte("#EXTINF:")), bytes.Count(identity, []byte("#EXTINF:")))
		}
	}
}

// In the first seconds of a publish the live URL is 404 no_recordings, for
// no longer than the live edge: not in the CDN (Cache-Control) and not in
// our own cache, which lets the playlist through as soon as it exists.
func TestNoRecordingsYetIsShortLived(t *testing.T) {
	a := newAPI(t, Config{TargetDuration: 2 * time.Second})
	url := a.ts.URL + "/hls/live/cam/index.m3u8"
	const live = "public, max-age=1, stale-while-revalidate=2"
	notYet := func(step string) {
		t.Helper()
		resp, body := get(t, url)
		var e struct{ Code string }
		json.Unmarshal(body, &e)
		if resp.StatusCode != 404 || e.Code != "no_recordings" || resp.Header.Get("Cache-Control") != live {
			t.Errorf("%s: %d %s, Cache-Control %q; want 404 no_recordings cached like the live edge", step, resp.StatusCode, body, resp.Header.Get("Cache-Control"))
		}
	}
	notYet("no run")
	// The first segment is stored and listed before run.json and the index.
	r := startLiveRun(t, a.st, time.Now().Add(-3*time.Second))
	if err := a.st.Put(context.Background(), catalog.SegmentKey(fixStream, r.id, 1), r.data[0], "video/mp2t"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	notYet("a segment but no run.json")
	// run.json without an index entry yet.
	if err := catalog.WriteManifest(context.Background(), a.st, r.m); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	notYet("run.json but no index")
	r.add(2*time.Second, true)
	indexed := time.Now()
	for {
		resp, body := get(t, url)
		if resp.StatusCode == 200 {
			parseMedia(t, body)
			break
		}
		if time.Since(indexed) > 2*time.Second { // within the live life: max-age 1 + stale 2
			t.Fatalf("still %d %s 2 s after the first segment was indexed", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// With restricted CORS origins, a playlist's Vary keeps the middleware's
// Origin next to Accept-Encoding, so a CDN keys on both.
func TestPlaylistVaryWithCORSOrigins(t *testing.T) {
	a := newAPI(t, Config{CORSOrigins: []string{"https://player.example"}})
	writeRun(t, a.st, time.Now().Add(-time.Hour), false)
	url := a.ts.URL + "/hls/live/cam/index.m3u8"
	for _, coding := range []string{"", "br"} {
		resp, _ := get(t, url, "Origin", "https://player.example", "Accept-Encoding", coding)
		if resp.StatusCode != 200 || !varies(resp, "Origin") || !varies(resp, "Accept-Encoding") {
			t.Errorf("%q: %d Vary %q, want Origin and Accept-Encoding", coding, resp.StatusCode, resp.Header.Values("Vary"))
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://player.example" {
			t.Errorf("%q: Access-Control-Allow-Origin %q", coding, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		resp, _ = get(t, url, "Origin", "https://player.example", "Accept-Encoding", coding, "If-None-Match", resp.Header.Get("ETag"))
		if resp.StatusCode != http.StatusNotModified || !varies(resp, "Origin") || !varies(resp, "Accept-Encoding") {
			t.Errorf("%q revalidation: %d Vary %q", coding, resp.StatusCode, resp.Header.Values("Vary"))
		}
	}
}

// A node died mid-run: run.json still says live, readers treat the run as
// ended, but the node may restart and upload its spool into it. Until the
// recovery grace has passed nothing over it closes; the restarted node then
// adds its segments to the same playlists, and ends the run.
func TestDeadNodeRunStaysOpen(t *testing.T) {
	a := newAPI(t, Config{})
	start := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	r := startLiveRun(t, a.st, start)
	for range 3 {
		r.add(2*time.Second, true)
	}
	// The node went quiet 114 s ago: long timed out for readers.
	urls := map[string]string{
		"latest": a.ts.URL + "/hls/live/cam/index.m3u8",
		"run":    a.ts.URL + "/hls/live/cam/runs/" + r.id + "/index.m3u8",
		"window": a.ts.URL + "/hls/live/cam/index.m3u8?start=" + strconv.FormatInt(start.Unix(), 10) + "&end=" + strconv.FormatInt(start.Add(30*time.Second).Unix(), 10),
	}
	before := map[string][]byte{}
	for name, url := range urls {
		resp, body := playlistIn(t, url, "")
		p := parseMedia(t, body)
		if p.Closed || resp.Header.Get("Cache-Control") == immutable || p.MediaType != m3u8.EVENT {
			t.Errorf("%s over a silent run: closed=%v type=%v Cache-Control %q; want an open EVENT", name, p.Closed, p.MediaType, resp.Header.Get("Cache-Control"))
		}
		before[name] = body
	}
	// The node restarts within the grace: its spool goes in, the run ends.
	r.add(2*time.Second, true)
	r.end()
	time.Sleep(1100 * time.Millisecond)
	for name, url := range urls {
		_, body := playlistIn(t, url, "")
		if n := bytes.Count(body, []byte("#EXTINF:")); n != 4 {
			t.Errorf("%s after the recovery: %d segments, want 4", name, n)
		}
		if name != "window" && !bytes.HasPrefix(body, before[name]) {
			t.Errorf("%s after the recovery is not an append:\n%s", name, body)
		}
	}

	// A node that never comes back: past the grace, the run counts as
	// finished and its playlists close.
	a2, clk2 := newClockAPI(t, Config{})
	r2 := startLiveRun(t, a2.st, start)
	for range 3 {
		r2.add(2*time.Second, true)
	}
	clk2.advance(recoveryGrace)
	for name, url := range map[string]string{"run": "/hls/live/cam/runs/" + r2.id + "/index.m3u8", "latest": "/hls/live/cam/index.m3u8"} {
		resp, body := playlistIn(t, a2.ts.URL+url, "")
		p := parseMedia(t, body)
		if !p.Closed || p.MediaType != m3u8.EVENT {
			t.Errorf("%s after the grace: closed=%v type=%v", name, p.Closed, p.MediaType)
		}
		if cc := resp.Header.Get("Cache-Control"); (name == "run") != (cc == immutable) {
			t.Errorf("%s after the grace: Cache-Control %q", name, cc)
		}
	}
}
