package catalog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Signed tokens, for publishing and for playback: a query
// "exp={unix seconds}&sig={hex HMAC-SHA256(secret, "{purpose}:{app}/{name}:{exp}")}".
// The token covers the whole stream until exp (inclusive, to the second).
// The purpose in the signed message keeps a token made for one use from
// opening the other. Several secrets are accepted at once, so that a new
// one can be rolled out before the old one is withdrawn.
//
// Order of checks: presence, then exp (digits, not past), then the
// signature. An expired token is refused as expired whatever its
// signature: exp is in the URL for anyone to read, so saying it is past
// tells a forger nothing, and no HMAC is spent on it.

// Purpose is what a token opens.
type Purpose string

const (
	PurposePublish Purpose = "publish" // an RTMP publish of the stream
	PurposePlay    Purpose = "play"    // live play and replay of the stream
)

// maxExpDigits bounds exp: unix seconds up to the year 33658.
const maxExpDigits = 12

// Reasons a token is refused; VerifyToken and TokenExpiry wrap one.
var (
	ErrTokenMissing = errors.New("a signed URL (exp and sig) is required")
	ErrTokenExpired = errors.New("the signed URL has expired")
	ErrTokenInvalid = errors.New("the signature does not match")
)

// SignToken returns the query ("exp=...&sig=...") that opens stream for p
// until exp.
func SignToken(secret string, p Purpose, stream Stream, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return "exp=" + e + "&sig=" + hex.EncodeToString(tokenMAC(secret, p, stream, e))
}

func tokenMAC(secret string, p Purpose, stream Stream, exp string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(p))
	m.Write([]byte{':'})
	m.Write([]byte(stream.String()))
	m.Write([]byte{':'})
	m.Write([]byte(exp))
	return m.Sum(nil)
}

// VerifyToken checks a token (the exp and sig query values) for p on
// stream against every one of secrets at time now, and returns its expiry.
// The comparison is constant-time and runs over every secret, so the time
// taken tells neither whether nor which secret matched.
func VerifyToken(secrets []string, p Purpose, stream Stream, exp, sig string, now time.Time) (time.Time, error) {
	if exp == "" || sig == "" {
		return time.Time{}, ErrTokenMissing
	}
	t, err := TokenExpiry(exp, now)
	if err != nil {
		return time.Time{}, err
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return time.Time{}, fmt.Errorf("%w: sig is not a hex HMAC-SHA256", ErrTokenInvalid)
	}
	ok := 0
	for _, secret := range secrets {
		if hmac.Equal(got, tokenMAC(secret, p, stream, exp)) {
			ok = 1
		}
	}
	if ok == 0 {
		return time.Time{}, ErrTokenInvalid
	}
	return t, nil
}

// TokenExpiry checks the exp of a token, the part that needs no stream:
// unix seconds, not past at now. VerifyToken checks it too; alone it lets
// a caller refuse a dead token before looking anything up.
func TokenExpiry(exp string, now time.Time) (time.Time, error) {
	if exp == "" || len(exp) > maxExpDigits || !allDigits(exp) {
		return time.Time{}, fmt.Errorf("%w: exp must be unix seconds", ErrTokenInvalid)
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, fmt.Errorf("%w: exp must be unix seconds", ErrTokenInvalid)
	}
	if now.Unix() > n {
		return time.Time{}, fmt.Errorf("%w (at %s)", ErrTokenExpired, time.Unix(n, 0).UTC().Format(time.RFC3339))
	}
	return time.Unix(n, 0), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
