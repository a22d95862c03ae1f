package origin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
)

// flvBytes is an FLV stream of frames (header, then tags).
func flvBytes(video bool, frames ...media.Frame) []byte {
	flags := byte(0x04)
	if video {
		flags |= 0x01
	}
	b := []byte{'F', 'L', 'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0}
	for _, f := range frames {
		b = appendTag(b, f)
	}
	return b
}

var synthStart = []media.Frame{
	{Type: media.FrameData, Payload: synthMeta},
	{Type: media.FrameVideo, Payload: synthAVCHdr},
	{Type: media.FrameVideo, Payload: synthKey},
}

// An upstream that answers anything but a live FLV stream ends in a clear
// error for the player (and a failure metric), never a panic or a hang.
func TestPullBadUpstream(t *testing.T) {
	oversize := flvBytes(true)
	oversize = append(oversize, byte(media.FrameVideo), 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0)
	badPrev := flvBytes(true, synthStart[:1]...)
	badPrev[len(badPrev)-1]++
	truncated := flvBytes(true, synthStart...)
	truncated = truncated[:len(truncated)-7]

	cases := []struct {
		name      string
		handler   http.HandlerFunc
		node      string // HTTP address in the registry; "" = the test server's
		status    int
		body      string
		reason    string // rewind_origin_pulls_failed_total reason
		afterLive bool   // the player gets 200 and frames, then the end
	}{
		{name: "not FLV", handler: body("<html>hello</html>"), status: 502, body: "malformed FLV", reason: "bad_flv"},
		{name: "oversize tag", handler: body(string(oversize)), status: 502, body: "at most 8388608", reason: "bad_flv"},
		{name: "bad back pointer", handler: body(string(badPrev)), status: 502, body: "PreviousTagSize", reason: "bad_flv"},
		{name: "truncated", handler: body(string(truncated)), status: 502, body: "unexpected EOF", reason: "read"},
		{name: "empty", handler: body(""), status: 502, body: "unexpected EOF", reason: "read"},
		{name: "forbidden", handler: status(403), status: 403, body: "refused the play", reason: "upstream_forbidden"},
		{name: "server error", handler: status(500), status: 502, body: "500", reason: "upstream_status"},
		{name: "redirect", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere.flv", http.StatusFound)
		}, status: 502, body: "302", reason: "upstream_status"},
		{name: "silent", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, status: 504, body: "in time", reason: "timeout"},
		{name: "no address", node: "not an address", status: 502, body: "no usable HTTP address", reason: "no_address"},
		{name: "unreachable", node: "127.0.0.1:1", status: 502, body: "cannot reach", reason: "connect"},
		{name: "garbage after live", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Write(flvBytes(true, synthStart...))
			w.(http.Flusher).Flush()
			time.Sleep(300 * time.Millisecond) // the player joins
			w.Write([]byte("garbage after the keyframe"))
		}, afterLive: true, reason: "bad_flv"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := c.node
			requests := 0
			var mu sync.Mutex
			if c.handler != nil {
				hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					requests++
					mu.Unlock()
					c.handler(w, r)
				}))
				t.Cleanup(hs.Close)
				addr = strings.TrimPrefix(hs.URL, "http://")
			}
			const timeout = 600 * time.Millisecond
			b := newPullNode(t, PlayersConfig{Upstreams: newLocator("live/cam", testNode("node_a", addr)), Self: "node_b", PullTimeout: timeout})
			url := b.http.url + "/live/cam.flv"
			if c.afterLive {
				pl := playFLV(t, url)
				checkStartsOnKeyframe(t, pl.waitFrames(t, 3))
				pl.waitEnded(t, 5*time.Second)
			} else {
				// The silent upstream holds the pull open: three players
				// at once share it, one upstream request, one answer.
				players := 1
				if c.reason == "timeout" {
					players = 3
				}
				var wg sync.WaitGroup
				start := time.Now()
				for range players {
					wg.Add(1)
					go func() {
						defer wg.Done()
						code, body := getStatusNoT(url)
						if code != c.status || !strings.Contains(body, c.body) {
							t.Errorf("player: %d %s, want %d with %q", code, body, c.status, c.body)
						}
					}()
				}
				wg.Wait()
				if d := time.Since(start); d > timeout+2*time.Second {
					t.Errorf("answered after %v", d)
				}
			}
			waitFor(t, 5*time.Second, "failure counted", func() bool {
				return b.metric(t, "rewind_origin_pulls_failed_total", "reason", c.reason) == 1
			})
			mu.Lock()
			defer mu.Unlock()
			if c.handler != nil && requests != 1 {
				t.Errorf("%d upstream requests, want 1", requests)
			}
		})
	}
}

func body(s string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "video/x-flv")
		w.Write([]byte(s))
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", code) }
}

// getStatusNoT is getStatus for any goroutine; transport errors read as
// status 0.
func getStatusNoT(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}
