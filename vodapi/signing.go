package vodapi

import (
	"errors"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewind-vod/rewind/catalog"
)

// SignPlayback returns the query ("exp=...&sig=...") that opens a stream's
// playlists and segments until exp (see catalog.SignPlay).
func SignPlayback(secret string, stream catalog.Stream, exp time.Time) string {
	return catalog.SignPlay(secret, stream, exp)
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
	t, err := catalog.VerifyPlay(s.cfg.PlaybackSecrets, st, exp, sig, s.now())
	switch {
	case errors.Is(err, catalog.ErrPlayTokenMissing):
		return playToken{}, &apiError{403, "signature_required", "this stream needs a signed URL (exp and sig)"}
	case errors.Is(err, catalog.ErrPlayTokenExpired):
		return playToken{}, &apiError{403, "signature_expired", err.Error()}
	case err != nil:
		return playToken{}, &apiError{403, "bad_signature", err.Error()}
	}
	return playToken{query: "exp=" + url.QueryEscape(exp) + "&sig=" + url.QueryEscape(sig), exp: t}, nil
}
