//go:build cgo

package editor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/internal/runtest"
)

// localPlaylist writes the clip's playlist with local paths (what the API
// makes with URLs), so ffprobe plays it straight from the store's folder.
func localPlaylist(t *testing.T, root string, id string, m *catalog.ClipHLS) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n")
	for _, s := range m.Segments {
		if s.Discontinuity {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		key := catalog.ClipHLSFileKey(id, s.File)
		if s.File == "" {
			key = catalog.SegmentKey(testStream, s.Run, s.Seq)
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s\n", s.Dur().Seconds(), filepath.Join(root, filepath.FromSlash(key)))
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	p := filepath.Join(t.TempDir(), "index.m3u8")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHLSClipByReference: an HLS clip stores only its edge segments and a
// manifest; everything between them is the source's segments. Played
// (ffprobe, through the hls demuxer), an accurate clip has exactly the
// frames of its range, a copy one its range from the keyframe before it.
func TestHLSClipByReference(t *testing.T) {
	st, q := localBackends(t)
	root := st.(*fsstore.FS).Root()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	segs := runtest.Segments(t)
	w := startWorker(t, Config{}, st, q)
	ctx := context.Background()

	// 2.5 s .. 9.5 s of 2 s segments: seq 2 and 5 are cut, 3 and 4 referenced.
	for _, mode := range []string{catalog.ModeAccurate, catalog.ModeCopy} {
		t.Run(mode, func(t *testing.T) {
			id := submit(t, st, q, run, t0, 2.5, 9.5, catalog.FormatHLS, mode, "")
			j := waitDone(t, st, id, 90*time.Second)
			if j.Status != catalog.ClipSucceeded || j.Output == nil {
				t.Fatalf("job %+v", j)
			}
			o := j.Output
			if o.Key != catalog.ClipHLSKey(id) || o.ContentType != "application/vnd.apple.mpegurl" || o.Width != 320 || o.Height != 240 || o.Files != 4 {
				t.Errorf("output %+v", o)
			}
			m, err := catalog.ReadClipHLS(ctx, st, id)
			if err != nil {
				t.Fatal(err)
			}
			var own, refs []string
			var stored int64
			for _, s := range m.Segments {
				if s.File != "" {
					own = append(own, s.File)
					info, err := st.Head(ctx, catalog.ClipHLSFileKey(id, s.File))
					if err != nil || info.Size != s.Size {
						t.Errorf("edge %s: %+v %v", s.File, info, err)
					}
					stored += s.Size
				} else {
					refs = append(refs, fmt.Sprintf("%s/%d", s.Run, s.Seq))
				}
			}
			if strings.Join(own, " ") != "seg_00000.ts seg_00001.ts" || strings.Join(refs, " ") != run+"/3 "+run+"/4" {
				t.Errorf("own %v, referenced %v", own, refs)
			}
			// The edges do not continue the source's continuity counters.
			var disc []bool
			for _, s := range m.Segments {
				disc = append(disc, s.Discontinuity)
			}
			if fmt.Sprint(disc) != "[false true false true]" {
				t.Errorf("discontinuities %v", disc)
			}
			man, _ := st.Head(ctx, catalog.ClipHLSKey(id))
			if o.Stored != stored+man.Size || o.Size != stored+int64(len(segs[2].Data)+len(segs[3].Data)) {
				t.Errorf("stored %d (edges %d + manifest %d), size %d", o.Stored, stored, man.Size, o.Size)
			}
			// Nothing else under the clip's folder: no copy of the middle.
			res, err := st.List(ctx, catalog.ClipPrefix(id), store.ListOptions{})
			if err != nil || len(res.Objects) != 4 {
				t.Errorf("clip folder holds %d objects (%v)", len(res.Objects), err)
			}

			pl := localPlaylist(t, root, id, m)
			c := mediatest.CountFrames(t, pl)
			want, slack := 7*25, 0 // 7 s at 25 fps
			if mode == catalog.ModeCopy {
				// From the keyframe at 2 s; the end stops at the first
				// packet in decode order shown at or after 9.5 s, so the
				// B-frames before it in display order are not there.
				want, slack = 188, 8
			}
			if c.Video < want-slack || c.Video > want || c.Audio == 0 {
				t.Errorf("played %+v, want %d video frames", c, want)
			}
			if d := o.Duration; d < 6.9 || d > 7.6 {
				t.Errorf("duration %.3f", d)
			}
		})
	}
	// Two jobs, each timed by the phases of the by-reference path: the
	// edge work apart from the fixed part.
	checkPhases(t, w, map[string]uint64{"start": 2, "index": 2, "edges": 2, "manifest": 2, "finish": 2,
		"fetch": 0, "cut": 0, "upload": 0})
}
