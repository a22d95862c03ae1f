package vodapi

import (
	_ "embed"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// openAPI documents every route; a test holds it to the router.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) openAPIDoc(c echo.Context) error {
	s.setCache(c.Response().Header(), shortLife(5*time.Minute), playToken{})
	return c.Blob(http.StatusOK, "application/json", openAPI)
}
