package vodapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
)

// Clip jobs: POST validates and resolves the request against the index, so
// a bad request is a 4xx here and never a failed job; the editor worker
// then owns the job document.

const (
	maxClipBody       = 64 << 10
	maxIdempotencyKey = 255
	presignTTL        = time.Hour
	clockSkew         = 10 * time.Second
)

// clipBody is the POST /v1/clips body as sent; times are strings or numbers.
type clipBody struct {
	Stream     string                 `json:"stream"`
	Start      json.RawMessage        `json:"start"`
	End        json.RawMessage        `json:"end"`
	Format     string                 `json:"format"`
	Mode       string                 `json:"mode"`
	Transcode  *catalog.ClipTranscode `json:"transcode"`
	WebhookURL string                 `json:"webhook_url"`
}

func (s *Server) clipRoutes(e *echo.Echo) {
	e.POST("/v1/clips", s.createClip)
	e.GET("/v1/clips/:id", s.getClip)
	e.GET("/v1/clips/:id/output", s.clipOutput)
	e.HEAD("/v1/clips/:id/output", s.clipOutput)
	e.GET("/v1/clips/:id/:file", s.clipFile)
	e.HEAD("/v1/clips/:id/:file", s.clipFile)
}

func (s *Server) createClip(c echo.Context) error {
	if s.cfg.Jobs == nil {
		return &apiError{http.StatusServiceUnavailable, "clips_disabled", "this API has no job queue configured"}
	}
	ikey := c.Request().Header.Get("Idempotency-Key")
	if len(ikey) > maxIdempotencyKey || strings.ContainsFunc(ikey, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return badRequest("bad_idempotency_key", "Idempotency-Key must be at most 255 printable ASCII characters")
	}
	req, err := s.parseClip(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	id := catalog.NewClipID()
	if ikey != "" {
		id = catalog.IdempotentClipID(ikey)
		prev, err := catalog.ReadClipJob(ctx, s.st, id)
		switch {
		case err == nil:
			if !reflect.DeepEqual(prev.Request, req) {
				return &apiError{http.StatusUnprocessableEntity, "idempotency_mismatch",
					"this Idempotency-Key was used for a different request"}
			}
			c.Response().Header().Set("Idempotent-Replayed", "true")
			return s.accepted(c, prev)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	st, _ := catalog.ParseStream(req.Stream)
	parts, err := s.clipParts(ctx, st, req.Start, req.End)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	job := &catalog.ClipJob{ID: id, Status: catalog.ClipQueued, Request: req, Parts: parts,
		IdempotencyKey: ikey, CreatedAt: now, UpdatedAt: now}
	if err := catalog.WriteClipJob(ctx, s.st, job); err != nil {
		return err
	}
	if _, err := s.cfg.Jobs.Send(ctx, catalog.EncodeClipMessage(id)); err != nil {
		// Not queued: remove the document so a retry with the same key
		// submits afresh instead of finding a job nobody will run.
		if derr := s.st.Delete(context.WithoutCancel(ctx), catalog.ClipJobKey(id)); derr != nil {
			s.log.Error("clip not queued and its document not removed", "clip", id, "err", derr)
		}
		s.log.Error("queue clip", "clip", id, "err", err)
		return &apiError{http.StatusServiceUnavailable, "queue_unavailable", "the job queue is unavailable; retry later"}
	}
	s.m.clips.Inc()
	return s.accepted(c, job)
}

func (s *Server) accepted(c echo.Context, j *catalog.ClipJob) error {
	h := c.Response().Header()
	h.Set("Location", catalog.ClipStatusPath(j.ID))
	s.setCache(h, noStore, playToken{})
	return c.JSON(http.StatusAccepted, map[string]string{
		"id": j.ID, "status": j.Status, "status_url": s.cfg.PublicURL + catalog.ClipStatusPath(j.ID)})
}

// parseClip reads and validates the body; every failure is a 4xx.
func (s *Server) parseClip(c echo.Context) (catalog.ClipRequest, error) {
	var req catalog.ClipRequest
	raw, err := io.ReadAll(io.LimitReader(c.Request().Body, maxClipBody+1))
	if err != nil {
		return req, badRequest("bad_body", "read body: "+err.Error())
	}
	if len(raw) > maxClipBody {
		return req, &apiError{http.StatusRequestEntityTooLarge, "body_too_large", "the body is larger than 64 KiB"}
	}
	var b clipBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return req, badRequest("bad_body", "body must be a JSON clip request: "+err.Error())
	}
	st, err := catalog.ParseStream(b.Stream)
	if err != nil {
		return req, badRequest("bad_stream", err.Error())
	}
	if req.Start, err = jsonTime(b.Start); err != nil {
		return req, badRequest("bad_time", "start: "+err.Error())
	}
	if req.End, err = jsonTime(b.End); err != nil {
		return req, badRequest("bad_time", "end: "+err.Error())
	}
	if !req.End.After(req.Start) {
		return req, badRequest("bad_window", "end must be after start")
	}
	if req.End.Sub(req.Start) > s.cfg.MaxClip {
		return req, badRequest("clip_too_long", fmt.Sprintf("a clip is at most %s", s.cfg.MaxClip))
	}
	// Node clocks lead or lag a little (a run's media clock is anchored
	// at its node): a few seconds ahead is skew, more is the future.
	if req.End.After(s.now().Add(clockSkew)) {
		return req, badRequest("bad_window", "end is in the future")
	}
	req.Stream, req.Format, req.Mode = st.String(), b.Format, b.Mode
	if req.Format == "" {
		req.Format = catalog.FormatMP4
	}
	if req.Mode == "" {
		req.Mode = catalog.ModeCopy
	}
	switch req.Format {
	case catalog.FormatMP4, catalog.FormatTS, catalog.FormatHLS:
	default:
		return req, badRequest("bad_format", "format must be mp4, ts or hls")
	}
	switch req.Mode {
	case catalog.ModeCopy, catalog.ModeAccurate:
	default:
		return req, badRequest("bad_mode", "mode must be copy or accurate")
	}
	if t := b.Transcode; t != nil {
		if t.Height < 32 || t.Height > 4320 || t.Height%2 != 0 {
			return req, badRequest("bad_transcode", "transcode.height must be even, 32 to 4320")
		}
		if t.VideoBitrate != 0 && (t.VideoBitrate < 50_000 || t.VideoBitrate > 100_000_000) {
			return req, badRequest("bad_transcode", "transcode.video_bitrate must be 50000 to 100000000 bit/s")
		}
		if t.AudioBitrate != 0 && (t.AudioBitrate < 16_000 || t.AudioBitrate > 512_000) {
			return req, badRequest("bad_transcode", "transcode.audio_bitrate must be 16000 to 512000 bit/s")
		}
		req.Transcode = t
	}
	if b.WebhookURL != "" {
		u, err := url.Parse(b.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(b.WebhookURL) > 2048 {
			return req, badRequest("bad_webhook_url", "webhook_url must be an absolute http(s) URL")
		}
		// Visibly internal targets (loopback, metadata, private ranges,
		// localhost, user:password) are refused here; names are not
		// resolved: the editor checks the address it actually dials.
		if err := s.cfg.WebhookGuard.CheckURL(b.WebhookURL); err != nil {
			return req, badRequest("bad_webhook_url", "webhook_url: "+err.Error()+
				" (webhooks go only to public addresses unless the operator allows more with --webhook-allow)")
		}
		req.WebhookURL = b.WebhookURL
	}
	return req, nil
}

// jsonTime reads a time given as a JSON string (RFC 3339 or unix seconds)
// or a JSON number (unix seconds).
func jsonTime(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, errors.New("missing")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
		return ParseTime(s)
	}
	return ParseTime(string(raw))
}

// clipParts picks the segments of every run that overlap [start, end).
func (s *Server) clipParts(ctx context.Context, st catalog.Stream, start, end time.Time) ([]catalog.ClipPart, error) {
	runs, err := s.rd.runsIn(ctx, st, start, end, s.now(), s.cfg.ReconnectWindow)
	if err != nil {
		return nil, err
	}
	var parts []catalog.ClipPart
	for _, r := range runs {
		if p, ok := catalog.PartOf(r.id, r.entries, start, end); ok {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return nil, notFound("no_recording", "nothing of "+st.String()+" is recorded between start and end")
	}
	return parts, nil
}

func (s *Server) clipJob(c echo.Context) (*catalog.ClipJob, error) {
	id := c.Param("id")
	if err := catalog.ValidClipID(id); err != nil {
		return nil, badRequest("bad_clip_id", err.Error())
	}
	j, err := catalog.ReadClipJob(c.Request().Context(), s.st, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no_clip", "no clip "+id)
	}
	return j, err
}

func (s *Server) getClip(c echo.Context) error {
	j, err := s.clipJob(c)
	if err != nil {
		return err
	}
	life := noStore
	if j.Done() {
		life = cacheLife{maxAge: time.Minute, private: true}
	}
	s.setCache(c.Response().Header(), life, playToken{})
	return c.JSON(http.StatusOK, j.View(s.cfg.PublicURL))
}

// finished returns the job when its output exists.
func (s *Server) finished(c echo.Context) (*catalog.ClipJob, error) {
	j, err := s.clipJob(c)
	if err != nil {
		return nil, err
	}
	if j.Status != catalog.ClipSucceeded || j.Output == nil {
		return nil, &apiError{http.StatusConflict, "clip_not_ready", "clip " + j.ID + " is " + j.Status}
	}
	return j, nil
}

// clipOutput answers the clip: a redirect to the CDN or a presigned URL
// when there is one, else the file itself with Range. An HLS playlist is
// always answered here, so its relative segment URIs come back to clipFile.
func (s *Server) clipOutput(c echo.Context) error {
	j, err := s.finished(c)
	if err != nil {
		return err
	}
	if j.Request.Format == catalog.FormatHLS && s.cfg.SegmentBaseURL == "" {
		return s.serveObject(c, j.Output.Key, cacheLife{maxAge: time.Minute, private: true}, playToken{})
	}
	return s.redirectOrServe(c, j.Output.Key)
}

// clipFile serves an HLS clip's segments (names as the editor writes them).
func (s *Server) clipFile(c echo.Context) error {
	name := c.Param("file")
	j, err := s.finished(c)
	if err != nil {
		return err
	}
	dir, _ := strings.CutSuffix(j.Output.Key, "index.m3u8")
	if j.Request.Format != catalog.FormatHLS || dir == j.Output.Key || !validClipFile(name) {
		return notFound("no_file", "clip "+j.ID+" has no file "+strconv.Quote(name))
	}
	return s.redirectOrServe(c, dir+name)
}

// validClipFile accepts what the editor names HLS segments: seg_NNNNN.ts.
func validClipFile(name string) bool {
	num, ok := strings.CutPrefix(name, "seg_")
	if num, ok = strings.CutSuffix(num, ".ts"); !ok || len(num) < 5 || len(num) > 9 {
		return false
	}
	_, err := strconv.ParseUint(num, 10, 32)
	return err == nil
}
