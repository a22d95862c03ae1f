package vodapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/vodapi/playlist"
)

// fragRun is a run of n entries of about 2 s from seq0 at t, with holes in
// Seq, discontinuity flags and a non-independent entry here and there.
func fragRun(rng *rand.Rand, id string, seq0 uint64, t int64, n int, holes bool) runInfo {
	ri := runInfo{id: id}
	seq := seq0
	for range n {
		f := catalog.FlagIndependent
		if holes {
			switch rng.IntN(300) {
			case 0:
				f |= catalog.FlagDiscontinuity
			case 1:
				f = 0
			case 2:
				seq += 2
			}
		}
		d := uint32(2*catalog.TicksPerSecond + rng.IntN(200)*90)
		e := catalog.Entry{Seq: seq, StartMS: t, Duration: d, Size: 1000, Flags: f}
		ri.entries = append(ri.entries, e)
		seq++
		t = e.EndMS()
	}
	return ri
}

// wholeRender is the playlist as rendered in one piece (playlist.Write),
// what render must reproduce byte for byte.
func wholeRender(t *testing.T, s *Server, spec playlistSpec, token string) []byte {
	t.Helper()
	wins, _ := windowRuns(spec)
	var runs []playlist.Run
	for _, w := range wins {
		runs = append(runs, playlist.Run{ID: w.ri.id, Entries: w.ri.entries[w.lo:w.hi]})
	}
	opt := playlist.Options{TargetDuration: fixedTarget(spec.runs), SegmentURI: s.segmentURI(fixStream, spec.uriDir, token),
		Type: playlist.TypeEvent, Ended: spec.ended, NoIndependent: !spec.vod}
	if spec.vod {
		opt.Type = playlist.TypeVOD
	}
	b, err := playlist.Write(nil, runs, opt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeCoding undoes coding with Go's readers.
func decodeCoding(t *testing.T, coding string, b []byte) []byte {
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
		zr.Multistream(false) // one member: what every client reads
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", coding, err)
	}
	return out
}

// TestFragmentsEqualWholeRender: for windows that cut chunks or hold them
// whole, runs with holes and discontinuities, several runs, live and
// sealed, with and without tokens and with warm, cold and stale
// fragments, render's body is playlist.Write's and every coding decodes
// back to it.
func TestFragmentsEqualWholeRender(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ctx := context.Background()
	for _, base := range []string{"", "https://cdn.example/v"} {
		a := newAPI(t, Config{SegmentBaseURL: base})
		s := a.srv
		t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC).UnixMilli()
		r1 := fragRun(rng, catalog.NewRunID(time.UnixMilli(t0), "n1"), 0, t0, 3*catalog.EntriesPerChunk+100, true)
		r2 := fragRun(rng, catalog.NewRunID(time.UnixMilli(t0+8e6), "n1"), 7, t0+8e6, 2*catalog.EntriesPerChunk, false)
		r3 := fragRun(rng, catalog.NewRunID(time.UnixMilli(t0+13e6), "n1"), 0, t0+13e6, 500, true) // live: one open chunk
		// r1's last chunk (100 entries) is final: shared too.
		r1.finished = true
		for i := range 40 {
			spec := playlistSpec{runs: []runInfo{r1}, ended: i%2 == 0, uriDir: []string{"", "../../"}[i%2]}
			switch i % 4 {
			case 1:
				spec.runs = []runInfo{r1, r2, r3}
			case 2:
				spec.runs = []runInfo{r2, r3}
			}
			if i >= 8 { // a window: edges anywhere, chunk boundaries too
				all := spec.runs[0].entries
				lo := []int{0, 1, catalog.EntriesPerChunk, catalog.EntriesPerChunk + 1, rng.IntN(len(all))}[i%5]
				spec.from = time.UnixMilli(all[lo].StartMS)
				spec.to = time.UnixMilli(all[len(all)-1].EndMS() + 20e6 - int64(rng.IntN(8e6)))
				spec.vod = i%3 == 0
				spec.ended = spec.ended || spec.vod
			}
			token := ""
			if i%7 == 3 {
				token = "token=abc"
			}
			want := wholeRender(t, s, spec, token)
			for round := range 2 { // cold, then warm fragments
				r, err := s.render(ctx, fixStream, spec, token)
				if err != nil {
					t.Fatal(err)
				}
				if body := join(r.parts); !bytes.Equal(body, want) || r.body != nil || r.size != len(body) {
					t.Fatalf("case %d round %d: body differs from the whole render (%d vs %d bytes)", i, round, len(r.body), len(want))
				}
				for _, coding := range []string{"gzip", "br", "zstd"} {
					enc, err := s.encodeParts(ctx, r, coding)
					if err != nil {
						t.Fatal(err)
					}
					if got := decodeCoding(t, coding, enc); !bytes.Equal(got, want) {
						t.Fatalf("case %d round %d: %s decodes to %d bytes, not the playlist's %d", i, round, coding, len(got), len(want))
					}
				}
			}
		}
		// A chunk whose entries are not those a fragment was made from
		// (which a sealed chunk never does) is rendered again, not reused.
		spec := playlistSpec{runs: []runInfo{r1}, ended: true}
		if _, err := s.render(ctx, fixStream, spec, ""); err != nil {
			t.Fatal(err)
		}
		changed := r1
		changed.entries = append([]catalog.Entry(nil), r1.entries...)
		changed.entries[catalog.EntriesPerChunk+5].Duration += 90 * 500
		spec.runs = []runInfo{changed}
		r, err := s.render(ctx, fixStream, spec, "")
		if err != nil {
			t.Fatal(err)
		}
		if want := wholeRender(t, s, spec, ""); !bytes.Equal(join(r.parts), want) {
			t.Fatal("a stale fragment was used")
		}
	}
}

// TestFragmentedCodingsRealClients: a sealed multi-chunk run and a live one
// over HTTP: gzip -dc, curl --compressed and the zstd CLI decode each
// coding to the identity playlist, and the ETags are strong and stable.
func TestFragmentedCodingsRealClients(t *testing.T) {
	a := newAPI(t, Config{})
	start := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	rng := rand.New(rand.NewPCG(5, 6))

	for n, live := range []bool{false, true} {
		// The live run's last segment ends a few minutes ago: inside the
		// recovery grace, so its playlist stays open.
		at := start.Add(time.Duration(n) * 90 * time.Minute)
		run := storeRun(t, a, rng, at, 2*catalog.EntriesPerChunk+300, live)
		url := a.ts.URL + "/hls/" + fixStream.String() + "/runs/" + run + "/index.m3u8"
		resp, id := do(t, http.MethodGet, url)
		if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(id, []byte("#EXTM3U")) {
			t.Fatalf("%s: %d %.200s", url, resp.StatusCode, id)
		}
		if bytes.Contains(id, []byte("#EXT-X-ENDLIST")) == live {
			t.Fatalf("live=%v: ENDLIST wrong", live)
		}
		etag := resp.Header.Get("ETag")
		for _, coding := range []string{"gzip", "br", "zstd"} {
			resp, b := do(t, http.MethodGet, url, "Accept-Encoding", coding)
			if ce := resp.Header.Get("Content-Encoding"); ce != coding {
				t.Fatalf("%s: Content-Encoding %q", coding, ce)
			}
			if got := decodeCoding(t, coding, b); !bytes.Equal(got, id) {
				t.Errorf("live=%v %s: Go's reader gives %d bytes, identity is %d", live, coding, len(got), len(id))
			}
			if et := resp.Header.Get("ETag"); strings.HasPrefix(et, "W/") || et == etag {
				t.Errorf("%s: ETag %q next to identity's %q", coding, et, etag)
			}
			resp2, b2 := do(t, http.MethodGet, url, "Accept-Encoding", coding)
			if resp2.Header.Get("ETag") != resp.Header.Get("ETag") || !bytes.Equal(b, b2) {
				t.Errorf("%s: the same ETag with other bytes, or another ETag", coding)
			}
			checkCLIDecodes(t, fmt.Sprintf("live=%v %s", live, coding), coding, b, id)
		}
		if _, err := exec.LookPath("curl"); err == nil {
			out, err := exec.Command("curl", "-sf", "--compressed", "-H", "Accept-Encoding: gzip", url).Output()
			if err != nil || !bytes.Equal(out, id) {
				t.Errorf("live=%v: curl --compressed gives %d bytes (%v), identity is %d", live, len(out), err, len(id))
			}
		}
	}
}

// TestBrotliBuiltInBackground: a large playlist whose sealed prefix has no
// brotli yet is answered with the next accepted coding while it is built;
// then with brotli, and both decode to the playlist.
func TestBrotliBuiltInBackground(t *testing.T) {
	a := newAPI(t, Config{})
	rng := rand.New(rand.NewPCG(1, 1))
	run := storeRun(t, a, rng, time.Now().Add(-5*time.Hour).UTC().Truncate(time.Second), 5*catalog.EntriesPerChunk+10, false)
	url := a.ts.URL + "/hls/" + fixStream.String() + "/runs/" + run + "/index.m3u8"
	_, id := do(t, http.MethodGet, url)
	if len(id) <= bigBrotli {
		t.Fatalf("the playlist is %d bytes, not above %d", len(id), bigBrotli)
	}
	resp, b := do(t, http.MethodGet, url, "Accept-Encoding", "br, zstd;q=0.9, gzip;q=0.5")
	if ce := resp.Header.Get("Content-Encoding"); ce != "zstd" {
		t.Fatalf("cold: Content-Encoding %q, want zstd while brotli is built", ce)
	}
	if got := decodeCoding(t, "zstd", b); !bytes.Equal(got, id) {
		t.Fatal("cold: zstd does not decode to the playlist")
	}
	a.srv.frags.builds.Wait()
	resp, b = do(t, http.MethodGet, url, "Accept-Encoding", "br, zstd;q=0.9, gzip;q=0.5")
	if ce := resp.Header.Get("Content-Encoding"); ce != "br" {
		t.Fatalf("after the build: Content-Encoding %q, want br", ce)
	}
	if got := decodeCoding(t, "br", b); !bytes.Equal(got, id) {
		t.Fatal("br does not decode to the playlist")
	}
	// A client that takes only brotli gets it at once.
	resp, b = do(t, http.MethodGet, url+"?x=1", "Accept-Encoding", "br")
	if resp.Header.Get("Content-Encoding") != "br" || !bytes.Equal(decodeCoding(t, "br", b), id) {
		t.Fatal("br only: not brotli of the playlist")
	}
}

// storeRun stores a run of n entries from start (index chunks and run.json,
// ended unless live) and returns its id.
func storeRun(t *testing.T, a *api, rng *rand.Rand, start time.Time, n int, live bool) string {
	t.Helper()
	ctx := context.Background()
	{
		run := catalog.NewRunID(start, "n1")
		ri := fragRun(rng, run, 0, start.UnixMilli(), n, true)
		w := catalog.NewIndexWriter(nil)
		writes, err := w.Append(ri.entries...)
		if err != nil {
			t.Fatal(err)
		}
		for _, cw := range writes {
			if err := a.st.Put(ctx, catalog.IndexChunkKey(fixStream, run, cw.Number), cw.Data, ""); err != nil {
				t.Fatal(err)
			}
		}
		m := catalog.Manifest{Version: catalog.ManifestVersion, Stream: fixStream.String(), Run: run, Node: "n1",
			StartedAt: time.UnixMilli(ri.entries[0].StartMS).UTC(), State: catalog.StateLive, TargetDurationMS: 2000}
		if !live {
			end := time.UnixMilli(ri.entries[len(ri.entries)-1].EndMS()).UTC()
			m.EndedAt, m.State = &end, catalog.StateEnded
		}
		if err := catalog.WriteManifest(ctx, a.st, m); err != nil {
			t.Fatal(err)
		}
		return run
	}
}

// BenchmarkNewWindow is a new window's playlist over a 24 h run whose
// fragments are warm, rendered and compressed (no store, no HTTP).
func BenchmarkNewWindow(b *testing.B) {
	for _, coding := range []string{"", "gzip", "zstd"} {
		b.Run("coding="+coding, func(b *testing.B) {
			a := newAPI(b, Config{})
			rng := rand.New(rand.NewPCG(1, 2))
			ri := fragRun(rng, catalog.NewRunID(time.Now().Add(-25*time.Hour), "n1"), 0, time.Now().Add(-25*time.Hour).UnixMilli(), 43200, false)
			ctx := context.Background()
			spec := func(i int) playlistSpec {
				return playlistSpec{runs: []runInfo{ri}, ended: true, vod: true,
					from: time.UnixMilli(ri.entries[i%1000].StartMS), to: time.UnixMilli(ri.entries[len(ri.entries)-1].EndMS())}
			}
			r, _ := a.srv.render(ctx, fixStream, spec(0), "")
			if coding != "" {
				_, _ = a.srv.encodeParts(ctx, r, coding)
			}
			b.ResetTimer()
			for i := range b.N {
				r, err := a.srv.render(ctx, fixStream, spec(i+1), "")
				if err != nil {
					b.Fatal(err)
				}
				if coding != "" {
					if _, err := a.srv.encodeParts(ctx, r, coding); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func TestAccepted(t *testing.T) {
	for accept, want := range map[string]string{
		"":                          "",
		"gzip":                      "gzip",
		"br, zstd, gzip":            "br zstd gzip",
		"gzip;q=1, br;q=0.5, zstd":  "zstd gzip br",
		"*;q=0.1, gzip":             "gzip br zstd",
		"br;q=0, identity":          "",
		"GZIP;q=0.3, Zstd;q=0.3":    "zstd gzip",
		"deflate, gzip;q=bad, br;q": "br gzip",
	} {
		if got := strings.Join(accepted(accept), " "); got != want {
			t.Errorf("%q: %q, want %q", accept, got, want)
		}
	}
}

// FuzzAccepted: any header gives distinct codings of ours, best first, the
// first being negotiate's choice.
func FuzzAccepted(f *testing.F) {
	for _, s := range []string{"", "br, zstd, gzip", "gzip;q=0.5, *;q=0.9", "br;q=0", ",,;q=", "x;q=1e309"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		all := accepted(accept)
		seen := map[string]bool{}
		for _, c := range all {
			if seen[c] || !slices.Contains(codings, c) {
				t.Fatalf("%q: %q", accept, all)
			}
			seen[c] = true
		}
		if got := negotiate(accept); (len(all) == 0 && got != "") || (len(all) > 0 && got != all[0]) {
			t.Fatalf("%q: negotiate %q, accepted %q", accept, got, all)
		}
	})
}

// checkCLIDecodes: the command-line decoder of coding (gzip -dc, zstd -dcq;
// none for other codings, skipped when not installed) turns b into want.
func checkCLIDecodes(t *testing.T, what, coding string, b, want []byte) {
	t.Helper()
	cli := map[string][]string{"gzip": {"gzip", "-dc"}, "zstd": {"zstd", "-dcq"}}[coding]
	if cli == nil {
		return
	}
	if _, err := exec.LookPath(cli[0]); err != nil {
		t.Logf("%s not installed: %v", cli[0], err)
		return
	}
	cmd := exec.Command(cli[0], cli[1:]...)
	cmd.Stdin = bytes.NewReader(b)
	if out, err := cmd.Output(); err != nil || !bytes.Equal(out, want) {
		t.Errorf("%s: %s gives %d bytes (%v), identity is %d", what, cli[0], len(out), err, len(want))
	}
}

// TestBrotliReuse: an encoder taken back from the pool, after a finished
// stream and after an abandoned flushed one (a cached prefix), writes the
// same bytes as a new one: nothing of the last stream carries over.
func TestBrotliReuse(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	bodies := make([][]byte, 4)
	for i := range bodies {
		var b []byte
		for range 2000 + i*500 {
			b = fmt.Appendf(b, "#EXTINF:%d.%03d,\nseg/%010d.ts\n", 2, rng.IntN(1000), rng.IntN(1<<30))
		}
		bodies[i] = b
	}
	fresh := func(b []byte) []byte {
		var buf bytes.Buffer
		w := brotli.NewWriterLevel(&buf, brotliQuality)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	for i, b := range bodies {
		// Leave a flushed, unfinished stream in the pool first.
		var junk bytes.Buffer
		w := getBrotli(&junk)
		_, _ = w.Write(bodies[(i+1)%len(bodies)])
		_ = w.Flush()
		putBrotli(w)
		got, err := compress("br", b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, fresh(b)) {
			t.Fatalf("body %d: a reused encoder wrote other bytes than a new one", i)
		}
		dec, err := io.ReadAll(brotli.NewReader(bytes.NewReader(got)))
		if err != nil || !bytes.Equal(dec, b) {
			t.Fatalf("body %d: does not decode to itself: %v", i, err)
		}
	}
}
