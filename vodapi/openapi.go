package vodapi

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPI documents every route; a test holds it to the router.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) openAPIDoc(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/json", openAPI)
}
