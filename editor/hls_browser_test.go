//go:build cgo

package editor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/browsertest"
	"github.com/rewind-vod/rewind/internal/runtest"
)

// hls.js in headless Chromium plays accurate and copy HLS clips by
// reference, with the edges this worker cut, from the first frame to
// `ended`, without a fatal error, decoding about its range's frames.
func TestHLSClipPlaysInChromium(t *testing.T) {
	nm := browsertest.NodeModules(t, "hls.js")
	st, q := localBackends(t)
	root := st.(*fsstore.FS).Root()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	startWorker(t, Config{}, st, q)

	// The store's folder, a page with hls.js, and each clip's playlist
	// (made as the API makes it, with the store keys as paths).
	var mu sync.Mutex // the playlists are added while the server runs
	playlists := map[string]string{}
	mux := http.NewServeMux()
	mux.Handle("/store/", http.StripPrefix("/store/", http.FileServer(http.Dir(root))))
	mux.HandleFunc("/hls.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(nm, "hls.js", "dist", "hls.min.js"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		p, ok := playlists[r.URL.Path]
		mu.Unlock()
		if ok {
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			fmt.Fprint(w, p)
			return
		}
		fmt.Fprint(w, `<!doctype html><script src="/hls.js"></script>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	for _, mode := range []string{catalog.ModeAccurate, catalog.ModeCopy} {
		id := submit(t, st, q, run, t0, 2.5, 9.5, catalog.FormatHLS, mode, "")
		if j := waitDone(t, st, id, 90*time.Second); j.Status != catalog.ClipSucceeded {
			t.Fatalf("%s: job %+v", mode, j)
		}
		m, err := catalog.ReadClipHLS(t.Context(), st, id)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n")
		for _, s := range m.Segments {
			if s.Discontinuity {
				b.WriteString("#EXT-X-DISCONTINUITY\n")
			}
			key := catalog.ClipHLSFileKey(id, s.File)
			if s.File == "" {
				key = catalog.SegmentKey(testStream, s.Run, s.Seq)
			}
			fmt.Fprintf(&b, "#EXTINF:%.3f,\n/store/%s\n", s.Dur().Seconds(), key)
		}
		b.WriteString("#EXT-X-ENDLIST\n")
		mu.Lock()
		playlists["/"+mode+".m3u8"] = b.String()
		mu.Unlock()

		out, err := browsertest.Command(nm, "testdata/browser/playclip.cjs", srv.URL+"/", srv.URL+"/"+mode+".m3u8", "60000").Output()
		if err != nil {
			t.Fatalf("%s: browser: %v\n%s", mode, err, out)
		}
		var got struct {
			MaxTime  float64  `json:"maxTime"`
			Ended    int      `json:"ended"`
			Frames   int      `json:"frames"`
			Fatal    []string `json:"fatal"`
			NonFatal []string `json:"nonFatal"`
			Errors   []string `json:"errors"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: browser output %q: %v", mode, out, err)
		}
		t.Logf("%s: played to %.2fs, %d frames decoded; non-fatal %v", mode, got.MaxTime, got.Frames, got.NonFatal)
		if got.Ended != 1 || len(got.Fatal) > 0 || len(got.Errors) > 0 || got.MaxTime < 6.9 {
			t.Errorf("%s: played to %.2fs, ended %d, fatal %v, errors %v", mode, got.MaxTime, got.Ended, got.Fatal, got.Errors)
		}
		// Chromium's decoded-frame count is not exact (the 300-frame
		// source run reads 304): about the range's frames, no more.
		want := 7 * 25
		if mode == catalog.ModeCopy {
			want = 188 // from the keyframe at 2 s
		}
		if got.Frames < want-8 || got.Frames > want+5 {
			t.Errorf("%s: %d frames decoded, want about %d", mode, got.Frames, want)
		}
	}
}
