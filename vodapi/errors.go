package vodapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewind-vod/rewind/infra/store"
)

// apiError is an error with the status and code the client sees.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(code, msg string) error { return &apiError{http.StatusBadRequest, code, msg} }
func notFound(code, msg string) error   { return &apiError{http.StatusNotFound, code, msg} }

// errorHandler answers every error as JSON {"error","code"}: 4xx for what
// the client got wrong, with a short cache life so a CDN absorbs repeats;
// 5xx only for our own failures, never cached.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, code, msg := http.StatusInternalServerError, "internal", "internal error"
	var ae *apiError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		status, code, msg = ae.status, ae.code, ae.msg
	case errors.Is(err, store.ErrNotFound):
		status, code, msg = http.StatusNotFound, "not_found", "not found"
	case errors.Is(err, store.ErrInvalidKey):
		status, code, msg = http.StatusBadRequest, "bad_path", "invalid path"
	case errors.As(err, &he):
		status = he.Code
		code = http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(he.Code)
		}
		switch he.Code {
		case http.StatusNotFound:
			code = "not_found"
		case http.StatusMethodNotAllowed:
			code = "method_not_allowed"
		default:
			code = "http_error"
		}
	}
	if status >= 500 {
		s.log.Error("request failed", "path", c.Request().URL.Path, "err", err)
	}
	s.setCache(c.Response().Header(), s.errorLife(status, code), playToken{})
	body := map[string]string{"error": msg, "code": code}
	if c.Request().Method == http.MethodHead {
		c.NoContent(status)
		return
	}
	c.JSON(status, body)
}

// errorLife is how long an error answer may be cached: our own failures and
// answers to the credential (403: another token may succeed on the same
// URL) never; "nothing recorded yet" only as long as the live edge, since
// the first segment of a new publish turns it into a playlist; other client
// errors briefly, so that a CDN absorbs repeats.
func (s *Server) errorLife(status int, code string) cacheLife {
	switch {
	case status >= 500, status == http.StatusUnauthorized, status == http.StatusForbidden:
		return noStore
	case code == "no_recordings" || code == "no_recording":
		return s.liveLife()
	default:
		return shortLife(5 * time.Second)
	}
}
