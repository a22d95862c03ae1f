package vodapi

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"
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
// by q, then in our order.
func accepted(accept string) []string {
	if accept == "" {
		return nil
	}
	q := map[string]float64{}
	for _, part := range strings.Split(accept, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		v := 1.0
		if p, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(p, 64); err == nil {
				v = f
			}
		}
		q[name] = v
	}
	var out []string
	var qs []float64
	for _, c := range codings {
		v, ok := q[c]
		if !ok {
			v, ok = q["*"]
		}
		if !ok || v <= 0 {
			continue
		}
		i := len(out)
		for i > 0 && qs[i-1] < v { // stable: ties keep our order
			i--
		}
		out = slices.Insert(out, i, c)
		qs = slices.Insert(qs, i, v)
	}
	return out
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
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	case "br":
		w := brotli.NewWriterLevel(&buf, 6)
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("brotli: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("brotli: %w", err)
		}
	case "zstd":
		return zstdEncoder.EncodeAll(body, make([]byte, 0, len(body)/4)), nil
	default:
		return nil, fmt.Errorf("unknown coding %q", coding)
	}
	return buf.Bytes(), nil
}
