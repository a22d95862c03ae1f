package vodapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/vodapi/playlist"
)

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.observe)
	e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins:  s.cfg.CORSOrigins,
		AllowMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions},
		AllowHeaders:  []string{"Range", "If-None-Match", "Content-Type", "Idempotency-Key"},
		ExposeHeaders: []string{"Content-Length", "Content-Range", "ETag", "Location"},
		MaxAge:        86400,
	}))
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/openapi.json", s.openAPIDoc)
	s.webRoutes(e)
	e.GET("/v1/streams", s.listStreams)
	e.GET("/v1/streams/:app/:name/recordings", s.listRecordings)
	s.clipRoutes(e)
	s.thumbRoutes(e)
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
		s.m.requests.WithLabelValues(route, strconv.Itoa(c.Response().Status/100)+"xx").Inc()
		s.m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		return nil
	}
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

// recording is runs of one stream joined across short gaps.
type recording struct {
	runs []runInfo
}

func (r recording) id() string { return r.runs[0].id }
func (r recording) live() bool { return r.runs[len(r.runs)-1].live }

func (s *Server) group(runs []runInfo) []recording {
	var out []recording
	for _, ri := range runs {
		if n := len(out); n > 0 {
			last := out[n-1].runs[len(out[n-1].runs)-1]
			if ri.start.Sub(last.end) <= s.cfg.ReconnectWindow {
				out[n-1].runs = append(out[n-1].runs, ri)
				continue
			}
		}
		out = append(out, recording{runs: []runInfo{ri}})
	}
	return out
}

func (s *Server) listRecordings(c echo.Context) error {
	st, err := s.stream(c)
	if err != nil {
		return err
	}
	now := s.now()
	from, to := time.Time{}, now.Add(time.Hour)
	if v := c.QueryParam("from"); v != "" {
		if from, err = ParseTime(v); err != nil {
			return badRequest("bad_time", "from: "+err.Error())
		}
	}
	if v := c.QueryParam("to"); v != "" {
		if to, err = ParseTime(v); err != nil {
			return badRequest("bad_time", "to: "+err.Error())
		}
	}
	if !to.After(from) {
		return badRequest("bad_window", "to must be after from")
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

// rendered is a playlist ready to send: compressed once, cached as is.
type rendered struct {
	body         []byte
	coding       string
	etag         string
	life         cacheLife
	lastModified time.Time
}

// playlistSpec is what a playlist request resolved to.
type playlistSpec struct {
	runs   []runInfo
	from   time.Time // zero: whole runs
	to     time.Time
	closed bool   // VOD + ENDLIST: nothing will be added
	uriDir string // segment URIs relative to the playlist: prefix to "{run}/{seq}.ts"
}

// servePlaylist renders (or takes from the cache) the playlist for the
// normalized key and answers it with the right headers.
func (s *Server) servePlaylist(c echo.Context, st catalog.Stream, key string, resolve func(ctx context.Context) (playlistSpec, error)) error {
	tok, err := s.checkPlayback(c, st)
	if err != nil {
		return err
	}
	key += "|" + tok.query
	coding := negotiate(c.Request().Header.Get("Accept-Encoding"))
	ctx := c.Request().Context()
	r, err := s.playlists.Get(ctx, key+"|"+coding, func(ctx context.Context) (*rendered, int64, time.Duration, error) {
		spec, err := resolve(ctx)
		if err != nil {
			return nil, 0, 0, err
		}
		r, err := s.render(st, spec, coding, tok.query)
		if err != nil {
			return nil, 0, 0, err
		}
		ttl := s.cfg.TargetDuration / 2
		if spec.closed {
			ttl = time.Hour
		}
		return r, int64(len(r.body)) + 256, ttl, nil
	})
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Vary", "Accept-Encoding")
	h.Set("ETag", r.etag)
	s.setCache(h, r.life, tok)
	if !r.lastModified.IsZero() {
		h.Set("Last-Modified", r.lastModified.UTC().Format(http.TimeFormat))
	}
	if etagMatch(c.Request().Header.Get("If-None-Match"), r.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	if r.coding != "" {
		h.Set("Content-Encoding", r.coding)
	}
	return c.Blob(http.StatusOK, "application/vnd.apple.mpegurl", r.body)
}

func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

func (s *Server) render(st catalog.Stream, spec playlistSpec, coding, token string) (*rendered, error) {
	var runs []playlist.Run
	target := s.cfg.TargetDuration
	var lastMod time.Time
	for _, ri := range spec.runs {
		if t := ri.manifest.TargetDuration(); t > target {
			target = t
		}
		entries := ri.entries
		if !spec.from.IsZero() {
			lo, hi := 0, len(entries)
			for lo < hi && entries[lo].EndMS() <= spec.from.UnixMilli() {
				lo++
			}
			for hi > lo && entries[hi-1].StartMS >= spec.to.UnixMilli() {
				hi--
			}
			entries = entries[lo:hi]
		}
		if len(entries) == 0 {
			continue
		}
		if e := time.UnixMilli(entries[len(entries)-1].EndMS()); e.After(lastMod) {
			lastMod = e
		}
		runs = append(runs, playlist.Run{ID: ri.id, Entries: entries})
	}
	opt := playlist.Options{
		TargetDuration: target,
		SegmentURI:     s.segmentURI(st, spec.uriDir, token),
	}
	if spec.closed {
		opt.Type, opt.Ended = "VOD", true
	} else {
		opt.Type = "EVENT"
	}
	body, err := playlist.Write(make([]byte, 0, 64+len(runs)*4096), runs, opt)
	if err != nil {
		return nil, fmt.Errorf("write playlist: %w", err)
	}
	sum := sha256.Sum256(body)
	r := &rendered{coding: coding, lastModified: lastMod, etag: `"` + hex.EncodeToString(sum[:12]) + codingSuffix(coding) + `"`}
	if spec.closed {
		r.life = forever
	} else {
		r.life = s.liveLife()
	}
	if r.body, err = compress(coding, body); err != nil {
		return nil, err
	}
	return r, nil
}

func codingSuffix(c string) string {
	if c == "" {
		return ""
	}
	return "-" + c
}

// segmentURI makes short segment URIs: relative "{run}/{seq}.ts" under the
// playlist's own folder on the embedded default, else the store key under
// the configured CDN base.
func (s *Server) segmentURI(st catalog.Stream, dir, token string) func(run string, seq uint64) string {
	if token != "" {
		token = "?" + token
	}
	if s.cfg.SegmentBaseURL != "" {
		// "/" leaves base empty: root-relative URIs, for a CDN that routes
		// /streams/ to the bucket on the API's own host.
		base := strings.TrimRight(s.cfg.SegmentBaseURL, "/")
		return func(run string, seq uint64) string {
			return base + "/" + catalog.SegmentKey(st, run, seq) + token
		}
	}
	var b []byte
	return func(run string, seq uint64) string {
		b = append(append(append(b[:0], dir...), run...), '/')
		b = strconv.AppendUint(b, seq, 10)
		b = append(append(b, ".ts"...), token...)
		return string(b)
	}
}

// windowPlaylist: a wall-clock window, or the latest recording when no
// start is given.
func (s *Server) windowPlaylist(c echo.Context) error {
	st, err := s.stream(c)
	if err != nil {
		return err
	}
	now := s.now()
	qs, qe := c.QueryParam("start"), c.QueryParam("end")
	if qs == "" {
		if qe != "" {
			return badRequest("bad_window", "end without start")
		}
		return s.servePlaylist(c, st, "latest|"+st.String(), func(ctx context.Context) (playlistSpec, error) {
			ids, err := s.rd.listRuns(ctx, st)
			if err != nil {
				return playlistSpec{}, err
			}
			if len(ids) == 0 {
				return playlistSpec{}, notFound("no_recordings", "stream "+st.String()+" has no recordings")
			}
			return s.recordingFrom(ctx, st, ids, len(ids)-1, now, true)
		})
	}
	start, err := ParseTime(qs)
	if err != nil {
		return badRequest("bad_time", "start: "+err.Error())
	}
	end, hasEnd := now, qe != ""
	if hasEnd {
		if end, err = ParseTime(qe); err != nil {
			return badRequest("bad_time", "end: "+err.Error())
		}
	}
	if !end.After(start) {
		return badRequest("bad_window", "end must be after start")
	}
	if end.Sub(start) > s.cfg.MaxWindow {
		return badRequest("window_too_long", fmt.Sprintf("the window is longer than %s", s.cfg.MaxWindow))
	}
	key := fmt.Sprintf("window|%s|%d|", st, start.UnixMilli())
	if hasEnd {
		key += strconv.FormatInt(end.UnixMilli(), 10)
	}
	return s.servePlaylist(c, st, key, func(ctx context.Context) (playlistSpec, error) {
		runs, err := s.rd.runsIn(ctx, st, start, end, now, s.cfg.ReconnectWindow)
		if err != nil {
			return playlistSpec{}, err
		}
		if len(runs) == 0 {
			return playlistSpec{}, notFound("no_recordings", "nothing recorded in that window")
		}
		closed := true
		for _, r := range runs {
			// Complete once every run has ended or already reaches past the end.
			if r.live && (!hasEnd || !r.end.After(end)) {
				closed = false
			}
		}
		if hasEnd && end.After(now) {
			closed = false
		}
		return playlistSpec{runs: runs, from: start, to: end, closed: closed}, nil
	})
}

// recordingFrom joins the run at ids[i] with its neighbours into a
// recording: backwards when latest (i is the newest run), else forwards.
func (s *Server) recordingFrom(ctx context.Context, st catalog.Stream, ids []string, i int, now time.Time, backwards bool) (playlistSpec, error) {
	first, err := s.rd.run(ctx, st, ids[i], now)
	if err != nil {
		return playlistSpec{}, err
	}
	runs := []runInfo{first}
	for j := i; ; {
		if backwards {
			j--
		} else {
			j++
		}
		if j < 0 || j >= len(ids) || catalog.ValidRunID(ids[j]) != nil {
			break
		}
		ri, err := s.rd.run(ctx, st, ids[j], now)
		if err != nil {
			break
		}
		var gap time.Duration
		if backwards {
			gap = runs[0].start.Sub(ri.end)
		} else {
			gap = ri.start.Sub(runs[len(runs)-1].end)
		}
		if gap > s.cfg.ReconnectWindow {
			break
		}
		if backwards {
			runs = append([]runInfo{ri}, runs...)
		} else {
			runs = append(runs, ri)
		}
	}
	closed := !runs[len(runs)-1].live
	return playlistSpec{runs: runs, closed: closed}, nil
}

// recordingSpec resolves a recording id (its first run) into its runs.
func (s *Server) recordingSpec(ctx context.Context, st catalog.Stream, id string) (playlistSpec, error) {
	ids, err := s.rd.listRuns(ctx, st)
	if err != nil {
		return playlistSpec{}, err
	}
	i := slices.Index(ids, id)
	if i < 0 {
		return playlistSpec{}, notFound("no_recording", "no recording "+id)
	}
	return s.recordingFrom(ctx, st, ids, i, s.now(), false)
}

func (s *Server) runPlaylist(c echo.Context) error {
	st, run, err := s.streamRun(c, "run")
	if err != nil {
		return err
	}
	return s.servePlaylist(c, st, "run|"+st.String()+"|"+run, func(ctx context.Context) (playlistSpec, error) {
		ri, err := s.rd.run(ctx, st, run, s.now())
		if err != nil {
			return playlistSpec{}, err
		}
		return playlistSpec{runs: []runInfo{ri}, closed: !ri.live, uriDir: "../../"}, nil
	})
}

func (s *Server) recordingPlaylist(c echo.Context) error {
	st, id, err := s.streamRun(c, "id")
	if err != nil {
		return err
	}
	return s.servePlaylist(c, st, "rec|"+st.String()+"|"+id, func(ctx context.Context) (playlistSpec, error) {
		spec, err := s.recordingSpec(ctx, st, id)
		spec.uriDir = "../../"
		return spec, err
	})
}

// segment serves one TS segment from the store with Range, HEAD and ETag
// (the embedded default; with a CDN base URL players go to the CDN).
func (s *Server) segment(c echo.Context) error {
	st, run, err := s.streamRun(c, "run")
	if err != nil {
		return err
	}
	tok, err := s.checkPlayback(c, st)
	if err != nil {
		return err
	}
	name := c.Param("seg")
	num, ok := strings.CutSuffix(name, ".ts")
	seq, perr := strconv.ParseUint(num, 10, 64)
	if !ok || perr != nil || seq == 0 || seq > catalog.MaxSeq || len(num) > 10 {
		return badRequest("bad_segment", "segment must be {seq}.ts")
	}
	return s.serveObject(c, catalog.SegmentKey(st, run, seq), forever, tok) // segments never change
}
