package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/rewind-vod/rewind/catalog"
)

// codedGet fetches url asking for one content coding and returns the
// headers and the decoded body; it does not let the client decode for it.
func codedGet(t *testing.T, url, coding string) (http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if coding != "" {
		req.Header.Set("Accept-Encoding", coding)
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("%s (%q): %d %s", url, coding, resp.StatusCode, raw)
	}
	if got := resp.Header.Get("Content-Encoding"); got != coding {
		t.Fatalf("%s: Content-Encoding %q, want %q", url, got, coding)
	}
	var r io.Reader = bytes.NewReader(raw)
	switch coding {
	case "gzip":
		if r, err = gzip.NewReader(r); err != nil {
			t.Fatal(err)
		}
	case "br":
		r = brotli.NewReader(r)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: decode %s: %v", url, coding, err)
	}
	return resp.Header, body
}

// segmentURIs are a playlist's segment lines.
func segmentURIs(body []byte) []string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// The reconnect with a real publisher: ffmpeg publishes, stops, and
// publishes again within the reconnect window. In the gap the latest and
// the open-ended playlists are open EVENTs with live caching, in identity,
// gzip and br; after the reconnect the same URLs list both runs, with a
// DISCONTINUITY between them, and all three codings list the same segments.
func TestReplayAcrossPublisherReconnect(t *testing.T) {
	t.Parallel()
	src, _ := source(t, 6)
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"))
	st := fsStore(t, filepath.Join(dir, "store"))
	began := time.Now()
	if err := publish(t, src, n.url("live/cam")).wait(t); err != nil {
		t.Fatal(err)
	}
	runs := waitRuns(t, st, camStream, 1, 20*time.Second)
	base := "http://" + n.httpAddr + "/hls/live/cam/index.m3u8"
	urls := map[string]string{
		"latest":     base,
		"open-ended": fmt.Sprintf("%s?start=%d", base, began.Add(-5*time.Second).Unix()),
	}
	codings := []string{"", "gzip", "br"}

	// In the gap: open, in every coding, whatever was cached while live.
	for name, url := range urls {
		for _, coding := range codings {
			h, body := codedGet(t, url, coding)
			if cc := h.Get("Cache-Control"); strings.Contains(cc, "immutable") || strings.Contains(cc, "max-age=31536000") {
				t.Errorf("gap, %s %q: Cache-Control %q", name, coding, cc)
			}
			if bytes.Contains(body, []byte("#EXT-X-ENDLIST")) || bytes.Contains(body, []byte("#EXT-X-PLAYLIST-TYPE:VOD")) {
				t.Errorf("gap, %s %q: closed while a reconnect can join:\n%s", name, coding, body)
			}
			if !bytes.Contains(body, []byte("#EXT-X-PLAYLIST-TYPE:EVENT")) {
				t.Errorf("gap, %s %q: not an EVENT:\n%s", name, coding, body)
			}
		}
	}

	// The reconnect.
	if err := publish(t, src, n.url("live/cam")).wait(t); err != nil {
		t.Fatal(err)
	}
	runs = waitRuns(t, st, camStream, 2, 20*time.Second)
	if len(runs) != 2 {
		t.Fatalf("runs %v, want 2", runs)
	}
	var want []string
	for _, r := range runs {
		entries, err := catalog.ReadIndex(t.Context(), st, camStream, r)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			want = append(want, fmt.Sprintf("%s/%d.ts", r, e.Seq))
		}
	}
	for name, url := range urls {
		// Our caches keep a live playlist about half a target duration.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, body := codedGet(t, url, "")
			if got := segmentURIs(body); strings.Join(got, " ") == strings.Join(want, " ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not list both runs %v:\n%s", name, want, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		var identity []byte
		for _, coding := range codings {
			h, body := codedGet(t, url, coding)
			if strings.Contains(h.Get("Cache-Control"), "immutable") || bytes.Contains(body, []byte("#EXT-X-ENDLIST")) {
				t.Errorf("%s %q: closed inside the reconnect window (%q):\n%s", name, coding, h.Get("Cache-Control"), body)
			}
			if d := bytes.Count(body, []byte("#EXT-X-DISCONTINUITY\n")); d != 1 {
				t.Errorf("%s %q: %d discontinuities, want 1 between the runs:\n%s", name, coding, d, body)
			}
			if got := segmentURIs(body); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s %q lists %v, want %v", name, coding, got, want)
			}
			if coding == "" {
				identity = body
			} else if !bytes.Equal(body, identity) {
				t.Errorf("%s: the %s body differs from identity:\n%s\nidentity:\n%s", name, coding, body, identity)
			}
		}
	}
	n.stop()
}
