package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLen is the longest key accepted, in bytes (the S3 limit).
const MaxKeyLen = 1024

// ErrInvalidRange is returned (wrapped) by Get for a range that selects no
// byte of the object (negative offset, zero length, or offset past the end).
var ErrInvalidRange = errors.New("store: invalid range")

// ValidateKey checks that key is a plain relative object key: non-empty
// slash-separated parts, none of them empty, "." or "..", no backslash or
// control character, valid UTF-8, at most MaxKeyLen bytes. The error wraps
// ErrInvalidKey. A key that passes can be joined to a directory safely.
func ValidateKey(key string) error {
	if key == "" {
		return invalidKey(key, "empty")
	}
	if strings.HasSuffix(key, "/") {
		return invalidKey(key, "trailing '/'")
	}
	return checkPath(key)
}

// validatePrefix checks a List prefix: "" (everything) or a key, optionally
// ending with '/'. Without the trailing '/', the last part is a partial part,
// so "." and ".." are fine there ("a/." may match "a/.hidden").
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if strings.HasSuffix(prefix, "/") {
		if prefix == "/" {
			return invalidKey(prefix, "leading '/'")
		}
		return checkPath(strings.TrimSuffix(prefix, "/"))
	}
	if err := checkChars(prefix); err != nil {
		return err
	}
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		return checkPath(prefix[:i])
	}
	return nil
}

// validateMarker checks strings that are only compared, never turned into a
// path (StartAfter, Delimiter): they must still travel in an S3 request.
func validateMarker(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidKey, what)
	}
	if len(s) > MaxKeyLen {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalidKey, what, MaxKeyLen)
	}
	return nil
}

// checkPath validates a non-empty key without trailing '/'.
func checkPath(key string) error {
	if err := checkChars(key); err != nil {
		return err
	}
	if strings.HasPrefix(key, "/") {
		return invalidKey(key, "leading '/'")
	}
	for part := range strings.SplitSeq(key, "/") {
		switch part {
		case "":
			return invalidKey(key, "empty part")
		case ".", "..":
			return invalidKey(key, "'.' or '..' part")
		}
	}
	return nil
}

// checkChars validates length and characters only.
func checkChars(key string) error {
	if len(key) > MaxKeyLen {
		return invalidKey(key, fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	}
	if !utf8.ValidString(key) {
		return invalidKey(key, "not valid UTF-8")
	}
	for _, r := range key {
		if r == '\\' {
			return invalidKey(key, "backslash")
		}
		if unicode.IsControl(r) {
			return invalidKey(key, "control character")
		}
	}
	return nil
}

// validPart reports whether name can be one part of a key. List uses it to
// skip directory entries that no valid key maps to (temp files included).
func validPart(name string) bool {
	return name != "" && name != "." && name != ".." &&
		!strings.Contains(name, "/") && checkChars(name) == nil
}

func invalidKey(key, why string) error {
	const maxShown = 80 // keep error messages readable for huge keys
	if len(key) > maxShown {
		key = key[:maxShown] + "..."
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why)
}
