package av

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// packetPTS lists the PTS (90 kHz, the TS clock) of path's packets of one
// kind ("video" or "audio"), sorted.
func packetPTS(t *testing.T, path, kind string) []int64 {
	t.Helper()
	pi := ffprobe(t, path, "-show_entries", "packet=codec_type,pts,dts")
	var out []int64
	for _, p := range pi.Packets {
		if p.CodecType == kind {
			out = append(out, p.Pts)
		}
	}
	slices.Sort(out)
	return out
}

// firstDTS is the DTS of path's first video packet: the clock Part.From
// and Part.To count from.
func firstDTS(t *testing.T, path string) int64 {
	t.Helper()
	for _, p := range ffprobe(t, path, "-show_entries", "packet=codec_type,pts,dts").Packets {
		if p.CodecType == "video" {
			return p.Dts
		}
	}
	t.Fatalf("%s has no video", path)
	return 0
}

func since(pts []int64, from int64) []int64 {
	var out []int64
	for _, p := range pts {
		if p >= from {
			out = append(out, p)
		}
	}
	return out
}

func before(pts []int64, to int64) []int64 {
	var out []int64
	for _, p := range pts {
		if p < to {
			out = append(out, p)
		}
	}
	return out
}

// TestKeepTimestamps: the edge segments of an HLS clip keep the source's
// clock, so they sit between recorded segments with no jump: a first edge
// holds exactly the source frames from its cut on (accurate: the first
// frame shown at or after From; copy: from the keyframe before it), all of
// them to the segment's end; a last edge the frames before To.
func TestKeepTimestamps(t *testing.T) {
	fx := fixture(t)
	dir := filepath.Dir(fx.a)
	// a_1 and a_2 are 4 s segments (a_0 and a_3 the 2 s ends).
	seg0, seg2 := filepath.Join(dir, "a_1.ts"), filepath.Join(dir, "a_2.ts")
	const hour = time.Hour
	for _, mode := range []Mode{ModeCopy, ModeAccurate} {
		t.Run(string(mode), func(t *testing.T) {
			// First edge: from 2.5 s into a 4 s segment of 2 s GOPs.
			src := packetPTS(t, seg0, "video")
			base := firstDTS(t, seg0)
			from := base + ticks(2500*time.Millisecond)
			out := filepath.Join(t.TempDir(), "first.ts")
			res, err := Cut(t.Context(), []Part{{Path: seg0, From: 2500 * time.Millisecond, To: hour}}, out,
				Options{Format: FormatTS, Mode: mode, KeepTimestamps: true})
			if err != nil {
				t.Fatal(err)
			}
			got := packetPTS(t, out, "video")
			want := since(src, from)
			if mode == ModeCopy {
				want = since(src, src[0]+ticks(2*time.Second)) // the keyframe at or before From
			}
			if !slices.Equal(got, want) {
				t.Errorf("first edge video PTS %v\nwant %v", got, want)
			}
			if len(got) > 0 {
				if d := res.Duration - duration(src[len(src)-1]+ticks(40*time.Millisecond)-got[0]); d < -time.Millisecond || d > time.Millisecond {
					t.Errorf("first edge duration %s, off by %s", res.Duration, d)
				}
			}
			if a := packetPTS(t, out, "audio"); len(a) == 0 || a[0] < got[0]-ticks(30*time.Millisecond) {
				t.Errorf("first edge audio %v", a)
			}

			// Last edge: the first 1.3 s of a segment.
			src = packetPTS(t, seg2, "video")
			base = firstDTS(t, seg2)
			out = filepath.Join(t.TempDir(), "last.ts")
			if _, err := Cut(t.Context(), []Part{{Path: seg2, From: 0, To: 1300 * time.Millisecond}}, out,
				Options{Format: FormatTS, Mode: mode, KeepTimestamps: true}); err != nil {
				t.Fatal(err)
			}
			got = packetPTS(t, out, "video")
			want = before(src, base+ticks(1300*time.Millisecond))
			if mode == ModeCopy {
				// Copy stops at the first packet in decode order shown at
				// or after To: B-frames before it may be missing, never
				// more than a frame or two, and nothing after To is kept.
				sub := true
				for _, p := range got {
					sub = sub && slices.Contains(want, p)
				}
				if !sub || len(got) < len(want)-2 {
					t.Errorf("last edge video PTS %v\nwant about %v", got, want)
				}
				return
			}
			if !slices.Equal(got, want) {
				t.Errorf("last edge video PTS %v\nwant %v", got, want)
			}
		})
	}
}

func TestKeepTimestampsRefused(t *testing.T) {
	fx := fixture(t)
	for name, c := range map[string]struct {
		parts []Part
		opt   Options
	}{
		"two parts": {[]Part{{Path: fx.a, To: time.Second}, {Path: fx.b, To: time.Second}}, Options{Format: FormatTS, Mode: ModeCopy, KeepTimestamps: true}},
		"mp4":       {[]Part{{Path: fx.a, To: time.Second}}, Options{Format: FormatMP4, Mode: ModeCopy, KeepTimestamps: true}},
		"transcode": {[]Part{{Path: fx.a, To: time.Second}}, Options{Format: FormatTS, Mode: ModeAccurate, KeepTimestamps: true, Transcode: &Transcode{Height: 120}}},
	} {
		out := filepath.Join(t.TempDir(), "x.ts")
		if _, err := Cut(t.Context(), c.parts, out, c.opt); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestMoovRoom: an MP4's index goes into room kept at the start (one pass);
// when the guess is too small the cut is made again with faststart, and
// either way moov comes before mdat and the clip is whole.
func TestMoovRoom(t *testing.T) {
	fx := fixture(t)
	parts := []Part{{Path: fx.a, From: 2500 * time.Millisecond, To: 9500 * time.Millisecond}}
	want := -1
	for _, small := range []bool{false, true} {
		if small {
			defer func(p, b int64) { moovPerSample, moovBase = p, b }(moovPerSample, moovBase)
			moovPerSample, moovBase = 0, 64
		}
		out := filepath.Join(t.TempDir(), "clip.mp4")
		res, err := Cut(t.Context(), parts, out, Options{Format: FormatMP4, Mode: ModeAccurate})
		if err != nil {
			t.Fatalf("small room %v: %v", small, err)
		}
		checkMoovFirst(t, out)
		n := len(packetPTS(t, out, "video"))
		if want < 0 {
			want = n
		}
		if n != want || n != 7*25 || res.Duration < 7*time.Second-time.Millisecond || res.Duration > 7*time.Second+50*time.Millisecond {
			t.Errorf("small room %v: %d frames (%d), %s", small, n, want, res.Duration)
		}
	}
}
