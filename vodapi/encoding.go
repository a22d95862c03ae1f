package vodapi

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Content codings we produce, best first when the client accepts several.
var codings = []string{"br", "zstd", "gzip"}

// negotiate picks the content coding for an Accept-Encoding header: the
// best of ours the client accepts with q > 0, else identity ("").
func negotiate(accept string) string {
	if all := accepted(accept); len(all) > 0 {
		return all[0]
	}
	return ""
}

// accepted lists our codings the client accepts with q > 0, best first:
// by q, then in our order. It runs on every playlist request, so it
// parses in place (no map, no split) and shares the one-coding answers.
func accepted(accept string) []string {
	if accept == "" {
		return nil
	}
	// q values of codings[i] and, last, of "*"; later mentions win.
	var q [4]float64
	var have [4]bool
	for rest := accept; ; {
		part, more, found := strings.Cut(rest, ",")
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if i := codingIndex(strings.TrimSpace(name)); i >= 0 {
			v := 1.0
			if p, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
				if f, err := strconv.ParseFloat(p, 64); err == nil {
					v = f
				}
			}
			q[i], have[i] = v, true
		}
		if !found {
			break
		}
		rest = more
	}
	var out [3]int
	var qs [3]float64
	n := 0
	for c := range codings {
		v, ok := q[c], have[c]
		if !ok {
			v, ok = q[3], have[3]
		}
		if !ok || v <= 0 {
			continue
		}
		i := n
		for i > 0 && qs[i-1] < v { // stable: ties keep our order
			out[i], qs[i] = out[i-1], qs[i-1]
			i--
		}
		out[i], qs[i] = c, v
		n++
	}
	switch n {
	case 0:
		return nil
	case 1:
		return codings[out[0] : out[0]+1 : out[0]+1]
	}
	all := make([]string, n)
	for i := range all {
		all[i] = codings[out[i]]
	}
	return all
}

// codingIndex is name's index in codings, len(codings) for "*", or -1;
// case-insensitive as strings.ToLower is.
func codingIndex(name string) int {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			name = strings.ToLower(name) // rare: let Unicode lowering decide
			break
		}
	}
	if name == "*" {
		return len(codings)
	}
	for i, c := range codings {
		if asciiEqualFold(name, c) {
			return i
		}
	}
	return -1
}

// asciiEqualFold compares an ASCII s with the lower-case ASCII lower.
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != lower[i] {
			return false
		}
	}
	return true
}

// brotliQuality: on a 24 h playlist (2.4 MB, bench/replay's body) quality 5
// takes 0.75-0.9x the time of 6 for 0.4 % more bytes (54.2 against 54.0 kB
// written part by part; 55.5 against 60.3 kB in one Write); 4 and below
// lose the context modelling and more than double the size.
const brotliQuality = 5

// gzipLevel is klauspost's level for every gzip we make, whole bodies and
// playlist parts (partFlate): on a chunk's lines 6-7x faster than the
// standard library's best level and smaller (42 chunks of a 24 h
// playlist: 13 ms and 196 kB against 88 ms and 199 kB); its level 5 is
// slower and larger here, 7-9 slower and no smaller but for 9 (-3 %, at
// 75 ms).
const gzipLevel = 6

// brotliWriters keeps encoders for reuse: a new one allocates and clears
// its window and hash tables, about a third of a 24 h playlist's brotli
// time (measured 73 -> 48 ms with Reset).
var brotliWriters = sync.Pool{New: func() any { return brotli.NewWriterLevel(nil, brotliQuality) }}

func getBrotli(dst io.Writer) *brotli.Writer {
	w := brotliWriters.Get().(*brotli.Writer)
	w.Reset(dst)
	return w
}

// putBrotli returns a closed (or flushed and abandoned) encoder.
func putBrotli(w *brotli.Writer) {
	w.Reset(nil)
	brotliWriters.Put(w)
}

var zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))

// compress encodes body with the coding; playlists are compressed once and
// the compressed bytes cached.
func compress(coding string, body []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch coding {
	case "":
		return body, nil
	case "gzip":
		w, _ := gzip.NewWriterLevel(&buf, gzipLevel)
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	case "br":
		w := getBrotli(&buf)
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("brotli: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("brotli: %w", err)
		}
		putBrotli(w)
	case "zstd":
		return zstdEncoder.EncodeAll(body, make([]byte, 0, len(body)/4)), nil
	default:
		return nil, fmt.Errorf("unknown coding %q", coding)
	}
	return buf.Bytes(), nil
}
