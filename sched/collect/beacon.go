package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
)

// The JSON beacon is for SDKs that do not speak CMCD. One POST to
// /v1/qos/beacon (Content-Type: application/json) carries a batch of one
// session's events since its previous beacon:
//
//	{
//	  "sid":    "6e2fb550-...",  // session id, 1..64 printable ASCII, required
//	  "cdn":    "cdn-a",         // the CDN (pathway) the session plays from
//	  "stream": "app/name",      // the stream, as in the contract's data model
//	  "events": [                // 0..100 events, in any order
//	    {"t": "start",     "ts": 1764638400000, "first_frame_ms": 850},
//	    {"t": "stall",     "ts": 1764638410000, "duration_ms": 1200},
//	    {"t": "error",     "ts": 1764638420000, "code": "NET-404"},
//	    {"t": "latency",   "ts": 1764638430000, "ms": 3400},
//	    {"t": "dropped",   "ts": 1764638440000, "frames": 12},
//	    {"t": "heartbeat", "ts": 1764638450000, "watched_ms": 30000,
//	     "bytes": 12000000}     // optional: media bytes downloaded in that interval
//	  ],
//	  "push": {                  // optional, from a streamer SDK
//	    "cdn": "cdn-a",          // CDN of the push address (default: "cdn")
//	    "addr": "rtmp://...",    // the push address; logged, never a label
//	    "publish_errors": 1,     // failed publishes since the previous beacon
//	    "frames_dropped": 30,    // frames the SDK dropped since then
//	    "frames_sent": 9000      // frames it sent since then (the rate's base)
//	  }
//	}
//
// ts is ms since the Unix epoch. All counts and durations are deltas since
// the session's previous beacon, so a collector adds them up without
// keeping sessions. "watched_ms" is the wall time the session was open
// (playing or stalled) in that interval; it is the denominator of the
// stall rate, so a batch's stalls may not add up to more than its
// heartbeats' watched_ms. "bytes" (heartbeat only, optional) is what the
// session downloaded from the CDN in the interval, 0..2^40 (1 TiB); it
// feeds rewind_qos_bytes_total, the billing meter's input. Unknown fields and event types are refused, so
// a typo shows as a 4xx instead of as missing data.
type Beacon struct {
	SID    string  `json:"sid"`
	CDN    string  `json:"cdn"`
	Stream string  `json:"stream"`
	Events []Event `json:"events"`
	Push   *Push   `json:"push,omitempty"`
}

// Event is one beacon event; which value field it needs depends on T.
type Event struct {
	T            string `json:"t"`
	TS           int64  `json:"ts"`
	FirstFrameMS *int64 `json:"first_frame_ms,omitempty"`
	DurationMS   *int64 `json:"duration_ms,omitempty"`
	Code         string `json:"code,omitempty"`
	MS           *int64 `json:"ms,omitempty"`
	Frames       *int64 `json:"frames,omitempty"`
	WatchedMS    *int64 `json:"watched_ms,omitempty"`
	Bytes        *int64 `json:"bytes,omitempty"`
}

// Push is the publish side of a beacon, from a streamer SDK.
type Push struct {
	CDN           string `json:"cdn,omitempty"`
	Addr          string `json:"addr,omitempty"`
	PublishErrors int64  `json:"publish_errors"`
	FramesDropped int64  `json:"frames_dropped"`
	FramesSent    int64  `json:"frames_sent"`
}

// Beacon bounds and the limits past which a value is absurd.
const (
	MaxBeaconBytes  = 64 << 10
	MaxBeaconEvents = 100
	maxFirstFrameMS = 10 * 60 * 1000 // a first frame after 10 min is a bug
	maxLatencyMS    = 60 * 60 * 1000 // live latency over 1 h is a bug
	maxWatchedMS    = 60 * 60 * 1000 // one beacon interval
	maxFrames       = 1 << 24        // frames in one interval (~77 h at 60 fps)
	maxBytes        = 1 << 40        // bytes in one interval (1 TiB: > 2 Gbit/s for 1 h)
	maxTimestampMS  = 7258118400000  // 2200-01-01: a clock this far off is wrong
	maxCodeLen      = 64
	maxAddrLen      = 512
)

// ErrBadBeacon is wrapped by beacon errors that are not JSON syntax (those
// wrap ErrNotJSON); ErrAbsurd by a well-formed beacon whose values cannot
// be true.
var (
	ErrNotJSON   = errors.New("beacon is not JSON")
	ErrBadBeacon = errors.New("bad beacon")
	ErrAbsurd    = errors.New("absurd beacon value")
	ErrBeaconBig = errors.New("beacon too large")
)

var (
	printable = regexp.MustCompile(`^[\x21-\x7e]{1,64}$`)
	streamRe  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,64}$`)
)

// DecodeBeacon reads and validates one beacon body. It reads at most
// MaxBeaconBytes+1 bytes of r.
func DecodeBeacon(r io.Reader) (*Beacon, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxBeaconBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read beacon: %w", err)
	}
	if len(body) > MaxBeaconBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrBeaconBig, MaxBeaconBytes)
	}
	return ParseBeacon(body)
}

// ParseBeacon decodes and validates a beacon body already in memory.
func ParseBeacon(body []byte) (*Beacon, error) {
	if len(body) > MaxBeaconBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrBeaconBig, MaxBeaconBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var b Beacon
	if err := dec.Decode(&b); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %v", ErrNotJSON, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrBadBeacon, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the beacon object", ErrNotJSON)
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	return &b, nil
}

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadBeacon, fmt.Sprintf(format, a...))
}

func absurd(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrAbsurd, fmt.Sprintf(format, a...))
}

func (b *Beacon) validate() error {
	if !printable.MatchString(b.SID) {
		return bad("sid must be 1..64 printable ASCII characters")
	}
	if b.CDN != "" && !printable.MatchString(b.CDN) {
		return bad("cdn must be 1..64 printable ASCII characters")
	}
	if b.Stream != "" && !streamRe.MatchString(b.Stream) {
		return bad("stream must be app/name, each [A-Za-z0-9_-]{1,64}")
	}
	if len(b.Events) > MaxBeaconEvents {
		return fmt.Errorf("%w: more than %d events", ErrBeaconBig, MaxBeaconEvents)
	}
	if len(b.Events) == 0 && b.Push == nil {
		return bad("no events and no push")
	}
	var stalled, watched int64
	for i := range b.Events {
		e := &b.Events[i]
		if err := e.validate(); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		switch e.T {
		case "stall":
			stalled += *e.DurationMS
		case "heartbeat":
			watched += *e.WatchedMS
		}
	}
	if stalled > watched {
		return absurd("stalls of %d ms in %d ms watched", stalled, watched)
	}
	if p := b.Push; p != nil {
		if p.CDN != "" && !printable.MatchString(p.CDN) {
			return bad("push.cdn must be 1..64 printable ASCII characters")
		}
		if len(p.Addr) > maxAddrLen {
			return bad("push.addr longer than %d bytes", maxAddrLen)
		}
		if p.PublishErrors < 0 || p.FramesDropped < 0 || p.FramesSent < 0 {
			return absurd("negative push count")
		}
		if p.PublishErrors > maxFrames || p.FramesDropped > maxFrames || p.FramesSent > maxFrames {
			return absurd("push count over %d", maxFrames)
		}
	}
	return nil
}

// need checks the one value field an event type carries.
func need(name string, v *int64, limit int64) error {
	if v == nil {
		return bad("%s missing", name)
	}
	if *v < 0 {
		return absurd("negative %s", name)
	}
	if *v > limit {
		return absurd("%s %d over %d", name, *v, limit)
	}
	return nil
}

func (e *Event) validate() error {
	if e.TS < 0 || e.TS > maxTimestampMS {
		return absurd("ts %d out of range", e.TS)
	}
	if e.Bytes != nil {
		if e.T != "heartbeat" {
			return bad("bytes is a heartbeat field, not %q's", e.T)
		}
		if err := need("bytes", e.Bytes, maxBytes); err != nil {
			return err
		}
	}
	switch e.T {
	case "start":
		return need("first_frame_ms", e.FirstFrameMS, maxFirstFrameMS)
	case "stall":
		return need("duration_ms", e.DurationMS, maxWatchedMS)
	case "error":
		if len(e.Code) == 0 || len(e.Code) > maxCodeLen || !printable.MatchString(e.Code) {
			return bad("code must be 1..%d printable ASCII characters", maxCodeLen)
		}
		return nil
	case "latency":
		return need("ms", e.MS, maxLatencyMS)
	case "dropped":
		return need("frames", e.Frames, maxFrames)
	case "heartbeat":
		return need("watched_ms", e.WatchedMS, maxWatchedMS)
	}
	return bad("unknown event type %q", e.T)
}
