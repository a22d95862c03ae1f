package vodapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/rewind-vod/rewind/catalog"
)

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.observe)
	e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins:  s.cfg.CORSOrigins,
		AllowMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete, http.MethodOptions},
		AllowHeaders:  []string{"Range", "If-None-Match", "Content-Type", "Idempotency-Key", "Authorization"},
		ExposeHeaders: []string{"Content-Length", "Content-Range", "ETag", "Location"},
		MaxAge:        86400,
	}))
	e.GET("/healthz", func(c echo.Context) error {
		s.setCache(c.Response().Header(), noStore, playToken{})
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/openapi.json", s.openAPIDoc)
	s.webRoutes(e)
	e.GET("/v1/streams", s.listStreams)
	e.GET("/v1/streams/:app/:name/recordings", s.listRecordings)
	s.clipRoutes(e)
	s.thumbRoutes(e)
	s.snapshotRoutes(e)
	s.deleteRoutes(e)
	e.GET("/hls/:app/:name/index.m3u8", s.windowPlaylist)
	e.GET("/hls/:app/:name/runs/:run/index.m3u8", s.runPlaylist)
	e.GET("/hls/:app/:name/recordings/:id/index.m3u8", s.recordingPlaylist)
	for _, p := range []string{"/seg/:app/:name/:run/:seg", "/hls/:app/:name/:run/:seg"} {
		e.GET(p, s.segment)
		e.HEAD(p, s.segment)
	}
	return e
}

// observe counts and times requests by route pattern (bounded labels).
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.m.requests.WithLabelValues(route, statusClass(c.Response().Status)).Inc()
		s.m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		return nil
	}
}

var statusClasses = [...]string{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

// statusClass is the code's metric label, "2xx" etc. (no allocation for
// the usual codes).
func statusClass(code int) string {
	if k := code / 100; k >= 0 && k < len(statusClasses) {
		return statusClasses[k]
	}
	return strconv.Itoa(code/100) + "xx"
}

func (s *Server) stream(c echo.Context) (catalog.Stream, error) {
	st, err := catalog.NewStream(c.Param("app"), c.Param("name"))
	if err != nil {
		return st, badRequest("bad_stream", err.Error())
	}
	return st, nil
}

// streamRun validates the stream and the run id in the path parameter.
func (s *Server) streamRun(c echo.Context, param string) (catalog.Stream, string, error) {
	st, err := s.stream(c)
	if err != nil {
		return st, "", err
	}
	run := c.Param(param)
	if err := catalog.ValidRunID(run); err != nil {
		return st, "", badRequest("bad_run", err.Error())
	}
	return st, run, nil
}
