package vodapi

import (
	"embed"
	"io/fs"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// The replay page: plain HTML and JS with hls.js vendored (Apache-2.0, see
// web/vendor), embedded so the binary needs nothing beside it.
//
//go:embed web
var webFiles embed.FS

func (s *Server) webRoutes(e *echo.Echo) {
	sub, _ := fs.Sub(webFiles, "web")
	files := http.FileServer(http.FS(sub))
	e.GET("/", func(c echo.Context) error {
		s.setCache(c.Response().Header(), shortLife(time.Minute), playToken{})
		b, err := webFiles.ReadFile("web/index.html")
		if err != nil {
			return err
		}
		return c.HTMLBlob(http.StatusOK, b)
	})
	e.GET("/web/*", func(c echo.Context) error {
		s.setCache(c.Response().Header(), shortLife(5*time.Minute), playToken{})
		http.StripPrefix("/web/", files).ServeHTTP(c.Response(), c.Request())
		return nil
	})
}
