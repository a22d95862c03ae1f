package vodapi

// The admin routes that delete recordings:
//
//	DELETE /v1/streams/{app}/{name}/recordings/{id}   the recording (its runs, as its playlist joins them)
//	DELETE /v1/streams/{app}/{name}/runs/{run}        one run
//
// They need Config.AdminToken as a bearer token (403 admin_disabled when
// none is configured). Deleting removes every object under each run's
// prefix (run.json, index, segments, snapshots, ...; catalog.DeleteRuns)
// and purges this process's caches. A live run (run.json live and not
// stale) is refused with 409 unless ?force=true. A delete is idempotent:
// deleting what is not there answers 200 with nothing deleted, and a
// retry after a crash finishes the runs the first attempt named.

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
)

func (s *Server) deleteRoutes(e *echo.Echo) {
	e.DELETE("/v1/streams/:app/:name/recordings/:id", s.deleteRecording)
	e.DELETE("/v1/streams/:app/:name/runs/:run", s.deleteRun)
}

// checkAdmin admits the admin bearer token, compared in constant time.
func (s *Server) checkAdmin(c echo.Context) error {
	if s.cfg.AdminToken == "" {
		return &apiError{http.StatusForbidden, "admin_disabled", "the admin API needs --admin-token"}
	}
	got, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.AdminToken)) != 1 {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="rewind"`)
		return &apiError{http.StatusUnauthorized, "unauthorized", "a valid admin bearer token is required"}
	}
	return nil
}

// deleted is the answer of a delete: what it removed.
type deleted struct {
	Stream    string   `json:"stream"`
	Recording string   `json:"recording,omitempty"`
	Run       string   `json:"run,omitempty"`
	Runs      []string `json:"runs"`    // runs that had anything stored
	Objects   int      `json:"objects"` // objects deleted
	Bytes     int64    `json:"bytes"`   // their size
}

func (s *Server) deleteRecording(c echo.Context) error {
	return s.serveDelete(c, "id", s.recordingTargets)
}

func (s *Server) deleteRun(c echo.Context) error {
	return s.serveDelete(c, "run", func(ctx context.Context, st catalog.Stream, run string, now time.Time) ([]target, error) {
		t, err := s.runTarget(ctx, st, run, now)
		if err != nil || t.run == "" {
			return nil, err
		}
		return []target{t}, nil
	})
}

// target is a run to delete and whether it is live.
type target struct {
	run  string
	live bool
}

func (s *Server) serveDelete(c echo.Context, param string, resolve func(context.Context, catalog.Stream, string, time.Time) ([]target, error)) error {
	st, id, err := s.streamRun(c, param)
	if err != nil {
		return err
	}
	if err := s.checkAdmin(c); err != nil {
		return err
	}
	force := false
	if v := c.QueryParam("force"); v != "" {
		if force, err = strconv.ParseBool(v); err != nil {
			return badRequest("bad_force", "force must be true or false")
		}
	}
	ctx := c.Request().Context()
	// A marker says a delete that started here did not finish: its runs
	// were judged then, so they are finished whatever their state now.
	pending, err := catalog.PendingDeletion(ctx, s.st, st, id)
	if err != nil {
		return err
	}
	var runs []string
	if pending != nil {
		runs = pending
	} else {
		targets, err := resolve(ctx, st, id, s.now())
		if err != nil {
			return err
		}
		for _, t := range targets {
			if t.live && !force {
				return &apiError{http.StatusConflict, "live", "run " + t.run + " is live; stop the publish first, or add ?force=true to delete it anyway"}
			}
			runs = append(runs, t.run)
		}
	}
	stats, err := catalog.DeleteRuns(ctx, s.st, st, runs)
	if len(stats.Runs) > 0 || stats.Objects > 0 {
		s.purge(st, runs, stats.Keys)
	}
	if err != nil {
		s.log.Error("delete failed part way; a retry finishes it", "stream", st.String(), "runs", runs,
			"objects", stats.Objects, "err", err)
		return fmt.Errorf("delete %s %s: %w", st, id, err)
	}
	s.dm.runs.Add(float64(len(stats.Runs)))
	s.dm.objects.Add(float64(stats.Objects))
	s.dm.bytes.Add(float64(stats.Bytes))
	if len(stats.Runs) > 0 {
		s.log.Info("deleted", "stream", st.String(), param, id, "runs", stats.Runs, "objects", stats.Objects, "bytes", stats.Bytes, "force", force)
	}
	out := deleted{Stream: st.String(), Runs: stats.Runs, Objects: stats.Objects, Bytes: stats.Bytes}
	if param == "id" {
		out.Recording = id
	} else {
		out.Run = id
	}
	s.setCache(c.Response().Header(), noStore, playToken{})
	return c.JSON(http.StatusOK, out)
}

// recordingTargets resolves a recording id as its playlist does (the run
// and the runs that join it), from a fresh run list. Nothing listed:
// nothing to delete.
func (s *Server) recordingTargets(ctx context.Context, st catalog.Stream, id string, now time.Time) ([]target, error) {
	ids, err := catalog.ListRuns(ctx, s.st, st)
	if err != nil {
		return nil, err
	}
	i := slices.Index(ids, id)
	if i < 0 {
		return nil, nil
	}
	runs, err := s.recordingFrom(ctx, st, ids, i, now, false)
	if errors.Is(err, store.ErrNotFound) {
		// No run.json: what is stored there is an orphan of its own.
		t, err := s.runTarget(ctx, st, id, now)
		if err != nil || t.run == "" {
			return nil, err
		}
		return []target{t}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]target, 0, len(runs))
	for _, ri := range runs {
		out = append(out, target{run: ri.id, live: ri.live})
	}
	return out, nil
}

// runTarget judges one run: live per run.json (not stale); without a
// run.json, live while its newest object is recent (the recorder writes
// run.json with the first segment, so a run may briefly have objects
// without it). The zero target: nothing stored.
func (s *Server) runTarget(ctx context.Context, st catalog.Stream, run string, now time.Time) (target, error) {
	ri, err := s.rd.run(ctx, st, run, now)
	if err == nil {
		return target{run: run, live: ri.live}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return target{}, err
	}
	objs, err := catalog.RunObjects(ctx, s.st, st, run)
	if err != nil || len(objs) == 0 {
		return target{}, err
	}
	recent := false
	for _, o := range objs {
		if now.Sub(o.LastModified) <= 3*s.cfg.TargetDuration {
			recent = true
		}
	}
	return target{run: run, live: recent}, nil
}

// purge drops what this process cached of the deleted runs: the run and
// stream lists, their manifests and index chunks, and every rendered
// playlist and still (their keys are not known by run; deletes are rare,
// and a render is cheap once the index is cached). Other processes (other
// Lambda copies) keep theirs until they expire: run lists within half a
// target duration, so a deleted recording's playlist stops resolving, but
// a closed playlist rendered there may be served for up to an hour; a CDN
// keeps what it cached until its max-age (closed playlists and segments
// are immutable; 404s are short-cacheable).
func (s *Server) purge(st catalog.Stream, runs, keys []string) {
	s.rd.runLists.Delete(st.String())
	s.rd.streams.Delete("streams")
	for _, run := range runs {
		s.rd.manifests.Delete(st.String() + "/" + run)
		s.rd.chunkKeys.Delete(catalog.IndexPrefix(st, run))
	}
	for _, k := range keys {
		if strings.HasSuffix(k, ".idx") {
			s.rd.chunks.Delete(k)
		}
	}
	s.playlists.Clear()
	s.stills.Clear()
	// The playlist fragments stay: one is used only where the index entries
	// it was made from are served again, and a deleted run has no index.
}

type deleteMetrics struct {
	runs, objects, bytes prometheus.Counter
}

func newDeleteMetrics(reg prometheus.Registerer) *deleteMetrics {
	f := promauto.With(reg)
	return &deleteMetrics{
		runs: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_vodapi_deleted_runs_total", Help: "Runs deleted through the admin API.",
		}),
		objects: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_vodapi_deleted_objects_total", Help: "Objects deleted through the admin API.",
		}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "rewind_vodapi_deleted_bytes_total", Help: "Bytes deleted through the admin API.",
		}),
	}
}
