package store

import (
	"errors"
	"fmt"
	"path"
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

// ValidPart reports whether name can be one part of a key. A listing uses it to
// skip directory entries that no valid key maps to (temp files included).
func ValidPart(name string) bool {
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

// ValidateList checks the arguments of a List call, for backends.
func ValidateList(prefix string, opts ListOptions) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	if err := validateMarker("StartAfter", opts.StartAfter); err != nil {
		return err
	}
	if err := validateMarker("Delimiter", opts.Delimiter); err != nil {
		return err
	}
	if opts.MaxKeys < 0 {
		return fmt.Errorf("negative MaxKeys %d", opts.MaxKeys)
	}
	return nil
}

// CheckRange refuses ranges that are wrong whatever the object size.
func CheckRange(rng *Range) error {
	if rng != nil && (rng.Offset < 0 || rng.Length == 0) {
		return fmt.Errorf("%w: offset %d, length %d", ErrInvalidRange, rng.Offset, rng.Length)
	}
	return nil
}

// NormalizePrefix turns "a/b" or "a/b/" into "a/b/" and "" or "/" into "".
func NormalizePrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if err := ValidateKey(p); err != nil {
		return "", fmt.Errorf("prefix: %w", err)
	}
	return p + "/", nil
}

// ContentTypeFor infers a content type from the key's extension; the FS
// store stores none, and S3 Put uses it when none is given.
func ContentTypeFor(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".ts":
		return "video/mp2t"
	case ".json":
		return "application/json"
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".mp4":
		return "video/mp4"
	case ".jpg":
		return "image/jpeg"
	case ".vtt":
		return "text/vtt"
	}
	return "application/octet-stream"
}
