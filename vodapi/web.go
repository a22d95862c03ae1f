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
		// Only the embedded files themselves: a miss is a JSON 404 like any
		// other, and folders are not listed.
		name := c.Param("*")
		if fi, err := fs.Stat(sub, name); !fs.ValidPath(name) || err != nil || fi.IsDir() {
			return notFound("not_found", "no file /web/"+name)
		}
		s.setCache(c.Response().Header(), shortLife(5*time.Minute), playToken{})
		http.StripPrefix("/web/", files).ServeHTTP(c.Response(), c.Request())
		return nil
	})
}
