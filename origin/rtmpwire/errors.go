// Package rtmpwire is the RTMP wire below go-rtmp's message layer: the
// server handshake (simple and digest), a chunk-stream reader that
// reassembles client messages within memory limits, and a Conn that hands
// go-rtmp a normalized byte stream (one whole message per chunk). It also
// builds the media messages a node sends (to players and relay targets),
// with their chunk streams and chunk size.
//
// go-rtmp's own chunk reader trusts the peer too much (declared lengths,
// chunk sizes, fmt 3 on a fresh chunk stream) and its handshake refuses the
// digest handshake; doing the wire ourselves fixes both without forking it.
package rtmpwire

import "fmt"

// Kind classifies a protocol error.
type Kind int

const (
	// Malformed: bytes that are not valid RTMP (bad version, a header that
	// continues nothing, a bad control message).
	Malformed Kind = iota + 1
	// TooLarge: a message longer than allowed, or more bytes held in
	// unfinished messages than allowed.
	TooLarge
)

func (k Kind) String() string {
	switch k {
	case Malformed:
		return "malformed"
	case TooLarge:
		return "too large"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a protocol error: the peer sent something we refuse. Msg says
// what in plain words. Network errors are never of this type.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return "rtmp: " + e.Msg }

func malformed(format string, args ...any) *Error {
	return &Error{Kind: Malformed, Msg: fmt.Sprintf(format, args...)}
}

func tooLarge(format string, args ...any) *Error {
	return &Error{Kind: TooLarge, Msg: fmt.Sprintf(format, args...)}
}
