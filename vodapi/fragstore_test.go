package vodapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

func sampleFrag() storedFrag {
	text := []byte("#EXTINF:2.000,\nr/1.ts\n")
	return storedFrag{digest: sha256.Sum256([]byte("src")), sum: sha256.Sum256(text), text: text,
		deflate: []byte{0x0a, 0x0b, 0x00, 0x00, 0xff, 0xff}, zstd: []byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2}}
}

func TestFragFormatRoundTrip(t *testing.T) {
	f := sampleFrag()
	b := encodeFrag(f)
	got, err := decodeFrag(b)
	if err != nil || !reflect.DeepEqual(got, f) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// Every byte matters: a flip anywhere is refused, as is a cut.
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x40
		if _, err := decodeFrag(bad); err == nil {
			t.Errorf("byte %d flipped: accepted", i)
		}
	}
	for n := range len(b) {
		if _, err := decodeFrag(b[:n]); err == nil {
			t.Errorf("cut to %d bytes: accepted", n)
		}
	}
}

// FuzzDecodeFrag: any input decodes or fails without panicking, and what
// decodes is the one encoding of its content.
func FuzzDecodeFrag(f *testing.F) {
	f.Add(encodeFrag(sampleFrag()))
	f.Add([]byte(fragMagic))
	f.Add(append([]byte(fragMagic), make([]byte, 80)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeFrag(b)
		if err != nil {
			return
		}
		if again := encodeFrag(d); !bytes.Equal(again, b) {
			t.Fatalf("%d bytes decode to what encodes as %d other bytes", len(b), len(again))
		}
	})
}

// storedHits reads the stored-fragment counter of a.
func storedCount(a *api, result string) float64 {
	return testutil.ToFloat64(a.srv.frags.stored.res.WithLabelValues(result))
}

// fragObjects lists the stored fragments of run.
func fragObjects(t *testing.T, st store.Store, run string) []string {
	t.Helper()
	res, err := st.List(context.Background(), catalog.FragmentPrefix(fixStream, run), store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range res.Objects {
		keys = append(keys, o.Key)
	}
	return keys
}

// TestStoredFragmentsSecondServer: a server leaves its shared parts in the
// store; a second server over the same store serves byte-identical bodies
// in every coding from them, rendering none (every part a stored hit,
// nothing written), and the gzip and zstd CLIs read them.
func TestStoredFragmentsSecondServer(t *testing.T) {
	first := newAPI(t, Config{})
	rng := rand.New(rand.NewPCG(7, 8))
	start := time.Now().Add(-5 * time.Hour).UTC().Truncate(time.Second)
	const n = 4*catalog.EntriesPerChunk + 300 // 4 sealed chunks and a final one: 5 parts
	run := storeRun(t, first, rng, start, n, false)
	urls := []string{
		"/hls/" + fixStream.String() + "/runs/" + run + "/index.m3u8",
		fmt.Sprintf("/hls/%s/index.m3u8?start=%d&end=%d", fixStream, start.Unix(), start.Add(3*time.Hour).Unix()),
	}
	codings := []string{"", "gzip", "zstd", "br"}
	want := map[string][]byte{}
	for _, u := range urls {
		for _, coding := range codings {
			_, b := do(t, http.MethodGet, first.ts.URL+u, "Accept-Encoding", coding)
			want[u+coding] = b
		}
	}
	first.srv.WaitBackground()
	// Two URI forms (the run playlist's "../../" and the window's ""),
	// five parts each.
	if got := len(fragObjects(t, first.st, run)); got != 10 || storedCount(first, "written") != 10 || storedCount(first, "miss") != 10 {
		t.Fatalf("first server: %d objects, %v written, %v misses; want 10 each", got, storedCount(first, "written"), storedCount(first, "miss"))
	}

	second := apiOver(t, Config{}, first.st)
	for _, u := range urls {
		for _, coding := range codings {
			resp, b := do(t, http.MethodGet, second.ts.URL+u, "Accept-Encoding", coding)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != coding {
				t.Fatalf("%s %q: %d, Content-Encoding %q", u, coding, resp.StatusCode, resp.Header.Get("Content-Encoding"))
			}
			if !bytes.Equal(b, want[u+coding]) {
				t.Errorf("%s %q: %d bytes, the first server's %d", u, coding, len(b), len(want[u+coding]))
			}
			if got := decodeCoding(t, coding, b); !bytes.Equal(got, want[u]) {
				t.Errorf("%s %q: decodes to %d bytes, identity is %d", u, coding, len(got), len(want[u]))
			}
			checkCLIDecodes(t, u+" "+coding, coding, b, want[u])
		}
	}
	second.srv.WaitBackground()
	if h, m, w := storedCount(second, "hit"), storedCount(second, "miss"), storedCount(second, "written"); h != 10 || m != 0 || w != 0 {
		t.Fatalf("second server: %v hits, %v misses, %v written; want 10, 0, 0 (nothing rendered)", h, m, w)
	}
	// A server whose segment URIs differ (a CDN base) uses none of them.
	third := apiOver(t, Config{SegmentBaseURL: "https://cdn.example/v"}, first.st)
	_, b := do(t, http.MethodGet, third.ts.URL+urls[0])
	if bytes.Equal(b, want[urls[0]]) || !bytes.Contains(b, []byte("https://cdn.example/v/streams/")) {
		t.Fatal("a CDN server served the relative URIs' fragments")
	}
	if storedCount(third, "hit") != 0 || storedCount(third, "miss") != 5 {
		t.Fatalf("CDN server: %v hits, %v misses; want 0, 5", storedCount(third, "hit"), storedCount(third, "miss"))
	}

	// Deleting the run deletes its fragments with it.
	third.srv.WaitBackground()
	if _, err := catalog.DeleteRuns(context.Background(), first.st, fixStream, []string{run}); err != nil {
		t.Fatal(err)
	}
	if left := fragObjects(t, first.st, run); len(left) != 0 {
		t.Fatalf("after deleting the run: %v", left)
	}
}

// TestStoredFragmentIgnored: a corrupt, truncated, foreign (another chunk's)
// or stale (other entries) object is never served: the part is rendered,
// counted as rejected, and stored again, correct.
func TestStoredFragmentIgnored(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(9, 10))
	first := newAPI(t, Config{})
	start := time.Now().Add(-5 * time.Hour).UTC().Truncate(time.Second)
	run := storeRun(t, first, rng, start, 3*catalog.EntriesPerChunk+10, false)
	url := "/hls/" + fixStream.String() + "/runs/" + run + "/index.m3u8"
	_, want := do(t, http.MethodGet, first.ts.URL+url, "Accept-Encoding", "gzip")
	first.srv.WaitBackground()
	keys := fragObjects(t, first.st, run)
	if len(keys) != 4 {
		t.Fatalf("%d objects, want 4", len(keys))
	}
	read := func(key string) []byte {
		b, err := catalog.GetAll(ctx, first.st, key, maxFragObject)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := read(keys[1])
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	// Stale: a valid object with the right key, from entries the index no
	// longer has.
	d, err := decodeFrag(good)
	if err != nil {
		t.Fatal(err)
	}
	d.digest[0] ^= 1
	for name, bad := range map[string][]byte{
		"corrupt":   flipped,
		"truncated": good[:len(good)-9],
		"foreign":   read(keys[2]),
		"stale":     encodeFrag(d),
		"garbage":   []byte("not a fragment"),
	} {
		if err := first.st.Put(ctx, keys[1], bad, ""); err != nil {
			t.Fatal(err)
		}
		a := apiOver(t, Config{}, first.st)
		resp, b := do(t, http.MethodGet, a.ts.URL+url, "Accept-Encoding", "gzip")
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want) {
			t.Fatalf("%s: %d, %d bytes, want the %d of a render", name, resp.StatusCode, len(b), len(want))
		}
		a.srv.WaitBackground()
		if r, h, w := storedCount(a, "rejected"), storedCount(a, "hit"), storedCount(a, "written"); r != 1 || h != 3 || w != 1 {
			t.Fatalf("%s: %v rejected, %v hits, %v written; want 1, 3, 1", name, r, h, w)
		}
		if !bytes.Equal(read(keys[1]), good) {
			t.Fatalf("%s: not stored again as rendered", name)
		}
	}
}

// TestFragWriterClose: Close stops the writer with fragments still queued;
// none is left pending, and a fragment rendered after Close is not queued.
func TestFragWriterClose(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := catalog.NewRunID(time.Now().Add(-time.Hour), "n1")
	m := catalog.Manifest{Version: catalog.ManifestVersion, Stream: fixStream.String(), Run: run, Node: "n1",
		StartedAt: time.Now().Add(-time.Hour).UTC(), State: catalog.StateLive, TargetDurationMS: 2000}
	if err := catalog.WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{}, st, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	fs := srv.frags.stored
	ff := srv.newFragForm(fixStream, "")
	ri := fragRun(rand.New(rand.NewPCG(1, 1)), run, 0, time.Now().Add(-time.Hour).UnixMilli(), 2*catalog.EntriesPerChunk, false)
	mk := func(k int) *part {
		p := newPart([]byte(strings.Repeat("#EXTINF:2.000,\nx.ts\n", 3000)), true)
		p.src = ri.entries[k*catalog.EntriesPerChunk : k*catalog.EntriesPerChunk+10]
		return p
	}
	for k := range fragQueue + 10 { // more than the queue holds: some dropped
		fs.write(ff, run, k, mk(k%2))
	}
	done := make(chan struct{})
	go func() { srv.Close(); fs.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not stop the writer")
	}
	written, dropped := testutil.ToFloat64(fs.res.WithLabelValues("written")), testutil.ToFloat64(fs.res.WithLabelValues("dropped"))
	if written+dropped != fragQueue+10 || dropped < 10 {
		t.Fatalf("%v written + %v dropped, want %d with at least 10 dropped", written, dropped, fragQueue+10)
	}
	fs.write(ff, run, 0, mk(0))
	if n := len(fs.queue); n != 0 {
		t.Fatalf("queued after Close: %d", n)
	}
	fs.wait()
	// A run without run.json (deleted) gets no fragment.
	fs2 := newFragStore(st, st, srv.log, nil)
	defer fs2.close()
	gone := catalog.NewRunID(time.Now().Add(-2*time.Hour), "n1")
	fs2.write(ff, gone, 0, mk(0))
	fs2.wait()
	if keys := fragObjects(t, st, gone); len(keys) != 0 || testutil.ToFloat64(fs2.res.WithLabelValues("dropped")) != 1 {
		t.Fatalf("a run without run.json got %v", keys)
	}
}

// BenchmarkFreshServerStored is a fresh Server's first 24 h playlist over
// a store where an earlier server left its fragments: index reads, stored
// fragment reads and the answer (no network).
func BenchmarkFreshServerStored(b *testing.B) {
	for _, coding := range []string{"", "gzip", "zstd"} {
		b.Run("coding="+coding, func(b *testing.B) {
			first := newAPI(b, Config{})
			start := time.Now().Add(-30 * time.Hour).UTC().Truncate(time.Second)
			ri := fragRun(rand.New(rand.NewPCG(1, 2)), catalog.NewRunID(start, "n1"), 0, start.UnixMilli(), 43200, false)
			ctx := context.Background()
			w := catalog.NewIndexWriter(nil)
			writes, err := w.Append(ri.entries...)
			if err != nil {
				b.Fatal(err)
			}
			for _, cw := range writes {
				if err := first.st.Put(ctx, catalog.IndexChunkKey(fixStream, ri.id, cw.Number), cw.Data, ""); err != nil {
					b.Fatal(err)
				}
			}
			end := time.UnixMilli(ri.entries[len(ri.entries)-1].EndMS()).UTC()
			m := catalog.Manifest{Version: catalog.ManifestVersion, Stream: fixStream.String(), Run: ri.id, Node: "n1",
				StartedAt: start, EndedAt: &end, State: catalog.StateEnded, TargetDurationMS: 2000}
			if err := catalog.WriteManifest(ctx, first.st, m); err != nil {
				b.Fatal(err)
			}
			path := fmt.Sprintf("/hls/%s/index.m3u8?start=%d&end=%d", fixStream, start.Unix(), start.Add(24*time.Hour).Unix())
			get := func(srv *Server) {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				if coding != "" {
					req.Header.Set("Accept-Encoding", coding)
				}
				rec := httptest.NewRecorder()
				srv.Handler().ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != coding {
					b.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Encoding"))
				}
			}
			get(first.srv)
			first.srv.WaitBackground()
			b.ResetTimer()
			for range b.N {
				b.StopTimer() // a process makes its Server before the first request
				srv, err := New(Config{TargetDuration: 2 * time.Second}, first.st, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				get(srv)
				b.StopTimer()
				srv.Close()
				b.StartTimer()
			}
		})
	}
}
