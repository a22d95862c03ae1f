package rtmpwire

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// HandshakeSize is the size of C1, C2, S1 and S2.
const HandshakeSize = 1536

const (
	rtmpVersion = 3
	digestSize  = sha256.Size
)

// The keys of the digest handshake, as published with the protocol: a
// client signs C1 with the first 30 bytes of the Flash Player key, a server
// signs S1 with the first 36 bytes of the Flash Media Server key, and S2
// is signed with a key derived from the full FMS key and the client digest.
var (
	keyTail = []byte{
		0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1,
		0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB,
		0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
	}
	playerKey = append([]byte("Genuine Adobe Flash Player 001"), keyTail...)
	serverKey = append([]byte("Genuine Adobe Flash Media Server 001"), keyTail...)
)

const (
	playerKeyShort = 30
	serverKeyShort = 36
)

// serverVersion is what S1 announces in a digest handshake; clients such
// as FFmpeg verify our digests only when it is non-zero, and some refuse
// servers that announce none.
var serverVersion = [4]byte{5, 0, 3, 1}

// Handshake describes the handshake a client did.
type Handshake struct {
	// Digest: the client signed C1 and was answered with signed S1/S2.
	Digest bool
	// Scheme is where the client digest sits: 0 (after the time and
	// version) or 1 (in the second half); meaningful with Digest.
	Scheme int
	// ClientVersion is C1's version field (zero for the simple handshake).
	ClientVersion [4]byte
}

func (h Handshake) String() string {
	if !h.Digest {
		return "simple"
	}
	return fmt.Sprintf("digest (scheme %d, client %d.%d.%d.%d)", h.Scheme,
		h.ClientVersion[0], h.ClientVersion[1], h.ClientVersion[2], h.ClientVersion[3])
}

// digestOffset is where the 32-byte digest starts in a 1536-byte C1/S1 for
// a scheme: the sum of the four bytes at the start of its half, modulo 728,
// past those four bytes.
func digestOffset(b []byte, scheme int) int {
	base := 8 + scheme*764
	sum := int(b[base]) + int(b[base+1]) + int(b[base+2]) + int(b[base+3])
	return base + 4 + sum%728
}

// digestAt is the HMAC-SHA256 under key of b without its 32 bytes at off.
func digestAt(b []byte, off int, key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(b[:off])
	m.Write(b[off+digestSize:])
	return m.Sum(nil)
}

// ParseC1 finds the client digest of a digest handshake in c1 (1536 bytes).
// ok is false for a simple handshake: a zero version, or no valid digest
// in either scheme (such clients get the simple answer).
func ParseC1(c1 []byte) (scheme int, digest []byte, ok bool) {
	if len(c1) != HandshakeSize || bytes.Equal(c1[4:8], []byte{0, 0, 0, 0}) {
		return 0, nil, false
	}
	for scheme := 0; scheme < 2; scheme++ {
		off := digestOffset(c1, scheme)
		want := digestAt(c1, off, playerKey[:playerKeyShort])
		if hmac.Equal(want, c1[off:off+digestSize]) {
			return scheme, c1[off : off+digestSize], true
		}
	}
	return 0, nil, false
}

// Respond builds S0, S1 and S2 (3073 bytes) for C0 and C1. The error is
// a protocol error when C0 is not RTMP version 3.
func Respond(c0 byte, c1 []byte, now uint32) ([]byte, Handshake, error) {
	if c0 != rtmpVersion {
		return nil, Handshake{}, malformed("handshake: RTMP version %d is not supported (want %d; RTMPE is not)", c0, rtmpVersion)
	}
	if len(c1) != HandshakeSize {
		return nil, Handshake{}, malformed("handshake: C1 is %d bytes, want %d", len(c1), HandshakeSize)
	}
	var hs Handshake
	copy(hs.ClientVersion[:], c1[4:8])
	out := make([]byte, 1+2*HandshakeSize)
	out[0] = rtmpVersion
	s1 := out[1 : 1+HandshakeSize]
	s2 := out[1+HandshakeSize:]
	binary.BigEndian.PutUint32(s1[0:4], now)
	if _, err := rand.Read(s1[8:]); err != nil {
		return nil, hs, fmt.Errorf("handshake: random: %w", err)
	}
	scheme, clientDigest, ok := ParseC1(c1)
	if !ok {
		// Simple handshake: zero version in S1, S2 echoes C1.
		copy(s2, c1)
		return out, hs, nil
	}
	hs.Digest, hs.Scheme = true, scheme
	copy(s1[4:8], serverVersion[:])
	off := digestOffset(s1, scheme)
	copy(s1[off:], digestAt(s1, off, serverKey[:serverKeyShort]))

	if _, err := rand.Read(s2); err != nil {
		return nil, hs, fmt.Errorf("handshake: random: %w", err)
	}
	k := hmac.New(sha256.New, serverKey)
	k.Write(clientDigest)
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write(s2[:HandshakeSize-digestSize])
	copy(s2[HandshakeSize-digestSize:], m.Sum(nil))
	return out, hs, nil
}

// ServerHandshake reads C0 and C1 from r, answers S0, S1 and S2 on w and
// reads C2, which it does not check: nginx-rtmp and others do not echo S1
// faithfully, and nothing we do depends on it.
func ServerHandshake(r io.Reader, w io.Writer, now uint32) (Handshake, error) {
	c0c1 := make([]byte, 1+HandshakeSize)
	if _, err := io.ReadFull(r, c0c1[:1]); err != nil {
		return Handshake{}, fmt.Errorf("handshake: read C0: %w", err)
	}
	if c0c1[0] != rtmpVersion {
		// Refuse at once, before waiting for a C1 that may never come.
		_, hs, err := Respond(c0c1[0], nil, now)
		return hs, err
	}
	if _, err := io.ReadFull(r, c0c1[1:]); err != nil {
		return Handshake{}, fmt.Errorf("handshake: read C1: %w", err)
	}
	out, hs, err := Respond(c0c1[0], c0c1[1:], now)
	if err != nil {
		return hs, err
	}
	if _, err := w.Write(out); err != nil {
		return hs, fmt.Errorf("handshake: write S0/S1/S2: %w", err)
	}
	if _, err := io.ReadFull(r, c0c1[:HandshakeSize]); err != nil {
		return hs, fmt.Errorf("handshake: read C2: %w", err)
	}
	return hs, nil
}
