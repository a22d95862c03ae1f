package vodapi

import (
	"errors"
	"strconv"
	"strings"
)

// maxRangeHeader bounds the Range header we parse; a longer one is ignored
// (the whole object) before any work.
const maxRangeHeader = 256

var errBadRange = errors.New("range not satisfiable")

// checkRange decides what to do with a Range header for an object of size
// bytes (RFC 9110 14.1.2, 14.2): serve it as asked (single range, left to
// http.ServeContent), serve the whole object (no header, another unit, or
// several ranges: a server may ignore Range, and answering many ranges
// multipart is a cheap way to make us do a lot of work), or refuse it with
// 416 (bad syntax, or a range that selects nothing, such as bytes=-0 or a
// start at or past the end).
func checkRange(header string, size int64) (whole bool, err error) {
	if header == "" {
		return true, nil
	}
	if len(header) > maxRangeHeader {
		return true, nil
	}
	unit, set, ok := strings.Cut(header, "=")
	if !ok {
		return false, errBadRange
	}
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return true, nil // a unit we don't serve must be ignored
	}
	specs := strings.Split(set, ",")
	for _, spec := range specs {
		if !satisfiable(strings.TrimSpace(spec), size) {
			return false, errBadRange
		}
	}
	return len(specs) > 1, nil
}

// satisfiable reports whether one range-spec is well formed and selects at
// least one byte of size.
func satisfiable(spec string, size int64) bool {
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return false
	}
	if first == "" { // suffix: the last n bytes; n = 0 selects nothing
		n, ok := digits(last)
		return ok && n > 0 && size > 0
	}
	start, ok := digits(first)
	if !ok || start >= size {
		return false
	}
	if last == "" {
		return true
	}
	end, ok := digits(last)
	return ok && end >= start
}

// digits parses a non-empty run of ASCII digits (no sign, no spaces).
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
