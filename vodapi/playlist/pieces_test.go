package playlist

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/rewind-vod/rewind/catalog"
)

// randomRuns is 1-3 runs with holes in Seq, discontinuity flags and
// non-independent entries, from rng.
func randomRuns(rng *rand.Rand) []Run {
	var runs []Run
	at := int64(0)
	for r := range 1 + rng.IntN(3) {
		run := Run{ID: string(rune('a'+r)) + "-run"}
		seq := uint64(rng.IntN(5))
		for range rng.IntN(40) {
			f := ind
			switch rng.IntN(10) {
			case 0:
				f |= disc
			case 1:
				f = 0
			case 2:
				seq += uint64(1 + rng.IntN(3)) // a hole
			}
			ms := uint32(1500 + rng.IntN(1000))
			run.Entries = append(run.Entries, ent(seq, at, ms, f))
			seq++
			at += int64(ms)
		}
		runs = append(runs, run)
	}
	return runs
}

// inPieces writes runs as vodapi composes them: the head, each run's first
// entry, then its other entries cut into stretches at random points.
func inPieces(t *testing.T, rng *rand.Rand, runs []Run, opt Options) []byte {
	t.Helper()
	out, err := WriteHead(nil, runs, opt)
	if err != nil {
		t.Fatal(err)
	}
	lead := LeadFirst
	for _, r := range runs {
		if len(r.Entries) == 0 {
			continue
		}
		if out, err = WriteSegments(out, r.ID, lead, catalog.Entry{}, r.Entries[:1], opt.SegmentURI); err != nil {
			t.Fatal(err)
		}
		lead = LeadRun
		for i := 1; i < len(r.Entries); {
			j := min(len(r.Entries), i+1+rng.IntN(8))
			var piece []byte // each stretch on its own, as a cached fragment is
			if piece, err = WriteSegments(nil, r.ID, LeadAfter, r.Entries[i-1], r.Entries[i:j], opt.SegmentURI); err != nil {
				t.Fatal(err)
			}
			out = append(out, piece...)
			i = j
		}
	}
	if opt.Ended {
		out = append(out, EndList...)
	}
	return out
}

// TestPiecesEqualWrite: the pieces put together are Write's bytes, for
// runs with holes, discontinuities and several runs, every type.
func TestPiecesEqualWrite(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	uris := []func(string, uint64) string{nil, func(run string, seq uint64) string { return "../../" + DefaultURI(run, seq) + "?t=x" }}
	for i := range 500 {
		runs := randomRuns(rng)
		opt := Options{Type: []string{"", TypeEvent, TypeVOD}[i%3], TargetDuration: 2e9, NoIndependent: i%2 == 0, SegmentURI: uris[i%2]}
		opt.Ended = opt.Type == TypeVOD || i%4 == 1
		want, err := Write(nil, runs, opt)
		if err != nil {
			t.Fatal(err)
		}
		if got := inPieces(t, rng, runs, opt); !bytes.Equal(got, want) {
			t.Fatalf("case %d: pieces differ from Write:\n%s\nwant:\n%s", i, got, want)
		}
	}
}

func TestPiecesErrors(t *testing.T) {
	r := seqRun("r", 5, 0, 3, 2000)
	if _, err := WriteSegments(nil, "r", LeadAfter, r.Entries[2], r.Entries[:1], nil); err == nil {
		t.Error("a stretch not after prev was accepted")
	}
	if _, err := WriteHead(nil, []Run{r}, Options{UseGap: true}); err == nil {
		t.Error("UseGap in pieces was accepted")
	}
	if _, err := WriteSegments(nil, "#bad", LeadFirst, catalog.Entry{}, r.Entries, nil); err == nil {
		t.Error("a bad run id was accepted")
	}
}
