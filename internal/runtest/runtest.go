// Package runtest writes recorded runs into a store the way the recorder
// does (real TS segments cut by ffmpeg, index chunks, run.json), for the
// tests of what reads recordings: the replay API and the editor.
package runtest

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/mediatest"
)

// Segment is one real TS segment and its media duration.
type Segment struct {
	Data []byte
	Dur  time.Duration
}

var (
	segOnce sync.Once
	segs    []Segment
	segErr  error
)

// Segments cuts 12 s of testsrc2 + sine (libx264 with B-frames, 2 s GOP,
// AAC) into 2 s MPEG-TS segments with ffmpeg's segmenter, once per test
// binary. Timestamps run on across segments, as in a recorded run.
func Segments(t testing.TB) []Segment {
	t.Helper()
	mediatest.Require(t)
	segOnce.Do(func() { segs, segErr = cut() })
	if segErr != nil || len(segs) == 0 {
		t.Fatalf("cutting test segments: %v", segErr)
	}
	return segs
}

func cut() ([]Segment, error) {
	dir, err := os.MkdirTemp("", "runtest-segs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	args := append(mediatest.Source{Seconds: 12}.Args(), "-f", "segment", "-segment_time", "2", "-segment_format", "mpegts",
		"-segment_list", filepath.Join(dir, "list.csv"), "-segment_list_type", "csv", filepath.Join(dir, "s%03d.ts"))
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %w\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(dir, "list.csv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	var out []Segment
	for _, row := range rows {
		start, _ := strconv.ParseFloat(row[1], 64)
		end, _ := strconv.ParseFloat(row[2], 64)
		b, err := os.ReadFile(filepath.Join(dir, row[0]))
		if err != nil {
			return nil, err
		}
		out = append(out, Segment{Data: b, Dur: time.Duration((end - start) * float64(time.Second))})
	}
	return out, nil
}

// WriteRun stores a run of Segments: segments, index chunks and run.json,
// starting at the given wall clock; live leaves it growing.
func WriteRun(t testing.TB, st store.Store, s catalog.Stream, start time.Time, live bool) string {
	t.Helper()
	ctx := context.Background()
	run := catalog.NewRunID(start, "node1")
	w := catalog.NewIndexWriter(nil)
	at := start.UnixMilli()
	for i, seg := range Segments(t) {
		seq := uint64(i + 1)
		if err := st.Put(ctx, catalog.SegmentKey(s, run, seq), seg.Data, "video/mp2t"); err != nil {
			t.Fatal(err)
		}
		e := catalog.Entry{Seq: seq, StartMS: at, Duration: uint32(seg.Dur * 90000 / time.Second), Size: uint32(len(seg.Data)), Flags: catalog.FlagIndependent}
		at = e.EndMS()
		writes, err := w.Append(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, cw := range writes {
			if err := st.Put(ctx, catalog.IndexChunkKey(s, run, cw.Number), cw.Data, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := catalog.Manifest{Version: 1, Stream: s.String(), Run: run, Node: "node1", StartedAt: start.UTC(),
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

// EndRun marks a live run ended at the end of its last segment.
func EndRun(t testing.TB, st store.Store, s catalog.Stream, run string) {
	t.Helper()
	ctx := context.Background()
	m, err := catalog.ReadManifest(ctx, st, s, run)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := catalog.ReadIndex(ctx, st, s, run)
	end := time.UnixMilli(entries[len(entries)-1].EndMS()).UTC()
	m.State, m.EndedAt = catalog.StateEnded, &end
	if err := catalog.WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
}
