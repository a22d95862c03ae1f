package vodapi

import (
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/mediatest"
)

// segFile is one real TS segment cut by ffmpeg, with its media duration.
type segFile struct {
	data []byte
	dur  time.Duration
}

var (
	segOnce sync.Once
	segs    []segFile
	segErr  error
)

// testSegments cuts 12 s of testsrc2 + sine (libx264, 2 s GOP, AAC) into
// 2 s MPEG-TS segments with ffmpeg's segmenter, once per test binary.
func testSegments(t *testing.T) []segFile {
	t.Helper()
	mediatest.Require(t)
	segOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vodapi-segs-")
		if err != nil {
			segErr = err
			return
		}
		defer os.RemoveAll(dir)
		args := append(mediatest.Source{Seconds: 12}.Args(), "-f", "segment", "-segment_time", "2", "-segment_format", "mpegts",
			"-segment_list", filepath.Join(dir, "list.csv"), "-segment_list_type", "csv", filepath.Join(dir, "s%03d.ts"))
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			segErr = err
			t.Logf("%s", out)
			return
		}
		f, err := os.Open(filepath.Join(dir, "list.csv"))
		if err != nil {
			segErr = err
			return
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			segErr = err
			return
		}
		for _, row := range rows {
			start, _ := strconv.ParseFloat(row[1], 64)
			end, _ := strconv.ParseFloat(row[2], 64)
			b, err := os.ReadFile(filepath.Join(dir, row[0]))
			if err != nil {
				segErr = err
				return
			}
			segs = append(segs, segFile{data: b, dur: time.Duration((end - start) * float64(time.Second))})
		}
	})
	if segErr != nil || len(segs) == 0 {
		t.Fatalf("cutting test segments: %v", segErr)
	}
	return segs
}

var fixStream = catalog.Stream{App: "live", Name: "cam"}

// writeRun stores a run the way the recorder does: segments, index chunks
// and run.json, starting at the given wall clock. live leaves it growing.
func writeRun(t *testing.T, st store.Store, start time.Time, live bool) string {
	t.Helper()
	ctx := context.Background()
	run := catalog.NewRunID(start, "node1")
	w := catalog.NewIndexWriter(nil)
	at := start.UnixMilli()
	for i, s := range testSegments(t) {
		seq := uint64(i + 1)
		if err := st.Put(ctx, catalog.SegmentKey(fixStream, run, seq), s.data, "video/mp2t"); err != nil {
			t.Fatal(err)
		}
		e := catalog.Entry{Seq: seq, StartMS: at, Duration: uint32(s.dur * 90000 / time.Second), Size: uint32(len(s.data)), Flags: catalog.FlagIndependent}
		at = e.EndMS()
		writes, err := w.Append(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, cw := range writes {
			if err := st.Put(ctx, catalog.IndexChunkKey(fixStream, run, cw.Number), cw.Data, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := catalog.Manifest{Version: 1, Stream: fixStream.String(), Run: run, Node: "node1", StartedAt: start.UTC(),
		State: catalog.StateLive, TargetDurationMS: 2000,
		Video: &catalog.VideoInfo{Codec: "avc1.64000d", Width: 320, Height: 240, FPS: 25},
		Audio: &catalog.AudioInfo{Codec: "mp4a.40.2", SampleRate: 44100, Channels: 1}}
	if !live {
		end := time.UnixMilli(at).UTC()
		m.State, m.EndedAt = catalog.StateEnded, &end
	}
	if err := catalog.WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	return run
}

func endRun(t *testing.T, st store.Store, run string) {
	t.Helper()
	ctx := context.Background()
	m, err := catalog.ReadManifest(ctx, st, fixStream, run)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := catalog.ReadIndex(ctx, st, fixStream, run)
	end := time.UnixMilli(entries[len(entries)-1].EndMS()).UTC()
	m.State, m.EndedAt = catalog.StateEnded, &end
	if err := catalog.WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
}

// api is a vodapi over an FS store, served by httptest.
type api struct {
	srv *Server
	ts  *httptest.Server
	st  *store.FS
	reg *prometheus.Registry
}

func newAPI(t *testing.T, cfg Config) *api {
	t.Helper()
	st, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TargetDuration == 0 {
		cfg.TargetDuration = 2 * time.Second
	}
	reg := prometheus.NewRegistry()
	srv, err := New(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return &api{srv: srv, ts: ts, st: st, reg: reg}
}

// storeReads is how many store requests the API has made.
func (a *api) storeReads() float64 {
	return testutil.ToFloat64(a.srv.m.storeRequests.WithLabelValues("get")) +
		testutil.ToFloat64(a.srv.m.storeRequests.WithLabelValues("list")) +
		testutil.ToFloat64(a.srv.m.storeRequests.WithLabelValues("head"))
}
