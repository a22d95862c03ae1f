package catalog

import (
	"errors"
	"fmt"
	"strings"
)

// Stored playlist fragments (vodapi): a sealed index chunk's playlist lines
// and their compressed forms, one object per chunk and segment URI form.
// They live under the run prefix, so deleting a run (DeleteRuns) or its
// expiry removes them with it.

// FragmentFormLen is the length of a URI form's name: hex of a digest of
// everything the segment URIs depend on besides the run.
const FragmentFormLen = 16

// FragmentPrefix is ".../{run}/frag/".
func FragmentPrefix(s Stream, run string) string { return RunPrefix(s, run) + "frag/" }

// FragmentKey is ".../{run}/frag/{chunk:06d}-{form}.frag"; form must pass
// ValidFragmentForm.
func FragmentKey(s Stream, run string, chunk uint64, form string) string {
	return fmt.Sprintf("%s%s", FragmentPrefix(s, run), FragmentName(chunk, form))
}

// FragmentName is the last key part of a stored fragment.
func FragmentName(chunk uint64, form string) string {
	return fmt.Sprintf("%0*d-%s.frag", chunkDigits, chunk, form)
}

// ValidFragmentForm accepts FragmentFormLen lower-case hex digits: the form
// becomes part of a storage key.
func ValidFragmentForm(form string) error {
	if len(form) != FragmentFormLen {
		return fmt.Errorf("invalid fragment form %s: want %d hex digits", quoteTrunc(form), FragmentFormLen)
	}
	for i := 0; i < len(form); i++ {
		if c := form[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("invalid fragment form %s: want %d hex digits", quoteTrunc(form), FragmentFormLen)
		}
	}
	return nil
}

// ParseFragmentName parses "000012-0123456789abcdef.frag" into the chunk
// number and the URI form.
func ParseFragmentName(name string) (uint64, string, error) {
	num, rest, ok := strings.Cut(name, "-")
	if !ok {
		return 0, "", fmt.Errorf("invalid fragment name %s: %w", quoteTrunc(name), errors.New("no '-'"))
	}
	chunk, err := parseFixed(num+".frag", chunkDigits, ".frag")
	if err != nil {
		return 0, "", fmt.Errorf("invalid fragment name %s: %w", quoteTrunc(name), err)
	}
	form, ok := strings.CutSuffix(rest, ".frag")
	if !ok {
		return 0, "", fmt.Errorf("invalid fragment name %s: want .frag", quoteTrunc(name))
	}
	if err := ValidFragmentForm(form); err != nil {
		return 0, "", fmt.Errorf("invalid fragment name %s: %w", quoteTrunc(name), err)
	}
	return chunk, form, nil
}
