package steer

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/rewind-vod/rewind/catalog"
)

// StateVersion is the version of the state the steering URIs carry. A
// query of another version was handed out by a deployment that steered
// differently; it is answered 410 Gone (the player keeps its pathway and
// stops asking) rather than guessed at.
const StateVersion = 1

// Bounds of a steering manifest query.
const (
	MaxQueryLen    = 2048
	MaxQueryFields = 12
)

// Errors of ParseQuery: ErrMalformed is a 400, ErrGone a 410.
var (
	ErrMalformed = errors.New("steer: malformed steering query")
	ErrGone      = errors.New("steer: steering state no longer applies")
)

// State is what a steering manifest request carries: the state this
// server put in SERVER-URI / RELOAD-URI, and what the player appends.
type State struct {
	// Stream is the session's stream.
	Stream catalog.Stream
	// Pathways are those the session's multivariant playlist listed, in
	// its order.
	Pathways []string
	// Session is the id minted with the multivariant playlist: 32
	// lowercase hex digits.
	Session string

	// Pathway is the player's current pathway (_HLS_pathway), "" if not
	// sent. hls.js sends "." before it knows one.
	Pathway string
	// Throughput is the player's throughput estimate in bit/s
	// (_HLS_throughput), 0 if not sent.
	Throughput int64
}

// Encode returns the server's part of the query (no player parameters).
func (s State) Encode() string {
	var b strings.Builder
	b.WriteString("v=")
	b.WriteString(strconv.Itoa(StateVersion))
	b.WriteString("&stream=")
	b.WriteString(s.Stream.String()) // [A-Za-z0-9_-] and '/': nothing to escape
	b.WriteString("&pathways=")
	b.WriteString(strings.Join(s.Pathways, ","))
	b.WriteString("&session=")
	b.WriteString(s.Session)
	return b.String()
}

// has reports whether the session's playlist listed pathway id.
func (s State) has(id string) bool {
	for _, p := range s.Pathways {
		if p == id {
			return true
		}
	}
	return false
}

// ParseQuery parses a steering manifest query strictly: at most
// MaxQueryLen bytes and MaxQueryFields fields, each key once, only the
// keys this server writes (v, stream, pathways, session) and the player's
// _HLS_pathway and _HLS_throughput; other _HLS_ keys, which the spec
// reserves for players, and one CMCD (CTA-5004's query form, which a
// player may put on every request) are skipped. It returns ErrGone for a state of
// another version, ErrMalformed for anything else wrong.
func ParseQuery(raw string) (State, error) {
	var s State
	bad := func(format string, a ...any) (State, error) {
		return State{}, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if len(raw) > MaxQueryLen {
		return bad("query longer than %d bytes", MaxQueryLen)
	}
	if raw == "" {
		return bad("empty query")
	}
	var version string
	seen := map[string]bool{}
	fields := 0
	for field := range strings.SplitSeq(raw, "&") {
		if fields++; fields > MaxQueryFields {
			return bad("more than %d fields", MaxQueryFields)
		}
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return bad("field %q without '='", trunc(field))
		}
		key, err := url.QueryUnescape(k)
		if err != nil {
			return bad("key %q: %v", trunc(k), err)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return bad("%s: %v", trunc(key), err)
		}
		switch key {
		case "v", "stream", "pathways", "session", "_HLS_pathway", "_HLS_throughput", "CMCD":
		default:
			if strings.HasPrefix(key, "_HLS_") {
				continue
			}
			return bad("unknown key %q", trunc(key))
		}
		if seen[key] {
			return bad("%s given twice", key)
		}
		seen[key] = true
		if key == "CMCD" {
			continue // telemetry for the collector, not state
		}
		switch key {
		case "v":
			version = val
		case "stream":
			if s.Stream, err = catalog.ParseStream(val); err != nil {
				return bad("stream: %v", err)
			}
		case "pathways":
			if s.Pathways, err = parsePathways(val); err != nil {
				return bad("pathways: %v", err)
			}
		case "session":
			if !validSession(val) {
				return bad("session %q: want 32 lowercase hex digits", trunc(val))
			}
			s.Session = val
		case "_HLS_pathway":
			if !ValidID(val) {
				return bad("_HLS_pathway %q: not a pathway ID", trunc(val))
			}
			s.Pathway = val
		case "_HLS_throughput":
			if s.Throughput, err = parseThroughput(val); err != nil {
				return bad("_HLS_throughput %q: %v", trunc(val), err)
			}
		}
	}
	for _, k := range []string{"v", "stream", "pathways", "session"} {
		if !seen[k] {
			return bad("%s missing", k)
		}
	}
	if !digits(version, 6) {
		return bad("v %q: want a number", trunc(version))
	}
	if version != strconv.Itoa(StateVersion) {
		return State{}, fmt.Errorf("%w: state version %s, this server writes %d", ErrGone, version, StateVersion)
	}
	return s, nil
}

func parsePathways(v string) ([]string, error) {
	var out []string
	for id := range strings.SplitSeq(v, ",") {
		if !ValidID(id) {
			return nil, fmt.Errorf("%q is not a pathway ID", trunc(id))
		}
		for _, o := range out {
			if o == id {
				return nil, fmt.Errorf("%q listed twice", id)
			}
		}
		if len(out) == MaxPathways {
			return nil, fmt.Errorf("more than %d", MaxPathways)
		}
		out = append(out, id)
	}
	return out, nil
}

// parseThroughput reads a non-negative integer bit rate; 10^15 bit/s is
// far beyond any client, so more digits are an error, not an overflow.
func parseThroughput(v string) (int64, error) {
	if !digits(v, 15) {
		return 0, errors.New("want a non-negative integer (bit/s)")
	}
	return strconv.ParseInt(v, 10, 64)
}

func digits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validSession(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// trunc keeps error messages (and logs) bounded whatever a client sent.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
