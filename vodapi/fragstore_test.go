package vodapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
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
		textCRC: crc32.ChecksumIEEE(text), textLen: len(text),
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

// TestFragPrefixReads: an object whose prefix is longer than the first
// read takes a second; one shorter than it comes whole, text included.
func TestFragPrefixReads(t *testing.T) {
	ctx := context.Background()
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fs := newFragStore(st, st, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	defer fs.close()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{100, fragPrefixRead, 3 * fragPrefixRead} {
		f := sampleFrag()
		f.deflate = make([]byte, n)
		for i := range f.deflate {
			f.deflate[i] = byte(rng.Uint32())
		}
		f.text = bytes.Repeat([]byte("#EXTINF:2.000,\nr/1.ts\n"), 1000)
		f.textCRC, f.textLen = crc32.ChecksumIEEE(f.text), len(f.text)
		obj := encodeFrag(f)
		if err := st.Put(ctx, "f/x.frag", obj, ""); err != nil {
			t.Fatal(err)
		}
		b, err := fs.readPrefix(ctx, "f/x.frag")
		if err != nil {
			t.Fatalf("deflate %d B: %v", n, err)
		}
		got, err := decodeFragPrefix(b)
		if err != nil || !bytes.Equal(got.deflate, f.deflate) || !bytes.Equal(got.zstd, f.zstd) || got.sum != f.sum {
			t.Fatalf("deflate %d B: decoded %v", n, err)
		}
		if whole := len(obj) <= fragPrefixRead; whole != (got.text != nil) || whole && !bytes.Equal(got.text, f.text) {
			t.Fatalf("deflate %d B, object %d B: text %d B", n, len(obj), len(got.text))
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
// counted as rejected, and stored again, correct. Damage to the text,
// which a gzip answer does not read, is found when an identity answer
// reads it, with the same outcome.
func TestStoredFragmentIgnored(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(9, 10))
	first := newAPI(t, Config{})
	start := time.Now().Add(-5 * time.Hour).UTC().Truncate(time.Second)
	run := storeRun(t, first, rng, start, 3*catalog.EntriesPerChunk+10, false)
	url := "/hls/" + fixStream.String() + "/runs/" + run + "/index.m3u8"
	want := map[string][]byte{}
	for _, coding := range []string{"gzip", ""} {
		_, want[coding] = do(t, http.MethodGet, first.ts.URL+url, "Accept-Encoding", coding)
	}
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
	prefix, total, err := fragPrefixLen(good)
	if err != nil || total != int64(len(good)) || prefix > fragPrefixRead {
		t.Fatalf("object of %d bytes: prefix %d, total %d, %v", len(good), prefix, total, err)
	}
	flip := func(i int64) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	// Stale: a valid object with the right key, from entries the index no
	// longer has.
	d, err := decodeFrag(good)
	if err != nil {
		t.Fatal(err)
	}
	d.digest[0] ^= 1
	for _, c := range []struct {
		name    string
		bad     []byte
		codings []string // of the answers, the last finds it
		hits    float64
	}{
		{"corrupt forms", flip(prefix / 2), []string{"gzip"}, 3},
		// A gzip answer reads the forms alone; the identity one after it
		// reads the text and finds the damage.
		{"corrupt text", flip(prefix + (total-prefix)/2), []string{"gzip", ""}, 4},
		{"corrupt text, read whole", flip(prefix + (total-prefix)/2), []string{""}, 3},
		{"truncated forms", good[:prefix-9], []string{"gzip"}, 3},
		{"truncated text", good[:len(good)-9], []string{"gzip"}, 3}, // its length is not the header's
		{"foreign", read(keys[2]), []string{"gzip"}, 3},
		{"stale", encodeFrag(d), []string{"gzip"}, 3},
		{"garbage", []byte("not a fragment"), []string{"gzip"}, 3},
		{"empty", nil, []string{"gzip"}, 3},
	} {
		if err := first.st.Put(ctx, keys[1], c.bad, ""); err != nil {
			t.Fatal(err)
		}
		a := apiOver(t, Config{}, first.st)
		for _, coding := range c.codings {
			resp, b := do(t, http.MethodGet, a.ts.URL+url, "Accept-Encoding", coding)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want[coding]) {
				t.Fatalf("%s, %q: %d, %d bytes, want the %d of a render", c.name, coding, resp.StatusCode, len(b), len(want[coding]))
			}
		}
		a.srv.WaitBackground()
		if r, h, w := storedCount(a, "rejected"), storedCount(a, "hit"), storedCount(a, "written"); r != 1 || h != c.hits || w != 1 {
			t.Fatalf("%s: %v rejected, %v hits, %v written; want 1, %v, 1", c.name, r, h, w, c.hits)
		}
		if !bytes.Equal(read(keys[1]), good) {
			t.Fatalf("%s: not stored again as rendered", c.name)
		}
	}
}

// TestStoredFragmentTextRead: a gzip or zstd answer from stored fragments
// reads their prefixes only; an identity answer, then brotli, read the
// texts (once) and match a render.
func TestStoredFragmentTextRead(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	first := newAPI(t, Config{})
	start := time.Now().Add(-5 * time.Hour).UTC().Truncate(time.Second)
	run := storeRun(t, first, rng, start, 4*catalog.EntriesPerChunk+300, false)
	url := "/hls/" + fixStream.String() + "/runs/" + run + "/index.m3u8"
	codings := []string{"gzip", "zstd", "", "br"}
	want := map[string][]byte{}
	for _, coding := range codings {
		_, want[coding] = do(t, http.MethodGet, first.ts.URL+url, "Accept-Encoding", coding)
	}
	first.srv.WaitBackground()
	var stored int64
	keys := fragObjects(t, first.st, run)
	for _, key := range keys {
		info, err := first.st.Head(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		stored += info.Size
	}

	cs := &byteCountStore{Store: first.st}
	reg := prometheus.NewRegistry()
	srv, err := New(Config{TargetDuration: 2 * time.Second}, cs, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	second := &api{srv: srv, ts: ts, st: first.st, reg: reg}
	for i, coding := range codings {
		before := cs.read.Load()
		resp, b := do(t, http.MethodGet, second.ts.URL+url, "Accept-Encoding", coding)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want[coding]) {
			t.Fatalf("%q: %d, %d bytes, want %d", coding, resp.StatusCode, len(b), len(want[coding]))
		}
		n := cs.frag.Load()
		switch i {
		case 0:
			if n > int64(len(keys))*fragPrefixRead || n > stored/2 { // one prefix read each
				t.Fatalf("gzip read %d of the fragments' %d bytes", n, stored)
			}
		case 1:
			if cs.read.Load() != before {
				t.Fatalf("zstd read %d more bytes", cs.read.Load()-before)
			}
		case 2:
			if n != stored {
				t.Fatalf("identity: %d of the fragments' %d bytes read", n, stored)
			}
		case 3:
			if cs.read.Load() != before {
				t.Fatalf("brotli read %d more bytes", cs.read.Load()-before)
			}
		}
	}
	second.srv.WaitBackground()
	if r, h, w := storedCount(second, "rejected"), storedCount(second, "hit"), storedCount(second, "written"); r != 0 || h != 5 || w != 0 {
		t.Fatalf("%v rejected, %v hits, %v written; want 0, 5, 0", r, h, w)
	}

	// A client that takes no gzip or zstd, first: each object is read
	// whole, once.
	for _, coding := range []string{"", "br"} {
		cs := &byteCountStore{Store: first.st}
		srv, err := New(Config{TargetDuration: 2 * time.Second}, cs, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		resp, b := do(t, http.MethodGet, ts.URL+url, "Accept-Encoding", coding)
		ts.Close()
		srv.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want[coding]) {
			t.Fatalf("first %q: %d, %d bytes, want %d", coding, resp.StatusCode, len(b), len(want[coding]))
		}
		if n := cs.frag.Load(); n != stored {
			t.Fatalf("first %q: %d of the fragments' %d bytes read", coding, n, stored)
		}
	}
}

// byteCountStore counts the bytes read through it: all, and of fragments.
type byteCountStore struct {
	store.Store
	read, frag atomic.Int64
}

func (s *byteCountStore) Get(ctx context.Context, key string, rng *store.Range) (io.ReadCloser, store.Info, error) {
	rc, info, err := s.Store.Get(ctx, key, rng)
	if err != nil {
		return nil, info, err
	}
	return &countedReader{ReadCloser: rc, n: &s.read, frag: strings.Contains(key, "/frag/"), f: &s.frag}, info, nil
}

type countedReader struct {
	io.ReadCloser
	n, f *atomic.Int64
	frag bool
}

func (r *countedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	if r.frag {
		r.f.Add(int64(n))
	}
	return n, err
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
			if _, err := catalog.WriteIndex(ctx, first.st, fixStream, ri.id, ri.entries); err != nil {
				b.Fatal(err)
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
