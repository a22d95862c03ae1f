// Package collect is the QoS collector of multi-CDN scheduling: it parses
// what players (CMCD, CTA-5004) and SDKs (a JSON beacon) report and folds it
// into bounded per-(cdn, region) aggregates that Prometheus scrapes and
// that `rewind dev` reads in process.
package collect

import (
	"errors"
	"fmt"
)

// Bounds of one CMCD record. A player sends a few hundred bytes; anything
// far larger is a bug or an attack, and parsing it costs us, not them.
const (
	MaxRecordBytes = 4096 // one query value, header set or event line
	MaxKeys        = 64   // key=value pairs in one record
	MaxStringLen   = 256  // one string or token value (sid, cid, ...)
	MaxListItems   = 16   // items of one inner list (ec)
	maxKeyLen      = 64
	maxIntDigits   = 15 // CMCD integers are at most 15 digits (SF integer)
)

// ErrMalformed is wrapped by every CMCD parse error; ErrTooLarge by a
// record or body over its bound. Callers answer both with a 4xx.
var (
	ErrMalformed = errors.New("malformed CMCD")
	ErrTooLarge  = errors.New("CMCD record too large")
)

// ParseError says what was wrong and where, so a 4xx can tell the player
// developer which key to fix.
type ParseError struct {
	Err    error  // ErrMalformed or ErrTooLarge
	Key    string // the key being parsed, if any
	Reason string
}

func (e *ParseError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("%v: key %q: %s", e.Err, e.Key, e.Reason)
	}
	return fmt.Sprintf("%v: %s", e.Err, e.Reason)
}

func (e *ParseError) Unwrap() error { return e.Err }

func malformed(key, format string, a ...any) error {
	return &ParseError{Err: ErrMalformed, Key: key, Reason: fmt.Sprintf(format, a...)}
}

// Report is one CMCD record with the keys the scheduler uses. Integer
// fields are in the units CTA-5004 gives them (kbps, ms); Has tells a
// zero value from an absent key.
type Report struct {
	Version int64 // v (1 when absent)

	Bitrate            int64   // br, kbps
	BufferLength       int64   // bl, ms
	ObjectDuration     int64   // d, ms
	MeasuredThroughput int64   // mtp, kbps
	RequestedMaxTput   int64   // rtp, kbps
	Deadline           int64   // dl, ms
	PlaybackRate       float64 // pr
	ObjectType         string  // ot: m, a, v, av, i, c, tt, k, o
	StreamFormat       string  // sf: d, h, s, o
	StreamType         string  // st: v (VOD), l (live)
	SessionID          string  // sid
	ContentID          string  // cid
	Startup            bool    // su
	BufferStarvation   bool    // bs

	// CMCD v2 event reports.
	Event              string   // e, event type token
	Timestamp          int64    // ts, ms since the epoch
	MediaStartDelay    int64    // msd, ms
	Latency            int64    // ltc, ms
	StarvationCount    int64    // bsa, absolute for the session
	StarvationDuration int64    // bsd, ms, absolute for the session
	DroppedFrames      int64    // dfa, absolute for the session
	ErrorCodes         []string // ec
	State              string   // sta, player state token

	// Unknown counts keys we do not use; they are skipped, never an error,
	// so a newer player version still reports.
	Unknown int

	present uint32
}

type valueKind uint8

const (
	kindInt valueKind = iota
	kindDecimal
	kindString
	kindToken
	kindBool
	kindStringList
	kindList // an inner list as parsed, before set() checks its items
)

// keySpec ties a known key to its type and field. The bit is its place in
// Report.present.
type keySpec struct {
	bit  uint32
	kind valueKind
}

var knownKeys = map[string]keySpec{
	"v": {0, kindInt}, "br": {1, kindInt}, "bl": {2, kindInt}, "d": {3, kindInt},
	"mtp": {4, kindInt}, "rtp": {5, kindInt}, "dl": {6, kindInt}, "pr": {7, kindDecimal},
	"ot": {8, kindToken}, "sf": {9, kindToken}, "st": {10, kindToken}, "sid": {11, kindString},
	"cid": {12, kindString}, "su": {13, kindBool}, "bs": {14, kindBool}, "e": {15, kindToken},
	"ts": {16, kindInt}, "msd": {17, kindInt}, "ltc": {18, kindInt}, "bsa": {19, kindInt},
	"bsd": {20, kindInt}, "dfa": {21, kindInt}, "ec": {22, kindStringList}, "sta": {23, kindToken},
}

// Has reports whether key was present in the record.
func (r *Report) Has(key string) bool {
	s, ok := knownKeys[key]
	return ok && r.present&(1<<s.bit) != 0
}

// value is one parsed value before it lands in its field.
type value struct {
	kind  valueKind
	i     int64
	f     float64
	s     string
	b     bool
	list  []string
	items []value
}

// ParseCMCD parses one CMCD record: the decoded value of the CMCD= query
// parameter, one line of an application/cmcd body, or the joined CMCD-*
// headers. A key may appear once; unknown keys are skipped.
func ParseCMCD(s string) (Report, error) {
	var r Report
	if err := r.parseInto(s); err != nil {
		return Report{}, err
	}
	if !r.Has("v") {
		r.Version = 1
	}
	return r, nil
}

// parseInto adds the pairs of s to r; it is how several headers make up
// one record.
func (r *Report) parseInto(s string) error {
	if len(s) > MaxRecordBytes {
		return &ParseError{Err: ErrTooLarge, Reason: fmt.Sprintf("%d bytes, limit %d", len(s), MaxRecordBytes)}
	}
	p := parser{s: s}
	var seenUnknown map[string]bool
	for keys := 0; ; keys++ {
		p.skipSpace()
		if p.done() {
			if keys > 0 {
				return malformed("", "trailing comma")
			}
			return nil
		}
		if keys >= MaxKeys {
			return &ParseError{Err: ErrTooLarge, Reason: fmt.Sprintf("more than %d keys", MaxKeys)}
		}
		key, err := p.key()
		if err != nil {
			return err
		}
		v := value{kind: kindBool, b: true}
		if p.peek() == '=' {
			p.i++
			if p.peek() == '(' {
				v, err = p.list(key)
			} else {
				v, err = p.value(key)
			}
			if err != nil {
				return err
			}
		}
		if err := p.params(key); err != nil {
			return err
		}
		if err := r.set(key, v, &seenUnknown); err != nil {
			return err
		}
		p.skipSpace()
		if p.done() {
			return nil
		}
		if p.peek() != ',' {
			return malformed(key, "expected ',' at offset %d", p.i)
		}
		p.i++
	}
}

func (r *Report) set(key string, v value, seenUnknown *map[string]bool) error {
	spec, ok := knownKeys[key]
	if !ok {
		if *seenUnknown == nil {
			*seenUnknown = map[string]bool{}
		}
		if (*seenUnknown)[key] {
			return malformed(key, "duplicate key")
		}
		(*seenUnknown)[key] = true
		r.Unknown++
		return nil
	}
	if r.present&(1<<spec.bit) != 0 {
		return malformed(key, "duplicate key")
	}
	if v.kind == kindList {
		var err error
		if v, err = fromList(key, spec.kind, v.items); err != nil {
			return err
		}
	}
	if v.kind == kindInt && spec.kind == kindDecimal {
		v = value{kind: kindDecimal, f: float64(v.i)}
	}
	if v.kind != spec.kind {
		return malformed(key, "wrong value type")
	}
	if (v.kind == kindInt && v.i < 0) || (v.kind == kindDecimal && v.f < 0) {
		return malformed(key, "negative value")
	}
	r.present |= 1 << spec.bit
	switch key {
	case "v":
		r.Version = v.i
	case "br":
		r.Bitrate = v.i
	case "bl":
		r.BufferLength = v.i
	case "d":
		r.ObjectDuration = v.i
	case "mtp":
		r.MeasuredThroughput = v.i
	case "rtp":
		r.RequestedMaxTput = v.i
	case "dl":
		r.Deadline = v.i
	case "pr":
		r.PlaybackRate = v.f
	case "ot":
		r.ObjectType = v.s
	case "sf":
		r.StreamFormat = v.s
	case "st":
		r.StreamType = v.s
	case "sid":
		r.SessionID = v.s
	case "cid":
		r.ContentID = v.s
	case "su":
		r.Startup = v.b
	case "bs":
		r.BufferStarvation = v.b
	case "e":
		r.Event = v.s
	case "ts":
		r.Timestamp = v.i
	case "msd":
		r.MediaStartDelay = v.i
	case "ltc":
		r.Latency = v.i
	case "bsa":
		r.StarvationCount = v.i
	case "bsd":
		r.StarvationDuration = v.i
	case "dfa":
		r.DroppedFrames = v.i
	case "ec":
		r.ErrorCodes = v.list
	case "sta":
		r.State = v.s
	}
	return nil
}

// fromList turns an inner list into the value of a key: strings for a
// string-list key (ec); for an integer key (CTA-5004-B sends br=(3200),
// one item per track) the largest item, or the smallest for bl, since a
// player starves on its shortest buffer.
func fromList(key string, want valueKind, items []value) (value, error) {
	switch want {
	case kindStringList:
		out := make([]string, 0, len(items))
		for _, it := range items {
			if it.kind != kindString && it.kind != kindToken {
				return value{}, malformed(key, "list items must be strings")
			}
			out = append(out, it.s)
		}
		return value{kind: kindStringList, list: out}, nil
	case kindInt:
		if len(items) == 0 {
			return value{}, malformed(key, "empty list")
		}
		v := value{kind: kindInt, i: items[0].i}
		for _, it := range items {
			if it.kind != kindInt {
				return value{}, malformed(key, "list items must be integers")
			}
			if it.i < 0 {
				return value{}, malformed(key, "negative value")
			}
			if (key == "bl" && it.i < v.i) || (key != "bl" && it.i > v.i) {
				v.i = it.i
			}
		}
		return v, nil
	}
	return value{}, malformed(key, "wrong value type: list")
}
