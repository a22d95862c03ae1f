package vodapi

import (
	"embed"
	"io/fs"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// The operator console: plain HTML, CSS and JS with hls.js vendored
// (Apache-2.0, see web/vendor), embedded so the binary needs nothing beside
// it and the page works offline.
//
//go:embed web
var webFiles embed.FS

// consolePolicy keeps the page to its own scripts and styles: nothing is
// loaded from a CDN, and no inline script runs, so a value from the API
// can never execute. Data may come from elsewhere: the live API of an
// origin node, segments and clip outputs behind --segment-base-url or a
// presigned S3 URL; hls.js runs its worker from a blob.
const consolePolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; " +
	"connect-src 'self' http: https:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"

func (s *Server) webRoutes(e *echo.Echo) {
	sub, _ := fs.Sub(webFiles, "web")
	files := http.FileServer(http.FS(sub))
	e.GET("/", func(c echo.Context) error {
		s.setCache(c.Response().Header(), shortLife(time.Minute), playToken{})
		c.Response().Header().Set("Content-Security-Policy", consolePolicy)
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
