package catalog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxPartLen is the longest app or name part of a stream.
const MaxPartLen = 64

// ErrInvalidStream is wrapped by every stream name validation error, so that
// callers can map it to a client error (4xx) with errors.Is.
var ErrInvalidStream = errors.New("invalid stream name")

// Stream identifies a stream as {app}/{name}. Build it with NewStream or
// ParseStream: the parts become storage key segments, so only validated
// values may reach the store.
type Stream struct {
	App  string
	Name string
}

// NewStream validates both parts against [A-Za-z0-9_-]{1,64}.
func NewStream(app, name string) (Stream, error) {
	if err := checkPart("app", app); err != nil {
		return Stream{}, fmt.Errorf("%w %s: %s", ErrInvalidStream, quoteTrunc(app+"/"+name), err)
	}
	if err := checkPart("name", name); err != nil {
		return Stream{}, fmt.Errorf("%w %s: %s", ErrInvalidStream, quoteTrunc(app+"/"+name), err)
	}
	return Stream{App: app, Name: name}, nil
}

// ParseStream parses "app/name".
func ParseStream(s string) (Stream, error) {
	app, name, ok := strings.Cut(s, "/")
	if !ok {
		return Stream{}, fmt.Errorf("%w %s: want app/name", ErrInvalidStream, quoteTrunc(s))
	}
	if strings.Contains(name, "/") {
		return Stream{}, fmt.Errorf("%w %s: want exactly one '/'", ErrInvalidStream, quoteTrunc(s))
	}
	return NewStream(app, name)
}

// String returns "app/name".
func (s Stream) String() string { return s.App + "/" + s.Name }

// Validate reports whether s is a valid stream; useful for a Stream built as a
// struct literal rather than through NewStream.
func (s Stream) Validate() error {
	_, err := NewStream(s.App, s.Name)
	return err
}

// ValidPart reports whether s is a valid app or name part.
func ValidPart(s string) bool { return checkPart("", s) == nil }

func checkPart(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > MaxPartLen {
		return fmt.Errorf("%s is longer than %d characters", what, MaxPartLen)
	}
	for i := 0; i < len(s); i++ {
		if !partChar(s[i]) {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return fmt.Errorf("%s has character %q at offset %d; allowed are A-Z a-z 0-9 _ -", what, r, i)
		}
	}
	return nil
}

func partChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// maxQuoted bounds how much of a rejected input goes into an error message:
// inputs come from clients and must not blow up logs or responses.
const maxQuoted = 140

// quoteTrunc quotes s for an error message, cut to maxQuoted bytes on a rune
// boundary with an ellipsis when longer.
func quoteTrunc(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut] + "…")
}
