package vodapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewind-vod/rewind/catalog"
)

// Signed playback: a token is exp (unix seconds) and sig = lowercase hex
// HMAC-SHA256(secret, "play:{app}/{name}:{exp}"). It covers the stream's
// whole path (its playlists and segments), so a playlist passes its own
// token on to its segment URIs unchanged and one rendering serves them all.
// The "play:" prefix keeps a publish signature from opening playback.

// SignPlayback returns the query ("exp=...&sig=...") that opens a stream's
// playlists and segments until exp.
func SignPlayback(secret string, stream catalog.Stream, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return "exp=" + e + "&sig=" + playbackMAC(secret, stream, e)
}

func playbackMAC(secret string, stream catalog.Stream, exp string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("play:" + stream.String() + ":" + exp))
	return hex.EncodeToString(m.Sum(nil))
}

// playToken is a verified token, carried on to segment URIs.
type playToken struct {
	query string // "exp=...&sig=..."
	exp   time.Time
}

// checkPlayback verifies the request's token when signing is on.
func (s *Server) checkPlayback(c echo.Context, st catalog.Stream) (playToken, error) {
	if len(s.cfg.PlaybackSecrets) == 0 {
		return playToken{}, nil
	}
	q := c.QueryParams()
	exp, sig := q.Get("exp"), q.Get("sig")
	if exp == "" || sig == "" {
		return playToken{}, &apiError{403, "signature_required", "this stream needs a signed URL (exp and sig)"}
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || n <= 0 || len(exp) > 12 {
		return playToken{}, &apiError{403, "bad_signature", "exp must be unix seconds"}
	}
	t := time.Unix(n, 0)
	if !t.After(s.now()) {
		return playToken{}, &apiError{403, "signature_expired", "the signed URL has expired"}
	}
	for _, secret := range s.cfg.PlaybackSecrets {
		if hmac.Equal([]byte(sig), []byte(playbackMAC(secret, st, exp))) {
			return playToken{query: "exp=" + url.QueryEscape(exp) + "&sig=" + url.QueryEscape(sig), exp: t}, nil
		}
	}
	return playToken{}, &apiError{403, "bad_signature", "the signature does not match"}
}
