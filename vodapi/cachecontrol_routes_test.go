//go:build cgo

package vodapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/editor/thumb"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/runtest"
)

// libavStills is the real Thumbnailer, the editor's libav code, as cmd
// wires it in cgo builds.
type libavStills struct{}

func newLibavStills() libavStills {
	// swscale warns on every JPEG-range scaler; keep libav to errors.
	astiav.SetLogLevel(astiav.LogLevelError)
	return libavStills{}
}

func (libavStills) Frame(ctx context.Context, segment []byte, at time.Duration, width int) ([]byte, error) {
	return thumb.Frame(ctx, segment, at, thumb.Options{Width: width})
}

func (libavStills) Sprite(ctx context.Context, tiles []Tile, tileWidth, columns int) ([]byte, error) {
	tt := make([]thumb.Tile, len(tiles))
	for i, t := range tiles {
		tt[i] = thumb.Tile{Segment: t.Segment, At: t.At}
	}
	b, _, err := thumb.Sprite(ctx, tt, thumb.SpriteOptions{TileWidth: tileWidth, Columns: columns})
	return b, err
}

// routeCase is one request to one route.
type routeCase struct {
	route   string // the route pattern it must reach (as registered)
	method  string
	path    string // without the token
	body    string // POST body
	stream  catalog.Stream
	guarded bool // needs the stream's play token
	want    int  // status with the token (without one when not guarded)
}

// With playback secrets on, every route of the API answers with a
// Cache-Control that keeps nothing longer than the token that opened it
// and nothing immutable under a token; refusals (no token, an expired
// one) are 403 JSON and no-store. Every registered route is reached, so
// a new route without a case fails here.
func TestCacheControlEveryRoute(t *testing.T) {
	q := openQueue(t)
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := apiOver(t, Config{Jobs: q, Thumbs: newLibavStills(), PlaybackSecrets: []string{testSecret}}, st)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	ended := runtest.WriteRun(t, st, fixStream, t0, false)                              // closed: lives would be forever
	live := runtest.WriteRun(t, st, otherStream, time.Now().Add(-10*time.Second), true) // the live edge
	queuedClip := finishedClip(t, st, fixStream, "mp4", "clip.mp4", "movie")
	j, err := catalog.ReadClipJob(context.Background(), st, queuedClip)
	if err != nil {
		t.Fatal(err)
	}
	j.Status, j.Output = catalog.ClipQueued, nil
	if err := catalog.WriteClipJob(context.Background(), st, j); err != nil {
		t.Fatal(err)
	}
	mp4 := finishedClip(t, st, fixStream, "mp4", "clip.mp4", "movie")
	hls := finishedClip(t, st, fixStream, "hls", "hls/index.m3u8", "#EXTM3U\n#EXTINF:4,\nseg_00000.ts\n#EXT-X-ENDLIST\n", "hls/seg_00000.ts", "seg-0")
	at := strconv.FormatInt(t0.Unix()+3, 10)
	putSnapshots(t, st, ended, t0)
	snapName := catalog.SnapshotName(t0)
	cam, other := "/live/cam/", "/live/other/"
	const (
		get, head, post = http.MethodGet, http.MethodHead, http.MethodPost
	)
	cases := []routeCase{
		{"/healthz", get, "/healthz", "", fixStream, false, 200},
		{"/openapi.json", get, "/openapi.json", "", fixStream, false, 200},
		{"/", get, "/", "", fixStream, false, 200},
		{"/web/*", get, "/web/app.js", "", fixStream, false, 200},
		{"/v1/streams", get, "/v1/streams", "", fixStream, false, 200},
		{"/v1/streams/:app/:name/recordings", get, "/v1/streams/live/cam/recordings", "", fixStream, false, 200},
		{"/v1/streams/:app/:name/recordings", get, "/v1/streams/live/cam/recordings?from=x", "", fixStream, false, 400},

		{"/hls/:app/:name/index.m3u8", get, "/hls" + cam + "index.m3u8", "", fixStream, true, 200},
		{"/hls/:app/:name/index.m3u8", get, fmt.Sprintf("/hls%sindex.m3u8?start=%d&end=%d", cam, t0.Unix(), t0.Unix()+6), "", fixStream, true, 200},
		{"/hls/:app/:name/index.m3u8", get, "/hls" + other + "index.m3u8", "", otherStream, true, 200},
		{"/hls/:app/:name/index.m3u8", get, fmt.Sprintf("/hls%sindex.m3u8?start=%d&end=%d", cam, t0.Unix()-7200, t0.Unix()-7000), "", fixStream, true, 404},
		{"/hls/:app/:name/runs/:run/index.m3u8", get, "/hls" + cam + "runs/" + ended + "/index.m3u8", "", fixStream, true, 200},
		{"/hls/:app/:name/runs/:run/index.m3u8", get, "/hls" + other + "runs/" + live + "/index.m3u8", "", otherStream, true, 200},
		{"/hls/:app/:name/recordings/:id/index.m3u8", get, "/hls" + cam + "recordings/" + ended + "/index.m3u8", "", fixStream, true, 200},
		{"/hls/:app/:name/recordings/:id/index.m3u8", get, "/hls" + cam + "recordings/" + catalog.NewRunID(t0, "n9") + "/index.m3u8", "", fixStream, true, 404},
		{"/seg/:app/:name/:run/:seg", get, "/seg" + cam + ended + "/1.ts", "", fixStream, true, 200},
		{"/seg/:app/:name/:run/:seg", head, "/seg" + cam + ended + "/1.ts", "", fixStream, true, 200},
		{"/seg/:app/:name/:run/:seg", get, "/seg" + cam + ended + "/99.ts", "", fixStream, true, 404},
		{"/hls/:app/:name/:run/:seg", get, "/hls" + cam + ended + "/2.ts", "", fixStream, true, 200},
		{"/hls/:app/:name/:run/:seg", head, "/hls" + cam + ended + "/2.ts", "", fixStream, true, 200},

		{"/v1/streams/:app/:name/thumbnail.jpg", get, "/v1/streams" + cam + "thumbnail.jpg?at=" + at, "", fixStream, true, 200},
		{"/v1/streams/:app/:name/thumbnail.jpg", get, "/v1/streams" + cam + "thumbnail.jpg?width=64&at=" + at, "", fixStream, true, 200},
		{"/v1/streams/:app/:name/thumbnail.jpg", get, "/v1/streams" + cam + "thumbnail.jpg?at=" + strconv.FormatInt(t0.Unix()-7200, 10), "", fixStream, true, 404},
		{"/v1/streams/:app/:name/thumbnail.jpg", get, "/v1/streams" + cam + "thumbnail.jpg?at=never", "", fixStream, true, 400},
		{"/v1/streams/:app/:name/recordings/:id/thumbnails.vtt", get, "/v1/streams" + cam + "recordings/" + ended + "/thumbnails.vtt", "", fixStream, true, 200},
		{"/v1/streams/:app/:name/recordings/:id/thumbnails.vtt", get, "/v1/streams" + other + "recordings/" + live + "/thumbnails.vtt?every=2", "", otherStream, true, 200},
		{"/v1/streams/:app/:name/recordings/:id/sprites/:sheet", get, "/v1/streams" + cam + "recordings/" + ended + "/sprites/0.jpg", "", fixStream, true, 200},
		{"/v1/streams/:app/:name/recordings/:id/sprites/:sheet", get, "/v1/streams" + other + "recordings/" + live + "/sprites/0.jpg?every=2", "", otherStream, true, 200},
		{"/v1/streams/:app/:name/recordings/:id/sprites/:sheet", get, "/v1/streams" + cam + "recordings/" + ended + "/sprites/7.jpg", "", fixStream, true, 404},

		{"/v1/streams/:app/:name/snapshots", get, fmt.Sprintf("/v1/streams%ssnapshots?from=%d&to=%d", cam, t0.Unix()-1, t0.Unix()+60), "", fixStream, true, 200},
		{"/v1/streams/:app/:name/snapshots", get, "/v1/streams" + cam + "snapshots?limit=0", "", fixStream, true, 400},
		{"/v1/streams/:app/:name/snapshots/latest.jpg", get, "/v1/streams" + cam + "snapshots/latest.jpg", "", fixStream, true, 200},
		{"/v1/streams/:app/:name/snapshots/latest.jpg", get, "/v1/streams" + other + "snapshots/latest.jpg", "", otherStream, true, 404},
		{"/v1/streams/:app/:name/runs/:run/snapshots", get, "/v1/streams" + cam + "runs/" + ended + "/snapshots", "", fixStream, true, 200},
		{"/v1/streams/:app/:name/runs/:run/snapshots/:file", get, "/v1/streams" + cam + "runs/" + ended + "/snapshots/" + snapName, "", fixStream, true, 200},
		{"/v1/streams/:app/:name/runs/:run/snapshots/:file", get, "/v1/streams" + cam + "runs/" + ended + "/snapshots/" + catalog.SnapshotName(t0.Add(time.Second)), "", fixStream, true, 404},

		{"/v1/clips", post, "/v1/clips", clipBodyFor(fixStream, t0), fixStream, true, 202},
		{"/v1/clips/:id", get, "/v1/clips/" + queuedClip, "", fixStream, true, 200},
		{"/v1/clips/:id", get, "/v1/clips/" + mp4, "", fixStream, true, 200},
		{"/v1/clips/:id", get, "/v1/clips/" + catalog.NewClipID(), "", fixStream, true, 404},
		{"/v1/clips/:id/output", get, "/v1/clips/" + mp4 + "/output", "", fixStream, true, 200},
		{"/v1/clips/:id/output", head, "/v1/clips/" + mp4 + "/output", "", fixStream, true, 200},
		{"/v1/clips/:id/output", get, "/v1/clips/" + hls + "/output", "", fixStream, true, 200},
		{"/v1/clips/:id/output", get, "/v1/clips/" + queuedClip + "/output", "", fixStream, true, 409},
		{"/v1/clips/:id/:file", get, "/v1/clips/" + hls + "/seg_00000.ts", "", fixStream, true, 200},
		{"/v1/clips/:id/:file", head, "/v1/clips/" + hls + "/seg_00000.ts", "", fixStream, true, 200},
		{"/v1/clips/:id/:file", get, "/v1/clips/" + hls + "/seg_00009.ts", "", fixStream, true, 404},

		// The admin routes (off here: no admin token) are never cached.
		{"/v1/streams/:app/:name/recordings/:id", http.MethodDelete, "/v1/streams" + cam + "recordings/" + ended, "", fixStream, false, 403},
		{"/v1/streams/:app/:name/runs/:run", http.MethodDelete, "/v1/streams" + cam + "runs/" + ended, "", fixStream, false, 403},
	}

	reached := map[string]bool{}
	// Two tokens: one that outlives every lifetime here but immutable, one
	// shorter than the recorded content's year.
	for _, ttl := range []time.Duration{time.Hour, 20 * time.Second} {
		for _, c := range cases {
			name := fmt.Sprintf("%s %s (token %s)", c.method, c.path, ttl)
			if !c.guarded {
				resp, b := a.hit(t, c, "")
				if resp.StatusCode != c.want {
					t.Errorf("%s: %d %.200s, want %d", name, resp.StatusCode, b, c.want)
				}
				cc := resp.Header.Get("Cache-Control")
				if cc == "" || strings.Contains(cc, "immutable") {
					t.Errorf("%s: Cache-Control %q", name, cc)
				}
				reached[c.method+" "+c.route] = true
				continue
			}
			exp := time.Now().Add(ttl)
			tok := SignPlayback(testSecret, c.stream, exp)
			resp, b := a.hit(t, c, tok)
			if resp.StatusCode != c.want {
				t.Errorf("%s: %d %.200s, want %d", name, resp.StatusCode, b, c.want)
			}
			checkBounded(t, name, resp.Header.Get("Cache-Control"), exp)
			resp, b = a.hit(t, c, "")
			checkRefused(t, name+" without a token", resp, b, "")
			resp, b = a.hit(t, c, SignPlayback(testSecret, c.stream, time.Now().Add(-time.Second)))
			checkRefused(t, name+" with an expired token", resp, b, "")
			reached[c.method+" "+c.route] = true
		}
	}
	// The route checks above went where the cases say.
	for _, c := range cases {
		n := 0.0
		for _, class := range []string{"2xx", "3xx", "4xx", "5xx"} {
			n += testutil.ToFloat64(a.srv.m.requests.WithLabelValues(c.route, class))
		}
		if n == 0 {
			t.Errorf("no request reached route %s", c.route)
		}
	}
	for _, r := range a.srv.e.Routes() {
		if r.Method == "echo_route_not_found" || r.Method == http.MethodOptions {
			continue
		}
		if !reached[r.Method+" "+r.Path] {
			t.Errorf("route %s %s has no Cache-Control case", r.Method, r.Path)
		}
	}
	// An unknown path is a short-lived public 404, not immutable.
	resp, _ := do(t, get, a.ts.URL+"/nothing/here")
	if cc := resp.Header.Get("Cache-Control"); resp.StatusCode != 404 || cc != "public, max-age=5" {
		t.Errorf("unknown path: %d %q", resp.StatusCode, cc)
	}
}

// hit sends c with the query tok ("" for none).
func (a *api) hit(t *testing.T, c routeCase, tok string) (*http.Response, []byte) {
	t.Helper()
	u := a.ts.URL + c.path
	if tok != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + tok
	}
	if c.method == http.MethodPost {
		return post(t, u, c.body)
	}
	return do(t, c.method, u)
}

// With a CDN base URL, clip outputs redirect there: the redirect is not
// kept by caches, whether or not a token opened it.
func TestClipRedirectNotCached(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := apiOver(t, Config{SegmentBaseURL: "https://cdn.example", PlaybackSecrets: []string{testSecret}}, st)
	mp4 := finishedClip(t, st, fixStream, "mp4", "clip.mp4", "movie")
	tok := SignPlayback(testSecret, fixStream, time.Now().Add(time.Hour))
	resp, b := do(t, http.MethodGet, a.ts.URL+"/v1/clips/"+mp4+"/output?"+tok)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://cdn.example/"+catalog.ClipPrefix(mp4)+"clip.mp4" {
		t.Fatalf("%d %s, Location %q", resp.StatusCode, b, resp.Header.Get("Location"))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("redirect Cache-Control %q", cc)
	}
}
