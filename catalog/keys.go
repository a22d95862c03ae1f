package catalog

import (
	"fmt"
	"strconv"
)

// Storage keys, relative to the store (the store adds its own prefix). The
// functions do not validate: pass a Stream from NewStream/ParseStream and a
// run id that passed ValidRunID.

// StreamsPrefix is the prefix of every recorded stream.
const StreamsPrefix = "streams/"

const (
	segDigits   = 10
	chunkDigits = 6
	// MaxSeq is the largest segment sequence number that keeps segment keys
	// fixed-width (and therefore sorted); at 2 s per segment it lasts
	// centuries.
	MaxSeq uint64 = 9_999_999_999
	// MaxChunk is the largest index chunk number with a fixed-width key.
	MaxChunk uint64 = 999_999
)

// StreamPrefix is "streams/{app}/{name}/"; listing it with delimiter "/"
// gives the runs.
func StreamPrefix(s Stream) string { return StreamsPrefix + s.App + "/" + s.Name + "/" }

// RunPrefix is "streams/{app}/{name}/{run}/".
func RunPrefix(s Stream, run string) string { return StreamPrefix(s) + run + "/" }

// ManifestKey is the run manifest, ".../{run}/run.json".
func ManifestKey(s Stream, run string) string { return RunPrefix(s, run) + "run.json" }

// SegmentPrefix is ".../{run}/seg/".
func SegmentPrefix(s Stream, run string) string { return RunPrefix(s, run) + "seg/" }

// SegmentKey is ".../{run}/seg/{seq:010d}.ts".
func SegmentKey(s Stream, run string, seq uint64) string {
	return fmt.Sprintf("%s%0*d.ts", SegmentPrefix(s, run), segDigits, seq)
}

// IndexPrefix is ".../{run}/idx/"; listing it gives the index chunks.
func IndexPrefix(s Stream, run string) string { return RunPrefix(s, run) + "idx/" }

// IndexChunkKey is ".../{run}/idx/{chunk:06d}.idx".
func IndexChunkKey(s Stream, run string, chunk uint64) string {
	return fmt.Sprintf("%s%0*d.idx", IndexPrefix(s, run), chunkDigits, chunk)
}

// ParseSegmentName parses the last key part of a segment, "0000000001.ts".
func ParseSegmentName(name string) (uint64, error) {
	n, err := parseFixed(name, segDigits, ".ts")
	if err != nil {
		return 0, fmt.Errorf("invalid segment name %s: %w", quoteTrunc(name), err)
	}
	return n, nil
}

// ParseChunkName parses the last key part of an index chunk, "000001.idx".
func ParseChunkName(name string) (uint64, error) {
	n, err := parseFixed(name, chunkDigits, ".idx")
	if err != nil {
		return 0, fmt.Errorf("invalid index chunk name %s: %w", quoteTrunc(name), err)
	}
	return n, nil
}

// parseFixed parses exactly digits decimal digits followed by ext, so that
// each number has one key only.
func parseFixed(name string, digits int, ext string) (uint64, error) {
	if len(name) != digits+len(ext) || name[digits:] != ext {
		return 0, fmt.Errorf("want %d digits and %q", digits, ext)
	}
	for i := 0; i < digits; i++ {
		if name[i] < '0' || name[i] > '9' {
			return 0, fmt.Errorf("want %d digits and %q", digits, ext)
		}
	}
	return strconv.ParseUint(name[:digits], 10, 64)
}
