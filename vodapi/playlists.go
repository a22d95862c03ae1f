package vodapi

// The playlist routes: a wall-clock window, the latest recording, one
// recording, one run; rendered once, compressed per coding, cached.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/vodapi/playlist"
)

// rendered is a playlist ready to send, in one content coding. The identity
// body is rendered once per key; each coding compresses that same body, so
// every coding of a URL lists the same segments.
type rendered struct {
	body         []byte
	coding       string
	etag         string
	life         cacheLife
	keep         time.Duration // how long our own cache keeps it
	lastModified time.Time
	parts        []*part // identity in parts (fragment.go), sent and compressed from them; body is then nil
	size         int     // of body, or of the parts' text
	hdr          *playHeaders
}

// playHeaders are a rendered playlist's header values, made once when it
// is cached rather than on every request (a warm hit is mostly header
// work). The slices are shared by every answer: full (len == cap), so an
// Add on a response's header copies instead of writing into them.
type playHeaders struct {
	contentLength, etag, lastModified, cacheControl, contentEncoding []string
}

var contentTypeM3U8 = []string{"application/vnd.apple.mpegurl"}

// one is v as a full one-element header value.
func one(v string) []string { return []string{v}[:1:1] }

// headers makes r's header values; the Cache-Control is the one without a
// playback token (a token bounds it per request).
func (r *rendered) headers() *playHeaders {
	h := &playHeaders{contentLength: one(strconv.Itoa(r.size)), etag: one(r.etag),
		cacheControl: one(cacheControl(r.life, time.Time{}, time.Time{}))}
	if !r.lastModified.IsZero() {
		h.lastModified = one(r.lastModified.UTC().Format(http.TimeFormat))
	}
	if r.coding != "" {
		h.contentEncoding = one(r.coding)
	}
	return h
}

// write sends the body, or the parts one after the other.
func (r *rendered) write(c echo.Context, hv *playHeaders) error {
	if err := loadTexts(c.Request().Context(), r.parts); err != nil {
		return err
	}
	h := c.Response().Header()
	h["Content-Type"] = contentTypeM3U8
	// A length, not chunked: one write of the body after the header.
	h["Content-Length"] = hv.contentLength
	c.Response().WriteHeader(http.StatusOK)
	return corked(c.Request(), r.size, func() error {
		if r.parts == nil {
			_, err := c.Response().Write(r.body)
			return err
		}
		for _, p := range r.parts {
			if _, err := c.Response().Write(p.body()); err != nil {
				return err
			}
		}
		return nil
	})
}

// cost is what r holds in the playlist cache; shared parts are accounted
// in the fragment cache.
func (r *rendered) cost() int64 {
	n := int64(len(r.body)) + 256
	for _, p := range r.parts {
		n += 128
		if !p.shared {
			n += int64(p.size)
		}
	}
	return n
}

// playlistSpec is what a playlist request resolved to.
type playlistSpec struct {
	runs   []runInfo
	from   time.Time // zero: whole runs
	to     time.Time
	vod    bool   // PLAYLIST-TYPE VOD: a window with an end, complete when asked; else EVENT
	ended  bool   // ENDLIST: nothing more will be appended
	closed bool   // ended, and the URL can never answer anything else: immutable caching
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
	ctx := c.Request().Context()
	accept := accepted(c.Request().Header.Get("Accept-Encoding"))
	if needsTexts(accept) {
		ctx = wantTexts(ctx)
	}
	r, err := s.playlists.Get(ctx, key, func(ctx context.Context) (*rendered, int64, time.Duration, error) {
		spec, err := resolve(ctx)
		if err != nil {
			return nil, 0, 0, err
		}
		r, err := s.render(ctx, st, spec, tok.query)
		if err != nil {
			return nil, 0, 0, err
		}
		return r, r.cost(), r.keep, nil
	})
	if err != nil {
		return err
	}
	if coding := s.pickCoding(key, r, accept); coding != "" {
		if r, err = s.encoded(ctx, key, r, coding); err != nil {
			return err
		}
	}
	hv := r.hdr // made where every rendered is made (render, encoded)
	h := c.Response().Header()
	addVary(h, "Accept-Encoding")
	// Canonical keys, assigned: no canonicalizing or new slices per hit.
	h["Etag"] = hv.etag
	if tok.exp.IsZero() {
		h["Cache-Control"] = hv.cacheControl
	} else {
		s.setCache(h, r.life, tok)
	}
	if hv.lastModified != nil {
		h["Last-Modified"] = hv.lastModified
	}
	if etagMatch(c.Request().Header.Get("If-None-Match"), r.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	if hv.contentEncoding != nil {
		h["Content-Encoding"] = hv.contentEncoding
	}
	return r.write(c, hv)
}

// encoded is the identity playlist id compressed with coding, cached under
// the identity's ETag so that it can only ever hold that same body.
func (s *Server) encoded(ctx context.Context, key string, id *rendered, coding string) (*rendered, error) {
	return s.playlists.Get(ctx, key+"|"+id.etag+"|"+coding, func(ctx context.Context) (*rendered, int64, time.Duration, error) {
		var body []byte
		var err error
		if id.parts != nil {
			body, err = s.encodeParts(ctx, id, coding)
		} else {
			body, err = compress(coding, id.body)
		}
		if err != nil {
			return nil, 0, 0, fmt.Errorf("playlist %s: %w", key, err)
		}
		r := *id
		r.body, r.coding, r.parts, r.size = body, coding, nil, len(body)
		r.etag = strings.TrimSuffix(id.etag, `"`) + "-" + coding + `"`
		r.hdr = r.headers()
		return &r, r.cost(), id.keep, nil
	})
}

// addVary adds token to Vary, keeping what is there: the CORS middleware's
// Origin must stay, or a CDN hands one origin's answer to another. One
// merged line, so that every hop (the Lambda adapter too) sees the same.
func addVary(h http.Header, token string) {
	// The usual case: the CORS middleware's Origin alone.
	if v := h["Vary"]; len(v) == 1 && v[0] == "Origin" && token == "Accept-Encoding" {
		h["Vary"] = varyOriginAE
		return
	}
	var all []string
	for _, v := range h.Values("Vary") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !slices.ContainsFunc(all, func(a string) bool { return strings.EqualFold(a, t) }) {
				all = append(all, t)
			}
		}
	}
	if !slices.ContainsFunc(all, func(a string) bool { return strings.EqualFold(a, token) }) {
		all = append(all, token)
	}
	h.Set("Vary", strings.Join(all, ", "))
}

var varyOriginAE = one("Origin, Accept-Encoding")

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

// render writes the identity playlist of spec, in parts (fragment.go):
// the header, each run's first entry and the chunks a window cuts are
// rendered per request, whole sealed chunks come from the fragment cache.
// With a playback token in the segment URIs nothing is shared (each token
// would fill the cache with its own copy). A playlist with no segment yet
// (the first seconds of a publish) is "no_recordings", like no run.
func (s *Server) render(ctx context.Context, st catalog.Stream, spec playlistSpec, token string) (*rendered, error) {
	wins, lastMod := windowRuns(spec)
	if len(wins) == 0 {
		return nil, notFound("no_recordings", "nothing recorded yet")
	}
	opt := playlist.Options{
		TargetDuration: fixedTarget(spec.runs),
		SegmentURI:     s.segmentURI(st, spec.uriDir, token),
		Type:           playlist.TypeEvent,
		Ended:          spec.ended,
		// Only a VOD playlist is complete when first served; any other
		// may grow and cannot promise it of segments to come.
		NoIndependent: !spec.vod,
	}
	if spec.vod {
		opt.Type = playlist.TypeVOD
	}
	runs := make([]playlist.Run, len(wins))
	for i, w := range wins {
		runs[i] = playlist.Run{ID: w.ri.id, Entries: w.ri.entries[w.lo:w.hi]}
	}
	var c composer
	var err error
	if c.pending, err = playlist.WriteHead(make([]byte, 0, 512), runs, opt); err != nil {
		return nil, fmt.Errorf("write playlist: %w", err)
	}
	var ff *fragForm
	if token == "" {
		ff = s.newFragForm(st, spec.uriDir)
	}
	if err := s.prefetchParts(ctx, wins, ff); err != nil {
		return nil, fmt.Errorf("write playlist: %w", err)
	}
	lead := playlist.LeadFirst
	for _, w := range wins {
		if err := s.writeRun(ctx, &c, w.ri, w.lo, w.hi, lead, opt.SegmentURI, ff); err != nil {
			return nil, fmt.Errorf("write playlist: %w", err)
		}
		lead = playlist.LeadRun
	}
	if opt.Ended {
		c.pending = append(c.pending, playlist.EndList...)
	}
	c.flush()
	size := 0
	for _, p := range c.parts {
		size += p.size
	}
	r := &rendered{parts: c.parts, size: size, lastModified: lastMod, etag: c.etag(),
		life: s.liveLife(), keep: max(s.cfg.TargetDuration/2, time.Millisecond)} // 0 would keep it for good
	if spec.closed {
		r.life, r.keep = forever, time.Hour
	}
	r.hdr = r.headers()
	return r, nil
}

// window is the part [lo, hi) of a run's entries inside a playlist.
type window struct {
	ri     *runInfo
	lo, hi int
}

// windowRuns cuts each run's entries to the spec's window and returns the
// runs that keep any, with the end of the last segment.
func windowRuns(spec playlistSpec) ([]window, time.Time) {
	var wins []window
	var lastMod time.Time
	for i := range spec.runs {
		ri := &spec.runs[i]
		entries := ri.entries
		lo, hi := 0, len(entries)
		if !spec.from.IsZero() {
			for lo < hi && entries[lo].EndMS() <= spec.from.UnixMilli() {
				lo++
			}
			for hi > lo && entries[hi-1].StartMS >= spec.to.UnixMilli() {
				hi--
			}
		}
		if lo == hi {
			continue
		}
		if e := time.UnixMilli(entries[hi-1].EndMS()); e.After(lastMod) {
			lastMod = e
		}
		wins = append(wins, window{ri: ri, lo: lo, hi: hi})
	}
	return wins, lastMod
}

// fixedTarget is EXT-X-TARGETDURATION for the playlist's whole life, from
// what bounds every segment rather than from the longest one seen so far:
// the recorder's hard cut, which lands on the first frame at or past it, so
// one second more covers that frame at any rate above 1 fps once the
// duration is rounded up. Runs joined from nodes with different settings
// take the largest.
func fixedTarget(runs []runInfo) time.Duration {
	var d time.Duration
	for _, ri := range runs {
		d = max(d, ri.manifest.MaxSegmentDuration())
	}
	return (d + time.Second - 1).Truncate(time.Second) + time.Second
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

// Closure. A playlist gets ENDLIST only when nothing can be appended to it
// any more, and immutable caching only when, on top of that, its URL can
// never answer anything else:
//
//   - a run can still grow until it is finished (finishedRun);
//   - a recording can still be joined by a new run until the reconnect
//     window has passed since its last run ended, plus arrivalSlack for a
//     run that started in time but is not visible in the store yet;
//   - the latest recording and an open-ended window end with their
//     recording, but their URL moves on to the next publish: ENDLIST with
//     short caching, never immutable;
//   - a window with an end is complete once that end has passed and every
//     run in it is finished or already indexed past the end.
//
// The playlist type follows the URL, not the moment: every URL that can
// be live (latest, open-ended, recordings, runs) is EVENT for its whole
// life and only appends, ENDLIST last (RFC 8216 6.2.1); VOD is only for a
// window with an end that is complete when asked.

// windowComplete says whether the window [.., end] can still change.
func windowComplete(runs []runInfo, end, now time.Time) bool {
	if len(runs) == 0 || now.Sub(end) <= arrivalSlack(runs[len(runs)-1]) {
		return false
	}
	for _, ri := range runs {
		// A run indexed past the end has all its segments of the window:
		// the index grows in order.
		if !ri.finished && !ri.end.After(end) {
			return false
		}
	}
	return true
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
			return s.latestSpec(ctx, st, now)
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
	// "window|{stream}|{start ms}|{end ms, or empty}", in one allocation.
	kb := append(append(append(append(make([]byte, 0, 64), "window|"...), st.App...), '/'), st.Name...)
	kb = strconv.AppendInt(append(kb, '|'), start.UnixMilli(), 10)
	kb = append(kb, '|')
	if hasEnd {
		kb = strconv.AppendInt(kb, end.UnixMilli(), 10)
	}
	key := string(kb)
	return s.servePlaylist(c, st, key, func(ctx context.Context) (playlistSpec, error) {
		runs, err := s.rd.runsIn(ctx, st, start, end, now, s.cfg.ReconnectWindow)
		if err != nil {
			return playlistSpec{}, err
		}
		if len(runs) == 0 {
			return playlistSpec{}, notFound("no_recordings", "nothing recorded in that window")
		}
		spec := playlistSpec{runs: runs, from: start, to: end}
		if hasEnd {
			spec.vod = windowComplete(runs, end, now)
			spec.ended, spec.closed = spec.vod, spec.vod
		} else {
			spec.ended = s.recordingEnded(runs, now)
		}
		return spec, nil
	})
}

// latestSpec is the newest recording: it ends with its recording, but its
// URL then moves on to the next one, so it is never closed.
func (s *Server) latestSpec(ctx context.Context, st catalog.Stream, now time.Time) (playlistSpec, error) {
	ids, err := s.rd.listRuns(ctx, st)
	if err != nil {
		return playlistSpec{}, err
	}
	// A run is listed from its first segment on, and has a run.json just
	// before it is indexed: start from the newest that has one.
	for i := len(ids) - 1; i >= 0; i-- {
		if catalog.ValidRunID(ids[i]) != nil {
			continue
		}
		runs, err := s.recordingFrom(ctx, st, ids, i, now, true)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return playlistSpec{}, err
		}
		return playlistSpec{runs: runs, ended: s.recordingEnded(runs, now)}, nil
	}
	return playlistSpec{}, notFound("no_recordings", "stream "+st.String()+" has no recordings")
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
		return playlistSpec{runs: []runInfo{ri}, ended: ri.finished, closed: ri.finished, uriDir: "../../"}, nil
	})
}

func (s *Server) recordingPlaylist(c echo.Context) error {
	st, id, err := s.streamRun(c, "id")
	if err != nil {
		return err
	}
	return s.servePlaylist(c, st, "rec|"+st.String()+"|"+id, func(ctx context.Context) (playlistSpec, error) {
		return s.recordingSpec(ctx, st, id)
	})
}
