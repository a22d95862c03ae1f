package vodapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
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
	if _, err := s.clipCredential(c); err != nil {
		return err
	}
	ikey := c.Request().Header.Get("Idempotency-Key")
	if len(ikey) > maxIdempotencyKey || strings.ContainsFunc(ikey, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return badRequest("bad_idempotency_key", "Idempotency-Key must be at most 255 printable ASCII characters")
	}
	req, err := s.parseClip(c)
	if err != nil {
		return err
	}
	st, _ := catalog.ParseStream(req.Stream)
	tok, err := s.clipAccess(c, st)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var job *catalog.ClipJob
	replayed := false
	if ikey == "" {
		job, err = s.submitNew(ctx, st, req)
	} else {
		job, replayed, err = s.submitOnce(ctx, st, req, ikey)
	}
	if err != nil {
		return err
	}
	if replayed {
		if !reflect.DeepEqual(job.Request, req) {
			return &apiError{http.StatusUnprocessableEntity, "idempotency_mismatch",
				"this Idempotency-Key was used for a different request"}
		}
		c.Response().Header().Set("Idempotent-Replayed", "true")
	}
	return s.accepted(c, job, tok)
}

// submitNew submits a request without an Idempotency-Key: a new job.
func (s *Server) submitNew(ctx context.Context, st catalog.Stream, req catalog.ClipRequest) (*catalog.ClipJob, error) {
	job, err := s.newJob(ctx, st, req, "")
	if err != nil {
		return nil, err
	}
	return job, s.enqueue(ctx, job)
}

// submitOnce submits the request once per Idempotency-Key and stream: the
// job the key already made (replayed), or a new one.
//
// Ids are random; the record clips/idem/{hash}.json ties the key to its
// job. The job document is written before the record, so a record always
// names a written job unless that job was removed again (not queued): such
// a dead record is overwritten. Two submits on this API copy are
// serialized by a lock. Two on different copies both write the record and
// read it back: whoever reads the other's id drops its own document and
// answers that job. Both can still win when one reads back before the
// other writes; closing that needs a conditional put (S3 If-None-Match),
// which the store does not offer.
func (s *Server) submitOnce(ctx context.Context, st catalog.Stream, req catalog.ClipRequest, ikey string) (*catalog.ClipJob, bool, error) {
	unlock := s.idem.lock(catalog.ClipIdemKey(st, ikey))
	defer unlock()
	if prev, err := s.keyJob(ctx, st, ikey); err != nil || prev != nil {
		return prev, prev != nil, err
	}
	job, err := s.newJob(ctx, st, req, ikey)
	if err != nil {
		return nil, false, err
	}
	winner, err := s.claimKey(ctx, st, ikey, job.ID)
	if err == nil && winner != job.ID {
		s.dropJob(ctx, job.ID, "another submit with its key won")
		prev, err := catalog.ReadClipJob(ctx, s.st, winner)
		return prev, true, err
	}
	if err != nil {
		s.dropJob(ctx, job.ID, "its key was not recorded")
		return nil, false, err
	}
	return job, false, s.enqueue(ctx, job)
}

// keyJob is the live job the key made on st, nil when there is none (no
// record, or a dead one: its job was never written or was removed).
func (s *Server) keyJob(ctx context.Context, st catalog.Stream, ikey string) (*catalog.ClipJob, error) {
	rec, err := catalog.ReadClipIdem(ctx, s.st, st, ikey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case errors.Is(err, catalog.ErrBadClipJob):
		s.log.Warn("unreadable idempotency record, replaced", "stream", st.String(), "err", err)
		return nil, nil
	case err != nil:
		return nil, err
	}
	job, err := catalog.ReadClipJob(ctx, s.st, rec.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case job.IdempotencyKey != ikey || job.Request.Stream != st.String():
		return nil, nil // not the key's job: the record is not to be trusted
	}
	return job, nil
}

// claimKey records that the key made job id and returns the job the record
// names once written: id, or that of a concurrent submit on another copy.
func (s *Server) claimKey(ctx context.Context, st catalog.Stream, ikey, id string) (string, error) {
	// Another copy may have recorded the key while this one resolved the
	// parts: its live job wins.
	if prev, err := s.keyJob(ctx, st, ikey); err != nil || prev != nil {
		if prev != nil {
			return prev.ID, nil
		}
		return "", err
	}
	if err := catalog.WriteClipIdem(ctx, s.st, st, ikey, catalog.ClipIdem{ID: id, CreatedAt: s.now().UTC()}); err != nil {
		return "", err
	}
	rec, err := catalog.ReadClipIdem(ctx, s.st, st, ikey)
	if err != nil {
		return "", fmt.Errorf("read back idempotency record: %w", err)
	}
	return rec.ID, nil
}

// newJob resolves the request against the index and writes its document
// under a new random id.
func (s *Server) newJob(ctx context.Context, st catalog.Stream, req catalog.ClipRequest, ikey string) (*catalog.ClipJob, error) {
	parts, err := s.clipParts(ctx, st, req.Start, req.End)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	job := &catalog.ClipJob{ID: catalog.NewClipID(), Status: catalog.ClipQueued, Request: req, Parts: parts,
		IdempotencyKey: ikey, CreatedAt: now, UpdatedAt: now}
	if err := catalog.WriteClipJob(ctx, s.st, job); err != nil {
		return nil, err
	}
	return job, nil
}

// enqueue queues a written job.
func (s *Server) enqueue(ctx context.Context, job *catalog.ClipJob) error {
	if _, err := s.cfg.Jobs.Send(ctx, catalog.EncodeClipMessage(job.ID)); err != nil {
		// Not queued: remove the document so a retry with the same key
		// submits afresh (its record is then dead) instead of finding a
		// job nobody will run.
		s.dropJob(ctx, job.ID, "not queued")
		s.log.Error("queue clip", "clip", job.ID, "err", err)
		return &apiError{http.StatusServiceUnavailable, "queue_unavailable", "the job queue is unavailable; retry later"}
	}
	s.m.clips.Inc()
	return nil
}

// dropJob removes the document of a job that will not be queued.
func (s *Server) dropJob(ctx context.Context, id, why string) {
	if err := s.st.Delete(context.WithoutCancel(ctx), catalog.ClipJobKey(id)); err != nil {
		s.log.Error("clip document not removed", "clip", id, "why", why, "err", err)
	}
}

// idemLocks serialize the submits of one Idempotency-Key on this copy of
// the API (striped: unrelated keys may share a lock, briefly).
type idemLocks [64]sync.Mutex

func (l *idemLocks) lock(key string) (unlock func()) {
	h := fnv.New32a()
	h.Write([]byte(key))
	m := &l[h.Sum32()%uint32(len(l))]
	m.Lock()
	return m.Unlock
}

func (s *Server) accepted(c echo.Context, j *catalog.ClipJob, tok playToken) error {
	h := c.Response().Header()
	h.Set("Location", tok.on(catalog.ClipStatusPath(j.ID)))
	s.setCache(h, noStore, tok)
	return c.JSON(http.StatusAccepted, map[string]string{
		"id": j.ID, "status": j.Status, "status_url": tok.on(s.cfg.PublicURL + catalog.ClipStatusPath(j.ID))})
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
	// One JSON object and nothing after it: a body with trailing bytes is
	// not what the client meant to send (two requests glued, a cut-off
	// proxy rewrite), so it is refused rather than half read.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, badRequest("bad_body", "body must be one JSON clip request with nothing after it")
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

// clipJob reads the job named in the path and checks that the request may
// see it: the credential is checked against the stream the job was cut
// from, so a token for one stream opens no clip of another.
func (s *Server) clipJob(c echo.Context) (*catalog.ClipJob, playToken, error) {
	if _, err := s.clipCredential(c); err != nil {
		return nil, playToken{}, err
	}
	id := c.Param("id")
	if err := catalog.ValidClipID(id); err != nil {
		return nil, playToken{}, badRequest("bad_clip_id", err.Error())
	}
	j, err := catalog.ReadClipJob(c.Request().Context(), s.st, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, playToken{}, notFound("no_clip", "no clip "+id)
	}
	if err != nil {
		return nil, playToken{}, err
	}
	st, err := catalog.ParseStream(j.Request.Stream)
	if err != nil {
		return nil, playToken{}, fmt.Errorf("clip %s: %w", id, err)
	}
	tok, err := s.clipAccess(c, st)
	if err != nil {
		return nil, playToken{}, err
	}
	return j, tok, nil
}

func (s *Server) getClip(c echo.Context) error {
	j, tok, err := s.clipJob(c)
	if err != nil {
		return err
	}
	life := noStore
	if j.Done() {
		life = cacheLife{maxAge: time.Minute, private: true}
	}
	s.setCache(c.Response().Header(), life, tok)
	v := j.View(s.cfg.PublicURL)
	v.StatusURL = tok.on(v.StatusURL)
	if v.Output != nil {
		v.Output.URL = tok.on(v.Output.URL)
	}
	return c.JSON(http.StatusOK, v)
}

// finished returns the job when its output exists.
func (s *Server) finished(c echo.Context) (*catalog.ClipJob, playToken, error) {
	j, tok, err := s.clipJob(c)
	if err != nil {
		return nil, tok, err
	}
	if j.Status != catalog.ClipSucceeded || j.Output == nil {
		return nil, tok, &apiError{http.StatusConflict, "clip_not_ready", "clip " + j.ID + " is " + j.Status}
	}
	return j, tok, nil
}

// clipOutput answers the clip: a redirect to the CDN or a presigned URL
// when there is one, else the file itself with Range. An HLS playlist is
// always answered here, so its relative segment URIs come back to clipFile.
func (s *Server) clipOutput(c echo.Context) error {
	j, tok, err := s.finished(c)
	if err != nil {
		return err
	}
	if isClipHLS(j) {
		return s.serveClipHLS(c, j, tok)
	}
	if j.Request.Format == catalog.FormatHLS && s.cfg.SegmentBaseURL == "" {
		life := cacheLife{maxAge: time.Minute, private: true}
		if tok.query == "" {
			return s.serveObject(c, j.Output.Key, life, tok)
		}
		return s.serveClipPlaylist(c, j.Output.Key, life, tok)
	}
	return s.redirectOrServe(c, j.Output.Key, tok)
}

// maxClipPlaylist bounds an HLS clip playlist read (a 3 h clip of 2 s
// segments is well under it).
const maxClipPlaylist = 1 << 20

// serveClipPlaylist answers an HLS clip's playlist with the play token on
// every segment URI, as replay playlists carry it, so a player that opened
// the playlist with it also gets the segments.
func (s *Server) serveClipPlaylist(c echo.Context, key string, life cacheLife, tok playToken) error {
	rc, _, err := s.st.Get(c.Request().Context(), key, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxClipPlaylist+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if len(raw) > maxClipPlaylist {
		return fmt.Errorf("read %s: playlist larger than %d bytes", key, maxClipPlaylist)
	}
	return s.sendTagged(c, store.ContentTypeFor(key), tokenURIs(raw, tok), life, tok)
}

// tokenURIs adds the token to every URI line of a media playlist. The
// editor's playlists (libav's hls muxer, MPEG-TS segments) name segments
// on their own lines and have no URI attributes (no EXT-X-MAP, no keys).
func tokenURIs(playlist []byte, tok playToken) []byte {
	lines := strings.Split(string(playlist), "\n")
	for i, l := range lines {
		if u := strings.TrimRight(l, "\r"); u != "" && !strings.HasPrefix(u, "#") {
			lines[i] = tok.on(u) + l[len(u):]
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

// clipFile serves an HLS clip's segments (names as the editor writes them).
func (s *Server) clipFile(c echo.Context) error {
	name := c.Param("file")
	j, tok, err := s.finished(c)
	if err != nil {
		return err
	}
	dir, _ := strings.CutSuffix(j.Output.Key, "index.m3u8")
	if isClipHLS(j) {
		dir = catalog.ClipHLSFileKey(j.ID, "")
	}
	if j.Request.Format != catalog.FormatHLS || dir == j.Output.Key || !validClipFile(name) {
		return notFound("no_file", "clip "+j.ID+" has no file "+strconv.Quote(name))
	}
	return s.redirectOrServe(c, dir+name, tok)
}

// validClipFile accepts what the editor names HLS segments: seg_NNNNN.ts.
func validClipFile(name string) bool { return catalog.ValidClipHLSFile(name) }
