package catalog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// Signed playback: a token is exp (unix seconds) and sig = lowercase hex
// HMAC-SHA256(secret, "play:{app}/{name}:{exp}"). It covers the whole
// stream (live play on an origin, and replay playlists and segments), so a
// playlist passes its own token on to its segment URIs unchanged. The
// "play:" prefix keeps a publish signature from opening playback.

// Reasons a play token is refused; VerifyPlay wraps one of them.
var (
	ErrPlayTokenMissing = errors.New("a signed URL (exp and sig) is required")
	ErrPlayTokenExpired = errors.New("the signed URL has expired")
	ErrPlayTokenInvalid = errors.New("the signature does not match")
)

// SignPlay returns the query ("exp=...&sig=...") that opens stream for
// playback until exp.
func SignPlay(secret string, stream Stream, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return "exp=" + e + "&sig=" + playMAC(secret, stream, e)
}

func playMAC(secret string, stream Stream, exp string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("play:" + stream.String() + ":" + exp))
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyPlay checks a play token (the exp and sig query values) against
// any of secrets at time now and returns its expiry.
func VerifyPlay(secrets []string, stream Stream, exp, sig string, now time.Time) (time.Time, error) {
	if exp == "" || sig == "" {
		return time.Time{}, ErrPlayTokenMissing
	}
	t, err := PlayTokenExpiry(exp, now)
	if err != nil {
		return time.Time{}, err
	}
	for _, secret := range secrets {
		if hmac.Equal([]byte(sig), []byte(playMAC(secret, stream, exp))) {
			return t, nil
		}
	}
	return time.Time{}, ErrPlayTokenInvalid
}

// PlayTokenExpiry checks the exp of a token, the part that needs no
// stream: unix seconds, not yet past at now. VerifyPlay checks it too;
// alone it lets a caller refuse a dead token before looking anything up.
func PlayTokenExpiry(exp string, now time.Time) (time.Time, error) {
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || n <= 0 || len(exp) > 12 {
		return time.Time{}, errors.Join(ErrPlayTokenInvalid, errors.New("exp must be unix seconds"))
	}
	t := time.Unix(n, 0)
	if !t.After(now) {
		return time.Time{}, ErrPlayTokenExpired
	}
	return t, nil
}
