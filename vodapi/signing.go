package vodapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewind-vod/rewind/catalog"
)

// SignPlayback returns the query ("exp=...&sig=...") that opens a stream's
// playlists and segments until exp (catalog.SignToken, purpose play).
func SignPlayback(secret string, stream catalog.Stream, exp time.Time) string {
	return catalog.SignToken(secret, catalog.PurposePlay, stream, exp)
}

// playToken is a verified token, carried on to segment URIs.
type playToken struct {
	query string // "exp=...&sig=..."
	exp   time.Time
}

// on returns u with the token's query added, so that a URL handed out in
// an answer opens with the token that opened the answer.
func (t playToken) on(u string) string {
	switch {
	case t.query == "":
		return u
	case strings.Contains(u, "?"):
		return u + "&" + t.query
	}
	return u + "?" + t.query
}

// checkPlayback verifies the request's token when signing is on.
func (s *Server) checkPlayback(c echo.Context, st catalog.Stream) (playToken, error) {
	if len(s.cfg.PlaybackSecrets) == 0 {
		return playToken{}, nil
	}
	q := c.QueryParams()
	exp, sig := q.Get("exp"), q.Get("sig")
	t, err := catalog.VerifyToken(s.cfg.PlaybackSecrets, catalog.PurposePlay, st, exp, sig, s.now())
	if err != nil {
		return playToken{}, playRefusal(err)
	}
	return playToken{query: "exp=" + url.QueryEscape(exp) + "&sig=" + url.QueryEscape(sig), exp: t}, nil
}

// playRefusal is the 403 for a play token catalog refused with err.
func playRefusal(err error) error {
	switch {
	case errors.Is(err, catalog.ErrTokenMissing):
		return &apiError{403, "signature_required", "this stream needs a signed URL (exp and sig)"}
	case errors.Is(err, catalog.ErrTokenExpired):
		return &apiError{403, "signature_expired", err.Error()}
	}
	return &apiError{403, "bad_signature", err.Error()}
}

// Clips are guarded like the streams they are cut from: with playback
// secrets, a clip of a stream needs that stream's play token; app backends
// may instead send one of the API tokens (Authorization: Bearer), which
// opens every clip. With neither configured, clips are open as playback is.

// clipsGuarded says whether clip routes need a credential.
func (s *Server) clipsGuarded() bool {
	return len(s.cfg.PlaybackSecrets) > 0 || len(s.cfg.APITokens) > 0
}

// bearer is the request's Authorization bearer token ("" for none).
func bearer(c echo.Context) string {
	scheme, tok, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// validAPIToken compares tok to every API token in constant time: hashing
// first gives equal lengths, and no comparison stops at the first match,
// so timing tells neither a token's length nor which one matched.
func (s *Server) validAPIToken(tok string) bool {
	got := sha256.Sum256([]byte(tok))
	ok := 0
	for _, t := range s.cfg.APITokens {
		want := sha256.Sum256([]byte(t))
		ok |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return ok == 1 && tok != ""
}

// clipCredential checks what can be checked before the clip's stream is
// known, so that nothing is read or validated for a request without a
// credential and no one learns which clip ids exist: an API token is
// checked whole; a play token must be there and not expired (its
// signature needs the clip's stream). It says
// whether the request holds a valid API token.
func (s *Server) clipCredential(c echo.Context) (apiToken bool, err error) {
	if !s.clipsGuarded() {
		return false, nil
	}
	if tok := bearer(c); tok != "" {
		if !s.validAPIToken(tok) {
			return false, &apiError{http.StatusForbidden, "bad_api_token", "the API token is not valid"}
		}
		return true, nil
	}
	if len(s.cfg.PlaybackSecrets) == 0 {
		return false, &apiError{http.StatusForbidden, "credential_required", "clips need an API token (Authorization: Bearer)"}
	}
	q := c.QueryParams()
	if q.Get("exp") == "" || q.Get("sig") == "" {
		return false, &apiError{http.StatusForbidden, "credential_required",
			"clips need the stream's signed URL (exp and sig) or an API token (Authorization: Bearer)"}
	}
	if _, err := catalog.TokenExpiry(q.Get("exp"), s.now()); err != nil {
		return false, playRefusal(err)
	}
	return false, nil
}

// clipAccess checks that the request may reach clips of st and returns the
// play token to carry on to the URLs of the answer (none for an API token).
func (s *Server) clipAccess(c echo.Context, st catalog.Stream) (playToken, error) {
	apiToken, err := s.clipCredential(c)
	if err != nil || apiToken || !s.clipsGuarded() {
		return playToken{}, err
	}
	return s.checkPlayback(c, st)
}
