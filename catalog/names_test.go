package catalog

import (
	"errors"
	"strings"
	"testing"
)

func TestNewStream(t *testing.T) {
	s, err := NewStream("live", "Main_cam-2")
	if err != nil {
		t.Fatal(err)
	}
	if s.String() != "live/Main_cam-2" {
		t.Fatalf("String() = %q", s.String())
	}
	long := strings.Repeat("a", MaxPartLen)
	if _, err := NewStream(long, long); err != nil {
		t.Fatalf("64-char parts refused: %v", err)
	}
	for _, c := range []struct{ app, name string }{
		{"", "x"}, {"x", ""}, {long + "a", "x"}, {"x", long + "a"},
		{"a/b", "c"}, {"a", "b c"}, {"..", "x"}, {"a", "é"}, {"a.b", "c"}, {"a", "b\x00"},
	} {
		_, err := NewStream(c.app, c.name)
		if err == nil {
			t.Errorf("NewStream(%q, %q) accepted", c.app, c.name)
			continue
		}
		if !errors.Is(err, ErrInvalidStream) || !strings.HasPrefix(err.Error(), `invalid stream name "`) {
			t.Errorf("NewStream(%q, %q): unexpected error %v", c.app, c.name, err)
		}
	}
}

func TestParseStream(t *testing.T) {
	s, err := ParseStream("app/name")
	if err != nil || s != (Stream{"app", "name"}) {
		t.Fatalf("ParseStream = %v, %v", s, err)
	}
	for _, in := range []string{"", "app", "app/", "/name", "a/b/c", "a//b", "app/na me", "../x", "a/b/"} {
		if _, err := ParseStream(in); !errors.Is(err, ErrInvalidStream) {
			t.Errorf("ParseStream(%q) = %v, want ErrInvalidStream", in, err)
		}
	}
}

func TestStreamErrorTruncatesInput(t *testing.T) {
	huge := strings.Repeat("x", 1<<20) + "/y"
	_, err := ParseStream(huge)
	if err == nil {
		t.Fatal("accepted")
	}
	if len(err.Error()) > 400 {
		t.Fatalf("error message is %d bytes long", len(err.Error()))
	}
	if !strings.Contains(err.Error(), "…") {
		t.Fatalf("no ellipsis in %q", err)
	}
	// Cutting must not split a multi-byte character.
	_, err = ParseStream(strings.Repeat("é", 200))
	if err == nil || strings.Contains(err.Error(), `\x`) {
		t.Fatalf("bad truncation: %v", err)
	}
}

func TestValidPart(t *testing.T) {
	if !ValidPart("A-z_09") || ValidPart("") || ValidPart("a b") || ValidPart(strings.Repeat("a", 65)) {
		t.Fatal("ValidPart wrong")
	}
	if (Stream{"a", "b"}).Validate() != nil || (Stream{}).Validate() == nil {
		t.Fatal("Stream.Validate wrong")
	}
}

func FuzzParseStream(f *testing.F) {
	for _, s := range []string{"app/name", "live/Main_cam-2", "a/b/c", "", "/", "a/", "é/x", "a\x00/b", strings.Repeat("a", 64) + "/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseStream(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidStream) {
				t.Fatalf("error %v does not wrap ErrInvalidStream", err)
			}
			return
		}
		if s.String() != in {
			t.Fatalf("String() = %q, input %q", s.String(), in)
		}
		for _, part := range []string{s.App, s.Name} {
			if len(part) < 1 || len(part) > MaxPartLen {
				t.Fatalf("part %q has a bad length", part)
			}
			for i := 0; i < len(part); i++ {
				if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", rune(part[i])) {
					t.Fatalf("part %q has %q", part, part[i])
				}
			}
		}
	})
}
