package vodapi

// The listing routes: streams that have recordings, and a stream's recordings.

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rewind-vod/rewind/catalog"
)

func (s *Server) listStreams(c echo.Context) error {
	limit := 100
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("bad_limit", "limit must be 1..1000")
		}
		limit = n
	}
	after := c.QueryParam("after")
	all, err := s.rd.listStreams(c.Request().Context())
	if err != nil {
		return err
	}
	type item struct {
		Stream     string `json:"stream"`
		App        string `json:"app"`
		Name       string `json:"name"`
		Recordings string `json:"recordings_url"`
	}
	res := struct {
		Streams []item `json:"streams"`
		Next    string `json:"next,omitempty"`
	}{Streams: []item{}}
	for _, st := range all {
		if after != "" && st.String() <= after {
			continue
		}
		if len(res.Streams) == limit {
			res.Next = res.Streams[len(res.Streams)-1].Stream
			break
		}
		res.Streams = append(res.Streams, item{st.String(), st.App, st.Name, "/v1/streams/" + st.String() + "/recordings"})
	}
	s.setCache(c.Response().Header(), shortLife(5*time.Second), playToken{})
	return c.JSON(http.StatusOK, res)
}

func (s *Server) listRecordings(c echo.Context) error {
	st, err := s.stream(c)
	if err != nil {
		return err
	}
	now := s.now()
	from, to, err := queryWindow(c, time.Time{}, now.Add(time.Hour))
	if err != nil {
		return err
	}
	runs, err := s.rd.runsIn(c.Request().Context(), st, from, to, now, s.cfg.ReconnectWindow)
	if err != nil {
		return err
	}
	type item struct {
		ID        string     `json:"id"`
		StartedAt time.Time  `json:"started_at"`
		EndedAt   *time.Time `json:"ended_at"`
		Duration  float64    `json:"duration"`
		State     string     `json:"state"`
		Runs      []string   `json:"runs"`
		Playlist  string     `json:"playlist_url"`
	}
	out := struct {
		Stream     string `json:"stream"`
		Recordings []item `json:"recordings"`
	}{Stream: st.String(), Recordings: []item{}}
	for _, rec := range s.group(runs) {
		first, last := rec.runs[0], rec.runs[len(rec.runs)-1]
		it := item{ID: rec.id(), StartedAt: first.start, State: catalog.StateEnded,
			Playlist: "/hls/" + st.String() + "/recordings/" + rec.id() + "/index.m3u8"}
		end := last.end
		if rec.live() {
			it.State = catalog.StateLive
		} else {
			it.EndedAt = &end
		}
		it.Duration = end.Sub(first.start).Seconds()
		for _, r := range rec.runs {
			it.Runs = append(it.Runs, r.id)
		}
		out.Recordings = append(out.Recordings, it)
	}
	s.setCache(c.Response().Header(), s.liveLife(), playToken{})
	return c.JSON(http.StatusOK, out)
}
