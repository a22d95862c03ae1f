package vodapi

// The snapshot routes: the JPEGs the editor's snapshotter stores beside each
// live run (catalog.SnapshotKey), listed by run or wall-clock window, the
// latest one of a stream, and each image.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
)

// Bounds of one snapshot listing: a day of snapshots at 10 s is 8,640.
const (
	defaultSnapshotLimit = 1000
	maxSnapshotLimit     = 10000
)

func (s *Server) snapshotRoutes(e *echo.Echo) {
	e.GET("/v1/streams/:app/:name/snapshots", s.listSnapshots)
	e.GET("/v1/streams/:app/:name/snapshots/latest.jpg", s.latestSnapshot)
	e.GET("/v1/streams/:app/:name/runs/:run/snapshots", s.listRunSnapshots)
	e.GET("/v1/streams/:app/:name/runs/:run/snapshots/:file", s.snapshotImage)
}

// snapshotItem is one snapshot in a listing.
type snapshotItem struct {
	Run  string    `json:"run"`
	Time time.Time `json:"time"` // wall-clock time of the keyframe shown
	URL  string    `json:"url"`
}

type snapshotList struct {
	Snapshots []snapshotItem `json:"snapshots"`
	// Next, when set, is the `from` that continues a listing cut at limit.
	Next *time.Time `json:"next,omitempty"`
}

func snapshotURL(st catalog.Stream, run string, at time.Time) string {
	return "/v1/streams/" + st.String() + "/runs/" + run + "/snapshots/" + catalog.SnapshotName(at)
}

// runSnapshots lists a run's snapshots in [from, to], oldest first, at most
// limit (more reports whether the listing was cut there).
func (s *Server) runSnapshots(ctx context.Context, st catalog.Stream, run string, from, to time.Time, limit int) (out []time.Time, more bool, err error) {
	prefix := catalog.SnapshotPrefix(st, run)
	after := ""
	if !from.IsZero() && from.UnixMilli() > 0 {
		after = prefix + catalog.SnapshotName(from.Add(-time.Millisecond))
	}
	for {
		res, err := s.st.List(ctx, prefix, store.ListOptions{Delimiter: "/", StartAfter: after, MaxKeys: 1000})
		if err != nil {
			return nil, false, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range res.Objects {
			after = o.Key
			at, err := catalog.ParseSnapshotName(strings.TrimPrefix(o.Key, prefix))
			if err != nil {
				continue
			}
			if at.After(to) {
				return out, false, nil
			}
			if len(out) == limit {
				return out, true, nil
			}
			out = append(out, at)
		}
		if !res.Truncated || len(res.Objects) == 0 {
			return out, false, nil
		}
	}
}

func snapshotLimit(c echo.Context) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return defaultSnapshotLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxSnapshotLimit {
		return 0, badRequest("bad_limit", fmt.Sprintf("limit must be 1..%d", maxSnapshotLimit))
	}
	return n, nil
}

// listSnapshots answers GET /v1/streams/{app}/{name}/snapshots?from=&to=:
// the snapshots of every run in the window (default: the last hour).
func (s *Server) listSnapshots(c echo.Context) error {
	st, err := s.stream(c)
	if err != nil {
		return err
	}
	tok, err := s.checkPlayback(c, st)
	if err != nil {
		return err
	}
	limit, err := snapshotLimit(c)
	if err != nil {
		return err
	}
	now := s.now()
	from, to, err := queryWindow(c, now.Add(-time.Hour), now)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	runs, err := s.rd.runsIn(ctx, st, from, to, now, 0)
	if err != nil {
		return err
	}
	res := snapshotList{Snapshots: []snapshotItem{}}
	for _, ri := range runs {
		times, more, err := s.runSnapshots(ctx, st, ri.id, from, to, limit-len(res.Snapshots))
		if err != nil {
			return err
		}
		for _, at := range times {
			res.Snapshots = append(res.Snapshots, snapshotItem{Run: ri.id, Time: at, URL: tok.on(snapshotURL(st, ri.id, at))})
		}
		if more || (len(res.Snapshots) == limit && ri.id != runs[len(runs)-1].id) {
			next := res.Snapshots[len(res.Snapshots)-1].Time.Add(time.Millisecond)
			res.Next = &next
			break
		}
	}
	// A window reaching now grows as snapshots come in.
	life := shortLife(5 * time.Second)
	if to.Before(now.Add(-time.Minute)) {
		life = shortLife(time.Minute)
	}
	s.setCache(c.Response().Header(), life, tok)
	return c.JSON(http.StatusOK, res)
}

// listRunSnapshots answers GET /v1/streams/{app}/{name}/runs/{run}/snapshots.
func (s *Server) listRunSnapshots(c echo.Context) error {
	st, run, err := s.streamRun(c, "run")
	if err != nil {
		return err
	}
	tok, err := s.checkPlayback(c, st)
	if err != nil {
		return err
	}
	limit, err := snapshotLimit(c)
	if err != nil {
		return err
	}
	from, err := queryTime(c, "from", time.Time{})
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ri, err := s.rd.run(ctx, st, run, s.now())
	if err != nil {
		return err // a run without run.json is a 404 through the error handler
	}
	times, more, err := s.runSnapshots(ctx, st, run, from, time.Unix(1<<40, 0), limit)
	if err != nil {
		return err
	}
	res := snapshotList{Snapshots: make([]snapshotItem, 0, len(times))}
	for _, at := range times {
		res.Snapshots = append(res.Snapshots, snapshotItem{Run: run, Time: at, URL: tok.on(snapshotURL(st, run, at))})
	}
	if more {
		next := times[len(times)-1].Add(time.Millisecond)
		res.Next = &next
	}
	life := shortLife(5 * time.Second)
	if ri.finished {
		life = shortLife(time.Hour) // no more snapshots come; deletion may still remove them
	}
	s.setCache(c.Response().Header(), life, tok)
	return c.JSON(http.StatusOK, res)
}

// latestSnapshot answers GET /v1/streams/{app}/{name}/snapshots/latest.jpg:
// the newest snapshot of the stream's newest run that has one (of its two
// newest runs: a run that just started has none yet).
func (s *Server) latestSnapshot(c echo.Context) error {
	st, err := s.stream(c)
	if err != nil {
		return err
	}
	tok, err := s.checkPlayback(c, st)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ids, err := s.rd.listRuns(ctx, st)
	if err != nil {
		return err
	}
	for i := len(ids) - 1; i >= 0 && i >= len(ids)-2; i-- {
		prefix := catalog.SnapshotPrefix(st, ids[i])
		res, err := s.st.List(ctx, prefix, store.ListOptions{Delimiter: "/"})
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for k := len(res.Objects) - 1; k >= 0; k-- {
			key := res.Objects[k].Key
			at, err := catalog.ParseSnapshotName(strings.TrimPrefix(key, prefix))
			if err != nil {
				continue
			}
			jpg, err := s.readObject(ctx, key)
			if err != nil {
				return err
			}
			h := c.Response().Header()
			h.Set("Last-Modified", at.Format(http.TimeFormat))
			h.Set("Content-Location", tok.on(snapshotURL(st, ids[i], at)))
			// The next snapshot replaces it within an interval.
			return s.sendImage(c, jpg, s.liveLife(), tok)
		}
	}
	return notFound("no_snapshot", "no snapshot of "+st.String()+" is stored")
}

// snapshotImage answers GET /v1/streams/{app}/{name}/runs/{run}/snapshots/{file}.
func (s *Server) snapshotImage(c echo.Context) error {
	st, run, err := s.streamRun(c, "run")
	if err != nil {
		return err
	}
	if _, err := catalog.ParseSnapshotName(c.Param("file")); err != nil {
		return badRequest("bad_snapshot", err.Error())
	}
	tok, err := s.checkPlayback(c, st)
	if err != nil {
		return err
	}
	key := catalog.SnapshotPrefix(st, run) + c.Param("file")
	return s.serveObject(c, key, forever, tok) // a stored snapshot never changes
}

// readObject reads a small whole object (a snapshot).
func (s *Server) readObject(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := s.st.Get(ctx, key, nil)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}
