package playlist

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/grafov/m3u8"

	"github.com/rewind-vod/rewind/catalog"
)

var t0 = time.Date(2026, 11, 23, 10, 15, 0, 123e6, time.UTC).UnixMilli()

const (
	ind  = catalog.FlagIndependent
	disc = catalog.FlagDiscontinuity
	gap  = catalog.FlagGap
)

// ent is an entry of ms milliseconds starting at t0+atMS.
func ent(seq uint64, atMS int64, ms uint32, f catalog.Flags) catalog.Entry {
	return catalog.Entry{Seq: seq, StartMS: t0 + atMS, Duration: ms * 90, Size: 1000, Flags: f}
}

// seqRun is n back-to-back independent segments of ms from seq, starting at atMS.
func seqRun(id string, seq uint64, atMS int64, n int, ms uint32) Run {
	r := Run{ID: id}
	for i := range n {
		r.Entries = append(r.Entries, ent(seq+uint64(i), atMS+int64(i)*int64(ms), ms, ind))
	}
	return r
}

type wantSeg struct {
	uri  string // checked when set
	dur  float64
	disc bool
	pdt  int64 // t0-relative ms; checked when has
	has  bool  // has PROGRAM-DATE-TIME
	gap  bool
}

type want struct {
	seq     uint64
	target  float64
	typ     m3u8.MediaType
	closed  bool
	indep   bool
	version uint8
	segs    []wantSeg
}

// check parses out strictly and checks it against w and RFC 8216 rules.
func check(t *testing.T, out []byte, w want) {
	t.Helper()
	pl, lt, err := m3u8.DecodeFrom(bytes.NewReader(out), true)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	p, ok := pl.(*m3u8.MediaPlaylist)
	if !ok || lt != m3u8.MEDIA {
		t.Fatalf("not a media playlist (%T)\n%s", pl, out)
	}
	segs := p.Segments[:p.Count()]
	if len(segs) != len(w.segs) {
		t.Fatalf("%d segments, want %d\n%s", len(segs), len(w.segs), out)
	}
	gaps := gapFlags(string(out))
	nd := 0
	for i, s := range segs {
		ws := w.segs[i]
		if ws.uri != "" && s.URI != ws.uri {
			t.Errorf("seg %d: URI %q, want %q", i, s.URI, ws.uri)
		}
		if math.Abs(s.Duration-ws.dur) > 1e-9 {
			t.Errorf("seg %d: duration %v, want %v", i, s.Duration, ws.dur)
		}
		if math.Ceil(s.Duration) > p.TargetDuration {
			t.Errorf("seg %d: duration %v above target %v", i, s.Duration, p.TargetDuration)
		}
		if s.Discontinuity != ws.disc {
			t.Errorf("seg %d: discontinuity %v, want %v", i, s.Discontinuity, ws.disc)
		}
		if s.Discontinuity {
			nd++
		}
		if i == 0 || s.Discontinuity {
			if !ws.has {
				t.Errorf("seg %d: test wants no PROGRAM-DATE-TIME where one is required", i)
			}
		}
		switch {
		case ws.has && !s.ProgramDateTime.Equal(time.UnixMilli(t0+ws.pdt)):
			t.Errorf("seg %d: PROGRAM-DATE-TIME %v, want %v", i, s.ProgramDateTime, time.UnixMilli(t0+ws.pdt).UTC())
		case !ws.has && !s.ProgramDateTime.IsZero():
			t.Errorf("seg %d: unexpected PROGRAM-DATE-TIME %v", i, s.ProgramDateTime)
		}
		if gaps[i] != ws.gap {
			t.Errorf("seg %d: gap %v, want %v", i, gaps[i], ws.gap)
		}
	}
	if n := strings.Count(string(out), "#EXT-X-DISCONTINUITY\n"); n != nd {
		t.Errorf("%d DISCONTINUITY tags for %d discontinuous segments (doubled?)", n, nd)
	}
	if p.TargetDuration != w.target {
		t.Errorf("TARGETDURATION %v, want %v", p.TargetDuration, w.target)
	}
	if p.SeqNo != w.seq {
		t.Errorf("MEDIA-SEQUENCE %d, want %d", p.SeqNo, w.seq)
	}
	if p.MediaType != w.typ {
		t.Errorf("PLAYLIST-TYPE %v, want %v", p.MediaType, w.typ)
	}
	if p.Closed != w.closed {
		t.Errorf("ENDLIST %v, want %v", p.Closed, w.closed)
	}
	if got := strings.Contains(string(out), "\n#EXT-X-INDEPENDENT-SEGMENTS\n"); got != w.indep {
		t.Errorf("INDEPENDENT-SEGMENTS %v, want %v", got, w.indep)
	}
	if p.Version() != w.version {
		t.Errorf("VERSION %d, want %d", p.Version(), w.version)
	}
	if strings.Contains(string(out), "DISCONTINUITY-SEQUENCE") {
		t.Error("unexpected DISCONTINUITY-SEQUENCE")
	}
	if len(out) == 0 || out[len(out)-1] != '\n' {
		t.Error("playlist does not end with a newline")
	}
}

// gapFlags reports, per URI line, whether EXT-X-GAP applied to it (the
// parser ignores that tag).
func gapFlags(s string) []bool {
	var flags []bool
	g := false
	for _, l := range strings.Split(s, "\n") {
		switch {
		case l == "#EXT-X-GAP":
			g = true
		case l != "" && l[0] != '#':
			flags = append(flags, g)
			g = false
		}
	}
	return flags
}

func write(t *testing.T, runs []Run, opt Options) []byte {
	t.Helper()
	out, err := Write(nil, runs, opt)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var vod = Options{Type: TypeVOD, Ended: true, TargetDuration: 2 * time.Second}

func TestOneRunVOD(t *testing.T) {
	r := Run{ID: "r0", Entries: []catalog.Entry{
		ent(5, 0, 2000, ind), ent(6, 2000, 2000, ind), ent(7, 4000, 1500, ind),
	}}
	out := write(t, []Run{r}, vod)
	check(t, out, want{seq: 5, target: 2, typ: m3u8.VOD, closed: true, indep: true, version: 3, segs: []wantSeg{
		{uri: "r0/0000000005.ts", dur: 2, has: true},
		{uri: "r0/0000000006.ts", dur: 2},
		{uri: "r0/0000000007.ts", dur: 1.5},
	}})
	const head = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n" +
		"#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:15:00.123Z\n#EXTINF:2.000,\nr0/0000000005.ts\n"
	if !strings.HasPrefix(string(out), head) || !strings.HasSuffix(string(out), "#EXTINF:1.500,\nr0/0000000007.ts\n#EXT-X-ENDLIST\n") {
		t.Errorf("unexpected text:\n%s", out)
	}
}

func TestTwoRuns(t *testing.T) {
	runs := []Run{seqRun("a", 10, 0, 2, 2000), {ID: "empty"}, seqRun("b", 0, 60_000, 3, 2000)}
	out := write(t, runs, vod)
	check(t, out, want{seq: 10, target: 2, typ: m3u8.VOD, closed: true, indep: true, version: 3, segs: []wantSeg{
		{uri: "a/0000000010.ts", dur: 2, has: true},
		{uri: "a/0000000011.ts", dur: 2},
		{uri: "b/0000000000.ts", dur: 2, disc: true, has: true, pdt: 60_000},
		{uri: "b/0000000001.ts", dur: 2},
		{uri: "b/0000000002.ts", dur: 2},
	}})
}

func TestEventLive(t *testing.T) {
	runs := []Run{seqRun("r", 1, 0, 2, 2000)}
	out := write(t, runs, Options{Type: TypeEvent, TargetDuration: 2 * time.Second})
	check(t, out, want{seq: 1, target: 2, typ: m3u8.EVENT, indep: true, version: 3, segs: []wantSeg{
		{dur: 2, has: true}, {dur: 2},
	}})
	out = write(t, runs, Options{TargetDuration: 2 * time.Second}) // live sliding
	check(t, out, want{seq: 1, target: 2, indep: true, version: 3, segs: []wantSeg{
		{dur: 2, has: true}, {dur: 2},
	}})
	if strings.Contains(string(out), "PLAYLIST-TYPE") {
		t.Error("live playlist has a PLAYLIST-TYPE")
	}
}

func TestDiscontinuityInsideRun(t *testing.T) {
	r := seqRun("r", 1, 0, 4, 2000)
	r.Entries[0].Flags |= disc // first of the playlist: nothing to mark
	r.Entries[2].Flags |= disc
	r.Entries[2].StartMS += 500
	check(t, write(t, []Run{r}, vod), want{seq: 1, target: 2, typ: m3u8.VOD, closed: true, indep: true, version: 3, segs: []wantSeg{
		{dur: 2, has: true}, {dur: 2}, {dur: 2, disc: true, has: true, pdt: 4500}, {dur: 2},
	}})
}

func TestHoles(t *testing.T) {
	r := Run{ID: "r", Entries: []catalog.Entry{
		ent(1, 0, 2000, ind),
		ent(2, 2000, 2000, ind),
		ent(5, 10_000, 2000, ind),                  // seq jump
		ent(6, 13_000, 2000, ind|gap|disc),         // recorder: media lost before, seq kept
		ent(9, 30_000, 2000, ind|gap|disc),         // both: still one DISCONTINUITY
		ent(10, 32_000, 2000, ind|catalog.FlagGap), // gap alone
	}}
	check(t, write(t, []Run{r}, vod), want{seq: 1, target: 2, typ: m3u8.VOD, closed: true, indep: true, version: 3, segs: []wantSeg{
		{uri: "r/0000000001.ts", dur: 2, has: true},
		{uri: "r/0000000002.ts", dur: 2},
		{uri: "r/0000000005.ts", dur: 2, disc: true, has: true, pdt: 10_000},
		{uri: "r/0000000006.ts", dur: 2, disc: true, has: true, pdt: 13_000},
		{uri: "r/0000000009.ts", dur: 2, disc: true, has: true, pdt: 30_000},
		{uri: "r/0000000010.ts", dur: 2, disc: true, has: true, pdt: 32_000},
	}})
}

func TestUseGap(t *testing.T) {
	r := Run{ID: "r", Entries: []catalog.Entry{
		ent(1, 0, 2000, ind),
		ent(2, 2000, 2000, ind),
		ent(5, 7000, 2000, ind|gap|disc), // 3 s hole for 2 missing segments
		ent(6, 9000, 2000, ind|gap),      // gap without missing seqs: discontinuity only
		ent(8, 11_000, 2000, ind),        // no wall-clock hole: shortest placeholder
		ent(11, 100_000, 2000, ind),      // long hole: placeholders capped at the target
	}}
	opt := vod
	opt.UseGap = true
	check(t, write(t, []Run{r}, opt), want{seq: 1, target: 2, typ: m3u8.VOD, closed: true, indep: true, version: 8, segs: []wantSeg{
		{uri: "r/0000000001.ts", dur: 2, has: true},
		{uri: "r/0000000002.ts", dur: 2},
		{uri: "r/0000000003.ts", dur: 1.5, gap: true},
		{uri: "r/0000000004.ts", dur: 1.5, gap: true},
		{uri: "r/0000000005.ts", dur: 2, disc: true, has: true, pdt: 7000},
		{uri: "r/0000000006.ts", dur: 2, disc: true, has: true, pdt: 9000},
		{uri: "r/0000000007.ts", dur: 0.001, gap: true},
		{uri: "r/0000000008.ts", dur: 2, disc: true, has: true, pdt: 11_000},
		{uri: "r/0000000009.ts", dur: 2, gap: true},
		{uri: "r/0000000010.ts", dur: 2, gap: true},
		{uri: "r/0000000011.ts", dur: 2, disc: true, has: true, pdt: 100_000},
	}})

	// A hole too large for placeholders is only a discontinuity (and no GAP
	// means version 3).
	r = Run{ID: "r", Entries: []catalog.Entry{ent(1, 0, 2000, ind), ent(MaxGapSegments+3, 2000, 2000, ind)}}
	check(t, write(t, []Run{r}, opt), want{seq: 1, target: 2, typ: m3u8.VOD, closed: true, indep: true, version: 3, segs: []wantSeg{
		{dur: 2, has: true}, {dur: 2, disc: true, has: true, pdt: 2000},
	}})
}

func TestNotIndependent(t *testing.T) {
	r := seqRun("r", 1, 0, 3, 2000)
	r.Entries[1].Flags &^= ind
	check(t, write(t, []Run{r}, vod), want{seq: 1, target: 2, typ: m3u8.VOD, closed: true, version: 3, segs: []wantSeg{
		{dur: 2, has: true}, {dur: 2}, {dur: 2},
	}})
}

// NoIndependent keeps the tag out even when every segment is independent.
func TestNoIndependent(t *testing.T) {
	opt := Options{Type: TypeEvent, TargetDuration: 2 * time.Second, NoIndependent: true}
	check(t, write(t, []Run{seqRun("r", 1, 0, 2, 2000)}, opt), want{seq: 1, target: 2, typ: m3u8.EVENT, version: 3, segs: []wantSeg{
		{dur: 2, has: true}, {dur: 2},
	}})
}

func TestTargetDuration(t *testing.T) {
	// 2.0005 s prints as 2.001, so the target rounds up to 3.
	r := Run{ID: "r", Entries: []catalog.Entry{ent(1, 0, 2000, ind), {Seq: 2, StartMS: t0 + 2000, Duration: 180_045, Flags: ind}}}
	check(t, write(t, []Run{r}, vod), want{seq: 1, target: 3, typ: m3u8.VOD, closed: true, indep: true, version: 3, segs: []wantSeg{
		{dur: 2, has: true}, {dur: 2.001},
	}})
	// The configured target is a minimum.
	opt := vod
	opt.TargetDuration = 3500 * time.Millisecond
	check(t, write(t, []Run{seqRun("r", 1, 0, 1, 2000)}, opt), want{seq: 1, target: 4, typ: m3u8.VOD, closed: true, indep: true, version: 3, segs: []wantSeg{
		{dur: 2, has: true},
	}})
}

func TestEmpty(t *testing.T) {
	for _, runs := range [][]Run{nil, {{ID: "r"}, {ID: "s"}}} {
		check(t, write(t, runs, vod), want{target: 2, typ: m3u8.VOD, closed: true, version: 3})
		check(t, write(t, runs, Options{Type: TypeEvent}), want{target: 1, typ: m3u8.EVENT, version: 3})
	}
}

func TestCustomURI(t *testing.T) {
	opt := vod
	opt.SegmentURI = func(run string, seq uint64) string {
		return "https://cdn.example/" + run + "/" + DefaultURI("seg", seq) + "?sig=x"
	}
	check(t, write(t, []Run{seqRun("r", 7, 0, 1, 2000)}, opt), want{seq: 7, target: 2, typ: m3u8.VOD, closed: true, indep: true, version: 3, segs: []wantSeg{
		{uri: "https://cdn.example/r/seg/0000000007.ts?sig=x", dur: 2, has: true},
	}})
}

func TestDefaultURI(t *testing.T) {
	for seq, want := range map[uint64]string{0: "r/0000000000.ts", 42: "r/0000000042.ts", 12345678901: "r/12345678901.ts"} {
		if got := DefaultURI("r", seq); got != want {
			t.Errorf("DefaultURI(r, %d) = %q, want %q", seq, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	good := []Run{seqRun("r", 1, 0, 2, 2000)}
	uri := func(u string) func(string, uint64) string { return func(string, uint64) string { return u } }
	for name, c := range map[string]struct {
		runs []Run
		opt  Options
	}{
		"type":          {good, Options{Type: "vod", Ended: true}},
		"vod not ended": {good, Options{Type: TypeVOD}},
		"seq order":     {[]Run{{ID: "r", Entries: []catalog.Entry{ent(2, 0, 2000, ind), ent(2, 2000, 2000, ind)}}}, vod},
		"empty uri":     {good, Options{SegmentURI: uri("")}},
		"newline uri":   {good, Options{SegmentURI: uri("a\n#EXT-X-ENDLIST")}},
		"comment uri":   {good, Options{SegmentURI: uri("#a")}},
		"run id":        {[]Run{seqRun("a\rb", 1, 0, 1, 2000)}, vod},
		"date":          {[]Run{{ID: "r", Entries: []catalog.Entry{{Seq: 1, StartMS: math.MaxInt64, Duration: 1}}}}, vod},
	} {
		dst := []byte("keep")
		out, err := Write(dst, c.runs, c.opt)
		if err == nil {
			t.Errorf("%s: no error:\n%s", name, out)
		} else if string(out) != "keep" {
			t.Errorf("%s: dst changed on error: %q", name, out)
		}
	}
}

func TestAppends(t *testing.T) {
	out := write(t, []Run{seqRun("r", 1, 0, 2, 2000)}, vod)
	got, err := Write([]byte("x"), []Run{seqRun("r", 1, 0, 2, 2000)}, vod)
	if err != nil || string(got) != "x"+string(out) {
		t.Fatalf("Write did not append: %q, %v", got, err)
	}
}

// day is 24 h of 2 s segments in one run, as the benchmark uses.
func day() []Run { return []Run{seqRun("r0", 1, 0, 43_200, 2000)} }

func TestDaySize(t *testing.T) {
	out := write(t, day(), vod)
	if len(out) >= 3<<20 {
		t.Errorf("24 h playlist is %d bytes", len(out))
	}
	t.Logf("24 h playlist: %d bytes", len(out))
	pl, _, err := m3u8.DecodeFrom(bytes.NewReader(out), true)
	if err != nil {
		t.Fatal(err)
	}
	if n := pl.(*m3u8.MediaPlaylist).Count(); n != 43_200 {
		t.Errorf("%d segments", n)
	}
}

func TestAllocs(t *testing.T) {
	runs := day()
	dst := make([]byte, 0, 2<<20)
	if n := testing.AllocsPerRun(5, func() {
		if _, err := Write(dst[:0], runs, vod); err != nil {
			t.Fatal(err)
		}
	}); n > 0 {
		t.Errorf("%v allocations with default URIs into a large enough dst", n)
	}
}

func BenchmarkWrite24h(b *testing.B) {
	runs := day()
	bench := func(b *testing.B, opt Options, reuse bool) {
		b.ReportAllocs()
		var dst []byte
		for b.Loop() {
			out, err := Write(dst, runs, opt)
			if err != nil {
				b.Fatal(err)
			}
			if reuse {
				dst = out[:0]
			}
			b.SetBytes(int64(len(out)))
		}
	}
	b.Run("fresh", func(b *testing.B) { bench(b, vod, false) })
	b.Run("reuse", func(b *testing.B) { bench(b, vod, true) })
	custom := vod
	custom.SegmentURI = DefaultURI
	b.Run("func-uri", func(b *testing.B) { bench(b, custom, false) })
}

// FuzzWrite checks that any index a run could hold gives a playlist the
// parser accepts, with the required tags where they belong.
func FuzzWrite(f *testing.F) {
	f.Add([]byte{0, 2, 200, 1, 1, 3, 2, 0, 250}, true)
	f.Add([]byte{1, 5, 7, 0, 9, 1, 1, 1, 1, 1, 1}, false)
	f.Fuzz(func(t *testing.T, data []byte, useGap bool) {
		// A few hundred entries reach every case; longer inputs only make
		// the m3u8 decoder's work grow (with gaps, several segments per
		// entry), and a fuzz worker stalls on them.
		data = data[:min(len(data), 3*300)]
		// Each 3 bytes: seq step (0: new run), flags, duration in 20 ms units.
		var runs []Run
		seq, at := uint64(0), int64(0)
		n := 0
		for i := 0; i+2 < len(data); i += 3 {
			if len(runs) == 0 || data[i] == 0 {
				runs = append(runs, Run{ID: "r" + string(rune('a'+len(runs)%26))})
			}
			seq += uint64(data[i]%8) + 1
			ms := uint32(data[i+2]) * 20
			last := &runs[len(runs)-1]
			last.Entries = append(last.Entries, catalog.Entry{Seq: seq, StartMS: t0 + at, Duration: ms * 90, Flags: catalog.Flags(data[i+1] & 7)})
			at += int64(ms) + int64(data[i+1]>>3)*100
			n++
		}
		out, err := Write(nil, runs, Options{Type: TypeEvent, Ended: true, TargetDuration: 2 * time.Second, UseGap: useGap})
		if err != nil {
			t.Fatal(err)
		}
		pl, _, err := m3u8.DecodeFrom(bytes.NewReader(out), true)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		p := pl.(*m3u8.MediaPlaylist)
		segs := p.Segments[:p.Count()]
		if len(segs) < n || (!useGap && len(segs) != n) {
			t.Fatalf("%d segments for %d entries", len(segs), n)
		}
		for i, s := range segs {
			if math.Ceil(s.Duration) > p.TargetDuration {
				t.Fatalf("seg %d: %v above target %v", i, s.Duration, p.TargetDuration)
			}
			if (i == 0 || s.Discontinuity) && s.ProgramDateTime.IsZero() {
				t.Fatalf("seg %d: no PROGRAM-DATE-TIME", i)
			}
		}
		if !useGap { // the pieces vodapi builds playlists from give the same bytes
			rng := rand.New(rand.NewPCG(uint64(len(data)), 1))
			if got := inPieces(t, rng, runs, Options{Type: TypeEvent, Ended: true, TargetDuration: 2 * time.Second}); !bytes.Equal(got, out) {
				t.Fatalf("pieces differ from Write:\n%s\nwant:\n%s", got, out)
			}
		}
	})
}
