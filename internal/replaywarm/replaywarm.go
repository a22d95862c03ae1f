// Package replaywarm runs a replay API's serving path once before the
// process takes traffic. A fresh process's first playlist paid for code
// and heap touched the first time (page faults, encoder tables, lazily
// built state): bench/replay measured its floor, a 10 s window, at 4-6 ms.
// Warming answers playlists of a small recording of its own, in a store
// of its own, so the real server's caches stay cold and its store is not
// written.
package replaywarm

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/vodapi"
)

// entries is the warm-up recording's length: two sealed index chunks and
// a tail, so the fragment paths (sealed, cut and tail parts) all run.
const entries = 2*catalog.EntriesPerChunk + 100

// acceptEncodings are the requests made: each coding alone, then what a
// browser sends.
var acceptEncodings = []string{"", "gzip", "zstd", "br", "br, zstd, gzip"}

// Run warms the serving path of vodapi; it takes a few tens of
// milliseconds and leaves nothing behind but a warm process.
func Run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "rewind-warm-")
	if err != nil {
		return fmt.Errorf("replay warm-up: %w", err)
	}
	defer os.RemoveAll(dir)
	st, err := fsstore.New(dir)
	if err != nil {
		return fmt.Errorf("replay warm-up: %w", err)
	}
	stream := catalog.Stream{App: "warm", Name: "up"}
	start := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	run := catalog.NewRunID(start, "warm")
	es := make([]catalog.Entry, entries)
	for i := range es {
		es[i] = catalog.Entry{Seq: uint64(i + 1), StartMS: start.UnixMilli() + int64(i)*2000, Duration: 2 * catalog.TicksPerSecond,
			Size: 500_000 + uint32(i%7)*1000, Flags: catalog.FlagIndependent}
	}
	if _, err := catalog.WriteIndex(ctx, st, stream, run, es); err != nil {
		return fmt.Errorf("replay warm-up: %w", err)
	}
	end := time.UnixMilli(es[len(es)-1].StartMS + 2000).UTC()
	m := catalog.Manifest{Version: catalog.ManifestVersion, Stream: stream.String(), Run: run, Node: "warm",
		StartedAt: start, EndedAt: &end, State: catalog.StateEnded, TargetDurationMS: 2000}
	if err := catalog.WriteManifest(ctx, st, m); err != nil {
		return fmt.Errorf("replay warm-up: %w", err)
	}

	srv, err := vodapi.New(vodapi.Config{TargetDuration: 2 * time.Second, CacheBytes: 16 << 20}, st,
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		return fmt.Errorf("replay warm-up: %w", err)
	}
	defer srv.Close()
	// The whole run, then a window cutting its first chunk; each twice
	// (built, then from the cache).
	paths := []string{
		fmt.Sprintf("/hls/%s/index.m3u8?start=%d&end=%d", stream, start.Unix(), end.Unix()),
		fmt.Sprintf("/hls/%s/index.m3u8?start=%d&end=%d", stream, start.Unix()+61, end.Unix()),
	}
	for _, p := range paths {
		for _, accept := range acceptEncodings {
			for range 2 {
				if err := get(ctx, srv.Handler(), p, accept); err != nil {
					return fmt.Errorf("replay warm-up: %w", err)
				}
			}
		}
	}
	srv.WaitBackground()
	return nil
}

func get(ctx context.Context, h http.Handler, path, accept string) error {
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if accept != "" {
		req.Header.Set("Accept-Encoding", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("GET %s (Accept-Encoding %q): %d %s", path, accept, rec.Code, rec.Body.String())
	}
	return nil
}
