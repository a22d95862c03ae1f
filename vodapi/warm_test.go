package vodapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
)

// writeDay writes an ended run of n 2 s segments (index and manifest only:
// what a playlist is built from) and returns the window path covering it.
func writeDay(t testing.TB, st store.Store, n int) string {
	t.Helper()
	ctx := context.Background()
	start := time.Now().Add(-time.Duration(n+3600) * 2 * time.Second).Truncate(time.Second)
	run := catalog.NewRunID(start, "n1")
	entries := make([]catalog.Entry, n)
	ms := start.UnixMilli()
	for i := range entries {
		entries[i] = catalog.Entry{Seq: uint64(i), StartMS: ms, Duration: 2 * catalog.TicksPerSecond, Size: 625_000, Flags: catalog.FlagIndependent}
		ms = entries[i].EndMS()
	}
	writes, err := catalog.NewIndexWriter(nil).Append(entries...)
	if err != nil {
		t.Fatal(err)
	}
	for _, cw := range writes {
		if err := st.Put(ctx, catalog.IndexChunkKey(fixStream, run, cw.Number), cw.Data, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	end := time.UnixMilli(ms).UTC()
	m := catalog.Manifest{Version: catalog.ManifestVersion, Stream: fixStream.String(), Run: run, Node: "n1",
		StartedAt: start.UTC(), EndedAt: &end, State: catalog.StateEnded, TargetDurationMS: 2000}
	if err := catalog.WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("/hls/%s/index.m3u8?start=%d&end=%d", fixStream, start.Unix(), end.Unix())
}

// discardWriter is a ResponseWriter that keeps the header and drops the
// body: the handler's own work per request, without net/http or the socket.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkWarmPlaylist is the handler's cost of answering a cached 24 h
// playlist (what bench/replay's warm load asks), per coding.
func BenchmarkWarmPlaylist(b *testing.B) {
	a := newAPI(b, Config{})
	path := writeDay(b, a.st, 43200)
	for _, coding := range []string{"identity", "gzip", "zstd"} {
		b.Run(coding, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Accept-Encoding", coding)
			w := &discardWriter{h: http.Header{}}
			a.srv.Handler().ServeHTTP(w, req)
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				clear(w.h)
				w.code, w.n = 0, 0
				a.srv.Handler().ServeHTTP(w, req)
			}
			b.StopTimer()
			if w.code != http.StatusOK || w.n == 0 {
				b.Fatalf("status %d, %d bytes", w.code, w.n)
			}
		})
	}
}

// TestWarmHeaders: a cached playlist's answers carry the same headers as
// its first one, in every coding, with and without an Origin, and a
// handler or middleware changing one answer's header values (they are
// shared by every answer of that playlist) leaves the next answers alone.
func TestWarmHeaders(t *testing.T) {
	a := newAPI(t, Config{})
	path := writeDay(t, a.st, 2000)
	for _, coding := range []string{"identity", "gzip", "zstd", "br"} {
		for _, origin := range []string{"", "https://player.example"} {
			serve := func() *discardWriter {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Header.Set("Accept-Encoding", coding)
				if origin != "" {
					req.Header.Set("Origin", origin)
				}
				w := &discardWriter{h: http.Header{}}
				a.srv.Handler().ServeHTTP(w, req)
				if w.code != http.StatusOK {
					t.Fatalf("%s: status %d", coding, w.code)
				}
				return w
			}
			first := serve()
			want := first.h.Clone()
			if got := first.h.Get("Content-Length"); got != strconv.Itoa(first.n) {
				t.Errorf("%s: Content-Length %s for %d bytes", coding, got, first.n)
			}
			if got := first.h.Get("Vary"); got != "Origin, Accept-Encoding" {
				t.Errorf("%s: Vary %q", coding, got)
			}
			if wantCE := strings.TrimPrefix(coding, "identity"); first.h.Get("Content-Encoding") != wantCE {
				t.Errorf("%s: Content-Encoding %q", coding, first.h.Get("Content-Encoding"))
			}
			for _, k := range []string{"Etag", "Cache-Control", "Last-Modified", "Content-Type"} {
				if first.h.Get(k) == "" {
					t.Errorf("%s: no %s", coding, k)
				}
			}
			// What a later middleware might do to its own answer.
			for k := range first.h {
				first.h.Add(k, "changed")
				if v := first.h[k]; len(v) > 0 {
					v[0] = "overwritten"
				}
			}
			for range 2 {
				if w := serve(); !maps.EqualFunc(w.h, want, slices.Equal) {
					t.Fatalf("%s, origin %q: headers\n%v\nwant\n%v", coding, origin, w.h, want)
				}
			}
		}
	}
}

// TestCorkedAnswers: over a server that hands its connections to the API
// (ConnContext: large answers cork the socket), playlists answer the same
// bytes and headers as over one that does not, on one keep-alive
// connection, in every coding, for large and small playlists and 304s.
func TestCorkedAnswers(t *testing.T) {
	a := newAPI(t, Config{})
	big := writeDay(t, a.st, 4000)
	// The first ten segments of the same run: a body under corkMin.
	i := strings.Index(big, "&end=")
	start, err := strconv.ParseInt(big[strings.Index(big, "start=")+len("start="):i], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	small := fmt.Sprintf("%s&end=%d", big[:i], start+20)
	var sawTCP atomic.Bool // the handler got a TCP connection to cork
	corkedTS := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Value(connKey{}).(*tcpCork); ok {
			sawTCP.Store(true)
		}
		a.srv.Handler().ServeHTTP(w, r)
	}))
	corkedTS.Config.ConnContext = ConnContext
	corkedTS.Start()
	t.Cleanup(corkedTS.Close)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	get := func(base, path, coding, inm string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Accept-Encoding", coding)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	for _, path := range []string{big, small} {
		for _, coding := range []string{"identity", "gzip", "zstd", "br"} {
			want, wantBody := get(a.ts.URL, path, coding, "")
			if want.StatusCode != http.StatusOK {
				t.Fatalf("%s %s: %s", path, coding, want.Status)
			}
			if coding == "identity" && (path == big) != (len(wantBody) >= corkMin) {
				t.Fatalf("%s: %d bytes, on the wrong side of corkMin", path, len(wantBody))
			}
			for range 3 {
				got, body := get(corkedTS.URL, path, coding, "")
				got.Header.Del("Date")
				want.Header.Del("Date")
				if !bytes.Equal(body, wantBody) || !maps.EqualFunc(got.Header, want.Header, slices.Equal) {
					t.Fatalf("%s %s: corked answer differs: %d bytes %v, want %d bytes %v", path, coding, len(body), got.Header, len(wantBody), want.Header)
				}
			}
			if nm, body := get(corkedTS.URL, path, coding, want.Header.Get("ETag")); nm.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Fatalf("%s %s: If-None-Match: %s, %d bytes", path, coding, nm.Status, len(body))
			}
		}
	}
	if !sawTCP.Load() {
		t.Fatal("the handler never saw a TCP connection: nothing was corked")
	}
}
