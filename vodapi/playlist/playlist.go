// Package playlist writes HLS media playlists (RFC 8216) from catalog index
// entries. It is a pure function of its input: the caller reads the index,
// picks the window and serves, compresses and caches the bytes.
package playlist

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// Playlist types (EXT-X-PLAYLIST-TYPE). The empty type is a live sliding
// playlist, which has no tag.
const (
	TypeVOD   = "VOD"
	TypeEvent = "EVENT"
)

// MaxGapSegments bounds the EXT-X-GAP placeholders written for one hole in a
// run's sequence numbers; a larger hole (or corrupt index) gets only a
// discontinuity, so that bad data cannot blow up the playlist.
const MaxGapSegments = 1024

// Run is one run's part of a playlist.
type Run struct {
	ID      string          // run id, passed to Options.SegmentURI
	Entries []catalog.Entry // the run's segments inside the window, Seq strictly increasing
}

// Options control Write.
type Options struct {
	Type  string // TypeVOD, TypeEvent or "" (live sliding: no PLAYLIST-TYPE)
	Ended bool   // write EXT-X-ENDLIST; required with TypeVOD

	// SegmentURI returns the URI of segment seq of run: the caller decides
	// (relative path, CDN base, signed query). It must be non-empty, must not
	// start with '#' and must not hold a line break. Nil means DefaultURI,
	// which is also the fastest (it appends without allocating).
	SegmentURI func(run string, seq uint64) string

	// TargetDuration is the minimum EXT-X-TARGETDURATION (the runs'
	// configured target); the value written is the larger of it and the
	// longest segment, both rounded up to whole seconds, and at least 1.
	TargetDuration time.Duration

	// NoIndependent never writes EXT-X-INDEPENDENT-SEGMENTS. A playlist
	// that can still grow must: the tag covers every segment, those still to
	// come included, and a live playlist may not drop it later (RFC 8216
	// 6.2.1), so it cannot be promised before the last cut is known.
	NoIndependent bool

	// UseGap fills a hole in a run's sequence numbers with one EXT-X-GAP
	// placeholder per missing segment (version 8), so that media sequence
	// numbers keep matching Seq; without it the hole is only a discontinuity.
	UseGap bool
}

// DefaultURI is "{run}/{seq:010d}.ts", relative to the playlist.
func DefaultURI(run string, seq uint64) string {
	return string(appendDefaultURI(make([]byte, 0, len(run)+14), run, seq))
}

func appendDefaultURI(dst []byte, run string, seq uint64) []byte {
	dst = append(dst, run...)
	dst = append(dst, '/')
	for d := uint64(1_000_000_000); d > 1 && seq < d; d /= 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, ".ts"...)
}

// Write appends to dst the media playlist of runs, in order, and returns the
// extended buffer; on error dst is returned unchanged.
//
// Layout: a DISCONTINUITY between runs, before an entry flagged
// discontinuity or gap, and after a hole in Seq (never two in a row);
// PROGRAM-DATE-TIME (the entry's StartMS) on the first segment and on every
// segment after a discontinuity. INDEPENDENT-SEGMENTS when every entry is
// flagged independent, unless NoIndependent.
//
// Media sequence numbers are the playlist position counted from the first
// entry's Seq: for one run without holes (or with UseGap) they equal Seq;
// the segments of later runs are numbered consecutively after the previous
// ones, so numbers stay unique and increasing. They are only stable while the
// window's first segment is, so a live sliding window should cover a single
// run. No DISCONTINUITY-SEQUENCE is written (it is 0): the playlist starts
// at the first run of the window.
func Write(dst []byte, runs []Run, opt Options) ([]byte, error) {
	n0 := len(dst)
	dst, s, err := writeHead(dst, runs, opt)
	if err != nil {
		return dst, err
	}
	target := s.target

	w := writer{dst: dst, uri: opt.SegmentURI, left: s.segs}
	first := true
	for _, r := range runs {
		if len(r.Entries) == 0 {
			continue
		}
		if w.uri == nil {
			if err := checkURI(r.ID); err != nil {
				return dst[:n0], fmt.Errorf("playlist: run id %q: %w", r.ID, err)
			}
		}
		var prev catalog.Entry
		for i, e := range r.Entries {
			disc := !first && i == 0 // run boundary
			if i > 0 {
				missing := e.Seq - prev.Seq - 1
				disc = missing > 0 || e.Flags&(catalog.FlagDiscontinuity|catalog.FlagGap) != 0
				if opt.UseGap && missing > 0 && missing <= MaxGapSegments {
					if err := w.gaps(r.ID, prev, e, missing, target*1000); err != nil {
						return dst[:n0], err
					}
				}
			}
			if disc {
				w.dst = append(w.dst, "#EXT-X-DISCONTINUITY\n"...)
			}
			if disc || first {
				if err := w.pdt(e.StartMS); err != nil {
					return dst[:n0], err
				}
			}
			first = false
			if err := w.segment(r.ID, e.Seq, durMS(e.Duration)); err != nil {
				return dst[:n0], err
			}
			prev = e
		}
	}
	if opt.Ended {
		w.dst = append(w.dst, "#EXT-X-ENDLIST\n"...)
	}
	return w.dst, nil
}

// writeHead checks runs and opt and appends the header.
func writeHead(dst []byte, runs []Run, opt Options) ([]byte, summary, error) {
	switch opt.Type {
	case "", TypeEvent:
	case TypeVOD:
		if !opt.Ended {
			return dst, summary{}, errors.New("playlist: a VOD playlist must be ended")
		}
	default:
		return dst, summary{}, fmt.Errorf("playlist: type %q is neither %q, %q nor empty", opt.Type, TypeVOD, TypeEvent)
	}
	s, err := scan(runs, opt.UseGap)
	if err != nil {
		return dst, s, err
	}

	target := (s.maxMS + 999) / 1000
	if opt.TargetDuration > 0 {
		target = max(target, uint64((opt.TargetDuration+time.Second-1)/time.Second))
	}
	target = max(target, 1) // 0 would have live players reload in a loop
	s.target = target

	dst = slices.Grow(dst, 256) // header and first segment; segment() sizes the rest
	dst = append(dst, "#EXTM3U\n#EXT-X-VERSION:"...)
	if s.gap {
		dst = append(dst, "8\n"...) // EXT-X-GAP
	} else {
		dst = append(dst, "3\n"...) // decimal EXTINF
	}
	dst = append(dst, "#EXT-X-TARGETDURATION:"...)
	dst = strconv.AppendUint(dst, target, 10)
	dst = append(dst, "\n#EXT-X-MEDIA-SEQUENCE:"...)
	dst = strconv.AppendUint(dst, s.firstSeq, 10)
	dst = append(dst, '\n')
	if opt.Type != "" {
		dst = append(dst, "#EXT-X-PLAYLIST-TYPE:"...)
		dst = append(dst, opt.Type...)
		dst = append(dst, '\n')
	}
	if s.segs > 0 && s.independent && !opt.NoIndependent {
		dst = append(dst, "#EXT-X-INDEPENDENT-SEGMENTS\n"...)
	}
	return dst, s, nil
}

// summary is what the header needs to know before any segment is written.
type summary struct {
	firstSeq    uint64
	segs        int    // entries
	maxMS       uint64 // longest EXTINF, in the milliseconds printed
	independent bool   // every entry is
	gap         bool   // an EXT-X-GAP will be written
	target      uint64 // EXT-X-TARGETDURATION, set by writeHead
}

func scan(runs []Run, useGap bool) (summary, error) {
	s := summary{independent: true}
	for ri, r := range runs {
		for i, e := range r.Entries {
			if s.segs == 0 {
				s.firstSeq = e.Seq
			}
			s.segs++
			s.maxMS = max(s.maxMS, durMS(e.Duration))
			if e.Flags&catalog.FlagIndependent == 0 {
				s.independent = false
			}
			if i == 0 {
				continue
			}
			prev := r.Entries[i-1].Seq
			if e.Seq <= prev {
				return s, fmt.Errorf("playlist: run %d (%q): seq %d is not after %d", ri, r.ID, e.Seq, prev)
			}
			if useGap && e.Seq-prev-1 > 0 && e.Seq-prev-1 <= MaxGapSegments {
				s.gap = true
			}
		}
	}
	return s, nil
}

// durMS is a 90 kHz duration in whole milliseconds, rounded to nearest.
func durMS(ticks uint32) uint64 { return (uint64(ticks) + 45) / 90 }

type writer struct {
	dst  []byte
	uri  func(run string, seq uint64) string
	left int // entries still to write, to grow dst once
}

func (w *writer) segment(run string, seq uint64, ms uint64) error {
	start := len(w.dst)
	w.extinf(ms)
	if err := w.appendURI(run, seq); err != nil {
		return err
	}
	w.left--
	if w.left > 0 && cap(w.dst)-len(w.dst) < 64 {
		// Size the rest after the first segment written: one allocation
		// instead of append's doublings. +8 for longer seqs and durations.
		w.dst = slices.Grow(w.dst, w.left*(len(w.dst)-start+8))
	}
	return nil
}

// gaps writes missing EXT-X-GAP placeholders for the hole between prev and
// next, sharing its wall-clock span, each capped at the target duration.
func (w *writer) gaps(run string, prev, next catalog.Entry, missing, capMS uint64) error {
	per := uint64(1)
	if hole := next.StartMS - prev.EndMS(); hole > 0 {
		per = max(uint64(hole)/missing, 1)
	}
	per = min(per, capMS)
	for seq := prev.Seq + 1; seq < next.Seq; seq++ {
		w.dst = append(w.dst, "#EXT-X-GAP\n"...)
		if err := w.segment(run, seq, per); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) extinf(ms uint64) {
	w.dst = append(w.dst, "#EXTINF:"...)
	w.dst = strconv.AppendUint(w.dst, ms/1000, 10)
	f := ms % 1000
	w.dst = append(w.dst, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10), ',', '\n')
}

func (w *writer) appendURI(run string, seq uint64) error {
	if w.uri == nil {
		w.dst = appendDefaultURI(w.dst, run, seq)
	} else {
		u := w.uri(run, seq)
		if err := checkURI(u); err != nil {
			return fmt.Errorf("playlist: URI %q of run %q seq %d: %w", u, run, seq, err)
		}
		w.dst = append(w.dst, u...)
	}
	w.dst = append(w.dst, '\n')
	return nil
}

// checkURI refuses what would not read back as one URI line.
func checkURI(u string) error {
	switch {
	case u == "":
		return errors.New("empty")
	case u[0] == '#':
		return errors.New("starts with #")
	case strings.IndexByte(u, '\n') >= 0 || strings.IndexByte(u, '\r') >= 0:
		return errors.New("holds a line break")
	}
	return nil
}

// PROGRAM-DATE-TIME is RFC 3339; keep to years 0000-9999 so it parses.
const (
	minPDT = -62167219200000 // 0000-01-01T00:00:00Z
	maxPDT = 253402300799999 // 9999-12-31T23:59:59.999Z
)

func (w *writer) pdt(ms int64) error {
	if ms < minPDT || ms > maxPDT {
		return fmt.Errorf("playlist: start %d ms is out of range", ms)
	}
	w.dst = append(w.dst, "#EXT-X-PROGRAM-DATE-TIME:"...)
	w.dst = time.UnixMilli(ms).UTC().AppendFormat(w.dst, "2006-01-02T15:04:05.000Z07:00")
	w.dst = append(w.dst, '\n')
	return nil
}

// Pieces. Write's output can also be produced in pieces, so that the lines
// of a sealed index chunk are rendered (and compressed) once and reused:
// WriteHead, then for every run WriteSegments of its first entry with
// LeadFirst or LeadRun and of each later stretch with LeadAfter (the entry
// before it), then "#EXT-X-ENDLIST\n" if ended. UseGap is not supported
// in pieces (its placeholders depend on the header's target duration).

// Lead says how the first entry of a WriteSegments call begins.
type Lead int

const (
	LeadFirst Lead = iota // first segment of the playlist: PROGRAM-DATE-TIME
	LeadRun               // first segment of a later run: DISCONTINUITY, PROGRAM-DATE-TIME
	LeadAfter             // follows prev in the same run
)

// EndList is the last line of an ended playlist.
const EndList = "#EXT-X-ENDLIST\n"

// WriteHead appends the header Write would write for runs and opt (which
// must not set UseGap), checking runs as Write does.
func WriteHead(dst []byte, runs []Run, opt Options) ([]byte, error) {
	if opt.UseGap {
		return dst, errors.New("playlist: UseGap is not supported in pieces")
	}
	var err error
	dst, _, err = writeHead(dst, runs, opt)
	return dst, err
}

// WriteSegments appends the lines of entries of run, the first beginning as
// lead says (prev is the entry before it with LeadAfter), exactly as Write
// writes them inside a playlist.
func WriteSegments(dst []byte, run string, lead Lead, prev catalog.Entry, entries []catalog.Entry, uri func(run string, seq uint64) string) ([]byte, error) {
	n0 := len(dst)
	if uri == nil {
		if err := checkURI(run); err != nil {
			return dst, fmt.Errorf("playlist: run id %q: %w", run, err)
		}
	}
	w := writer{dst: dst, uri: uri, left: len(entries)}
	for i, e := range entries {
		var disc, pdt bool
		switch {
		case i > 0 || lead == LeadAfter:
			if e.Seq <= prev.Seq {
				return dst[:n0], fmt.Errorf("playlist: run %q: seq %d is not after %d", run, e.Seq, prev.Seq)
			}
			disc = e.Seq-prev.Seq-1 > 0 || e.Flags&(catalog.FlagDiscontinuity|catalog.FlagGap) != 0
			pdt = disc
		default:
			disc, pdt = lead == LeadRun, true
		}
		if disc {
			w.dst = append(w.dst, "#EXT-X-DISCONTINUITY\n"...)
		}
		if pdt {
			if err := w.pdt(e.StartMS); err != nil {
				return dst[:n0], err
			}
		}
		if err := w.segment(run, e.Seq, durMS(e.Duration)); err != nil {
			return dst[:n0], err
		}
		prev = e
	}
	return w.dst, nil
}
