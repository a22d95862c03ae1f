package catalog

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RunIDTimeLayout is the time part of a run id: fixed width, UTC, so that ids
// sort by start time as plain strings.
const RunIDTimeLayout = "20060102T150405.000Z"

// MaxNodeLen is the longest node part of a run id.
const MaxNodeLen = 32

const (
	runIDTimeLen   = len(RunIDTimeLayout)
	runIDSuffixLen = 4
	// runIDMinLen/MaxLen: time "-" node "-" suffix.
	runIDMinLen = runIDTimeLen + 1 + 1 + 1 + runIDSuffixLen
	runIDMaxLen = runIDTimeLen + 1 + MaxNodeLen + 1 + runIDSuffixLen
)

// ErrInvalidRunID is wrapped by every run id validation error.
var ErrInvalidRunID = errors.New("invalid run id")

// RunID is a parsed run id.
type RunID struct {
	Started time.Time // UTC, millisecond precision
	Node    string    // sanitized node name
	Suffix  string    // 4 lowercase hex digits
}

// String formats the run id.
func (r RunID) String() string {
	return r.Started.UTC().Format(RunIDTimeLayout) + "-" + r.Node + "-" + r.Suffix
}

// runIDMin/Max bound the start time so that the time part keeps its fixed
// width (a 5-digit or negative year would break sorting and parsing).
var (
	runIDMin = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	runIDMax = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)
)

// NewRunID returns a new run id for a run started at t on node, e.g.
// "20261123T101500.123Z-node1-7f3a". t is truncated to the millisecond; node
// is sanitized with SanitizeNode; the suffix is random so that two runs
// started in the same millisecond on the same node still differ.
func NewRunID(t time.Time, node string) string {
	t = t.UTC()
	if t.Before(runIDMin) {
		t = runIDMin
	} else if t.After(runIDMax) {
		t = runIDMax
	}
	var b [runIDSuffixLen / 2]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand aborts the process instead)
	return RunID{Started: t, Node: SanitizeNode(node), Suffix: hex.EncodeToString(b[:])}.String()
}

// SanitizeNode maps a node name to the node part of a run id,
// [A-Za-z0-9_]{1,32}: other characters (including '-', the field separator)
// become '_', the result is cut to 32 characters, and an empty name becomes
// "unknown".
func SanitizeNode(node string) string {
	var b strings.Builder
	for _, r := range node {
		if b.Len() >= MaxNodeLen {
			break
		}
		if r < 0x80 && nodeChar(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

func nodeChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// ValidRunID reports whether id has exactly the shape NewRunID produces, so
// that it is safe as a storage key part.
func ValidRunID(id string) error {
	_, err := ParseRunID(id)
	return err
}

// ParseRunID parses a run id strictly: canonical time part, node
// [A-Za-z0-9_]{1,32}, 4 lowercase hex digits.
func ParseRunID(id string) (RunID, error) {
	bad := func(why string) (RunID, error) {
		return RunID{}, fmt.Errorf("%w %s: %s", ErrInvalidRunID, quoteTrunc(id), why)
	}
	if len(id) < runIDMinLen || len(id) > runIDMaxLen {
		return bad("wrong length")
	}
	ts := id[:runIDTimeLen]
	// Check the shape first: time.Parse alone accepts some non-canonical
	// forms (e.g. a one-digit hour).
	for i := 0; i < runIDTimeLen; i++ {
		want := RunIDTimeLayout[i]
		c := ts[i]
		if '0' <= want && want <= '9' {
			if c < '0' || c > '9' {
				return bad("time part is not YYYYMMDDThhmmss.mmmZ")
			}
		} else if c != want {
			return bad("time part is not YYYYMMDDThhmmss.mmmZ")
		}
	}
	t, err := time.Parse(RunIDTimeLayout, ts)
	if err != nil || t.Format(RunIDTimeLayout) != ts {
		return bad("time part is not a valid date and time")
	}
	if id[runIDTimeLen] != '-' {
		return bad("missing '-' after the time")
	}
	rest := id[runIDTimeLen+1:]
	sep := len(rest) - runIDSuffixLen - 1
	if sep < 1 || rest[sep] != '-' {
		return bad("missing '-' before the suffix")
	}
	node, suffix := rest[:sep], rest[sep+1:]
	for i := 0; i < len(node); i++ {
		if !nodeChar(node[i]) {
			return bad("node part must be [A-Za-z0-9_]{1,32}")
		}
	}
	for i := 0; i < len(suffix); i++ {
		c := suffix[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return bad("suffix must be 4 lowercase hex digits")
		}
	}
	return RunID{Started: t, Node: node, Suffix: suffix}, nil
}
