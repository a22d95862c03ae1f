package rtmpwire

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// The test's own copy of the published digest-handshake algorithm, kept
// apart from the code under test on purpose: offsets, keys and the S2
// signature are recomputed here from the description.
var (
	testFPKey  = []byte("Genuine Adobe Flash Player 001\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE")
	testFMSKey = []byte("Genuine Adobe Flash Media Server 001\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE")
)

func testOffset(b []byte, scheme int) int {
	if scheme == 0 {
		return (int(b[8])+int(b[9])+int(b[10])+int(b[11]))%728 + 12
	}
	return (int(b[772])+int(b[773])+int(b[774])+int(b[775]))%728 + 776
}

func testHMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// testC1 makes a C1 as a Flash-era client does: version non-zero, digest
// under the 30-byte player key at the scheme's offset.
func testC1(t *testing.T, scheme int) (c1, digest []byte) {
	t.Helper()
	c1 = make([]byte, 1536)
	if _, err := rand.Read(c1[8:]); err != nil {
		t.Fatal(err)
	}
	copy(c1[4:8], []byte{9, 0, 124, 2})
	off := testOffset(c1, scheme)
	d := testHMAC(testFPKey[:30], c1[:off], c1[off+32:])
	copy(c1[off:], d)
	return c1, d
}

func runHandshake(t *testing.T, c0 byte, c1 []byte) ([]byte, Handshake, error) {
	t.Helper()
	client, server := net.Pipe()
	defer client.Close()
	type res struct {
		hs  Handshake
		err error
	}
	done := make(chan res, 1)
	go func() {
		hs, err := ServerHandshake(server, server, 1234)
		server.Close()
		done <- res{hs, err}
	}()
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Write(append([]byte{c0}, c1...)); err != nil {
		r := <-done
		return nil, r.hs, r.err
	}
	s := make([]byte, 3073)
	if _, err := io.ReadFull(client, s); err != nil {
		r := <-done
		return nil, r.hs, r.err
	}
	// A C2 that echoes nothing: nginx-rtmp's is not S1 either.
	if _, err := client.Write(make([]byte, 1536)); err != nil {
		t.Fatal(err)
	}
	r := <-done
	return s, r.hs, r.err
}

func TestHandshakeDigest(t *testing.T) {
	for _, scheme := range []int{0, 1} {
		c1, clientDigest := testC1(t, scheme)
		s, hs, err := runHandshake(t, 3, c1)
		if err != nil {
			t.Fatalf("scheme %d: %v", scheme, err)
		}
		if !hs.Digest || hs.Scheme != scheme {
			t.Fatalf("scheme %d: handshake = %v", scheme, hs)
		}
		if s[0] != 3 {
			t.Errorf("S0 = %d", s[0])
		}
		s1, s2 := s[1:1537], s[1537:]
		if bytes.Equal(s1[4:8], []byte{0, 0, 0, 0}) {
			t.Error("S1 has a zero version: digest clients take that as the simple handshake")
		}
		off := testOffset(s1, scheme)
		if want := testHMAC(testFMSKey[:36], s1[:off], s1[off+32:]); !bytes.Equal(want, s1[off:off+32]) {
			t.Errorf("scheme %d: S1 digest does not verify under the FMS key", scheme)
		}
		key := testHMAC(testFMSKey, clientDigest)
		if want := testHMAC(key, s2[:1504]); !bytes.Equal(want, s2[1504:]) {
			t.Errorf("scheme %d: S2 signature does not verify", scheme)
		}
	}
}

func TestHandshakeSimple(t *testing.T) {
	c1 := make([]byte, 1536)
	if _, err := rand.Read(c1[8:]); err != nil {
		t.Fatal(err)
	}
	s, hs, err := runHandshake(t, 3, c1)
	if err != nil {
		t.Fatal(err)
	}
	if hs.Digest {
		t.Errorf("zero-version C1 taken for a digest handshake")
	}
	if !bytes.Equal(s[1537:], c1) {
		t.Error("S2 does not echo C1")
	}
	if !bytes.Equal(s[1+4:1+8], []byte{0, 0, 0, 0}) {
		t.Errorf("S1 version = %v, want zeros for a simple handshake", s[5:9])
	}

	// A non-zero version without a valid digest (old librtmp builds): the
	// simple answer.
	copy(c1[4:8], []byte{1, 2, 3, 4})
	s, hs, err = runHandshake(t, 3, c1)
	if err != nil {
		t.Fatal(err)
	}
	if hs.Digest || !bytes.Equal(s[1537:], c1) {
		t.Errorf("unsigned C1 with a version: handshake %v, S2 echoes C1: %v", hs, bytes.Equal(s[1537:], c1))
	}
}

func TestHandshakeBadVersion(t *testing.T) {
	_, _, err := runHandshake(t, 6, make([]byte, 1536))
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != Malformed {
		t.Fatalf("C0 = 6: err = %v, want a malformed protocol error", err)
	}
}
