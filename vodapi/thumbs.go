package vodapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewind-vod/rewind/catalog"
)

// Thumbnails and scrubbing sprites are rendered on demand from the recorded
// segments and cached; the rendering is libav (the editor's), which cmd
// wires in cgo builds. Without it these routes answer 501.

// Thumbnailer renders stills from MPEG-TS segments.
type Thumbnailer interface {
	// Frame is a JPEG of the keyframe at or before at (an offset from the
	// segment's first frame), width wide (0: the source width).
	Frame(ctx context.Context, segment []byte, at time.Duration, width int) ([]byte, error)
	// Sprite lays the tiles' frames out left to right, top to bottom,
	// tileWidth wide, columns per row, in one JPEG.
	Sprite(ctx context.Context, tiles []Tile, tileWidth, columns int) ([]byte, error)
}

// Tile is one cell of a sprite sheet.
type Tile struct {
	Segment []byte
	At      time.Duration
}

const (
	spriteColumns  = 10
	spriteRows     = 10
	spriteTileW    = 160
	defaultEvery   = 10 * time.Second
	maxThumbWidth  = 3840
	thumbQuantum   = time.Second // thumbnail times are rounded down to this, for cache hits
	maxSpriteSheet = 100_000
)

func (s *Server) thumbRoutes(e *echo.Echo) {
	e.GET("/v1/streams/:app/:name/thumbnail.jpg", s.thumbnail)
	e.GET("/v1/streams/:app/:name/recordings/:id/thumbnails.vtt", s.thumbnailTrack)
	e.GET("/v1/streams/:app/:name/recordings/:id/sprites/:sheet", s.spriteSheet)
}

// stillsFor checks that stills can be made and may be seen.
func (s *Server) stillsFor(c echo.Context, st catalog.Stream) (Thumbnailer, playToken, error) {
	if s.cfg.Thumbs == nil {
		return nil, playToken{}, &apiError{http.StatusNotImplemented, "thumbnails_unavailable", "this API was built without the editor (libav); thumbnails are off"}
	}
	tok, err := s.checkPlayback(c, st)
	return s.cfg.Thumbs, tok, err
}

// at finds the segment holding t and t's offset in it.
func at(runs []runInfo, t time.Time) (run string, e catalog.Entry, off time.Duration, ok bool) {
	ms := t.UnixMilli()
	for _, r := range runs {
		i, found := slices.BinarySearchFunc(r.entries, ms, func(e catalog.Entry, ms int64) int {
			switch {
			case e.EndMS() <= ms:
				return -1
			case e.StartMS > ms:
				return 1
			}
			return 0
		})
		if found {
			e := r.entries[i]
			return r.id, e, time.Duration(ms-e.StartMS) * time.Millisecond, true
		}
	}
	return "", catalog.Entry{}, 0, false
}

func (s *Server) thumbnail(c echo.Context) error {
	st, err := s.stream(c)
	if err != nil {
		return err
	}
	th, tok, err := s.stillsFor(c, st)
	if err != nil {
		return err
	}
	t, err := ParseTime(c.QueryParam("at"))
	if err != nil {
		return badRequest("bad_time", "at: "+err.Error())
	}
	t = t.Truncate(thumbQuantum)
	width, err := widthParam(c.QueryParam("width"), 0)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	runs, err := s.rd.runsIn(ctx, st, t, t.Add(time.Millisecond), s.now(), 0)
	if err != nil {
		return err
	}
	run, e, off, ok := at(runs, t)
	if !ok {
		return notFound("no_recording", "nothing of "+st.String()+" is recorded at that time")
	}
	key := fmt.Sprintf("thumb|%s|%s|%d|%d|%d", st, run, e.Seq, off.Milliseconds(), width)
	jpg, err := s.stills.Get(ctx, key, func(ctx context.Context) ([]byte, int64, time.Duration, error) {
		seg, err := s.readSegment(ctx, st, run, e.Seq)
		if err != nil {
			return nil, 0, 0, err
		}
		b, err := th.Frame(ctx, seg, off, width)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("thumbnail of %s: %w", catalog.SegmentKey(st, run, e.Seq), err)
		}
		return b, int64(len(b)), 0, nil
	})
	if err != nil {
		return err
	}
	return s.sendImage(c, jpg, forever, tok) // a recorded frame never changes
}

func widthParam(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	w, err := strconv.Atoi(v)
	if err != nil || w < 16 || w > maxThumbWidth || w%2 != 0 {
		return 0, badRequest("bad_width", "width must be even, 16 to 3840")
	}
	return w, nil
}

func (s *Server) readSegment(ctx context.Context, st catalog.Stream, run string, seq uint64) ([]byte, error) {
	return s.readObject(ctx, catalog.SegmentKey(st, run, seq))
}

func (s *Server) sendImage(c echo.Context, jpg []byte, life cacheLife, tok playToken) error {
	return s.sendTagged(c, "image/jpeg", jpg, life, tok)
}

// spriteLayout is the scrubbing track of one recording: a tile every
// `every`, spriteColumns x spriteRows tiles per sheet.
type spriteLayout struct {
	start, end time.Time
	every      time.Duration
	tileW      int
	tileH      int
}

func (l spriteLayout) tiles() int {
	return int((l.end.Sub(l.start) + l.every - 1) / l.every)
}

func (s *Server) layout(c echo.Context, spec playlistSpec) (spriteLayout, error) {
	l := spriteLayout{every: defaultEvery, tileW: spriteTileW}
	if v := c.QueryParam("every"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 600 {
			return l, badRequest("bad_every", "every must be 1 to 600 (seconds)")
		}
		l.every = time.Duration(n) * time.Second
	}
	first, last := spec.runs[0], spec.runs[len(spec.runs)-1]
	l.start, l.end = first.start, last.end
	v := first.manifest.Video
	if v == nil || v.Width <= 0 || v.Height <= 0 {
		return l, notFound("no_video", "the recording has no video")
	}
	l.tileH = max(2, (l.tileW*v.Height/v.Width+1)&^1)
	if l.tiles() > maxSpriteSheet*spriteColumns*spriteRows {
		return l, badRequest("bad_every", "too many tiles; ask for a larger every")
	}
	return l, nil
}

// thumbnailTrack is the WebVTT scrubbing track: one cue per tile, pointing
// into the sprite sheets with a media fragment (#xywh), as players expect.
func (s *Server) thumbnailTrack(c echo.Context) error {
	st, id, err := s.streamRun(c, "id")
	if err != nil {
		return err
	}
	_, tok, err := s.stillsFor(c, st)
	if err != nil {
		return err
	}
	spec, err := s.recordingSpec(c.Request().Context(), st, id)
	if err != nil {
		return err
	}
	l, err := s.layout(c, spec)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("WEBVTT\n\n")
	perSheet := spriteColumns * spriteRows
	query := ""
	if v := c.QueryParam("every"); v != "" {
		query = "?every=" + v
	}
	if tok.query != "" {
		query = joinQuery(query, strings.TrimPrefix(tok.query, "?"))
	}
	for k := range l.tiles() {
		from := time.Duration(k) * l.every
		to := min(from+l.every, l.end.Sub(l.start))
		cell := k % perSheet
		fmt.Fprintf(&b, "%s --> %s\nsprites/%d.jpg%s#xywh=%d,%d,%d,%d\n\n", vttTime(from), vttTime(to), k/perSheet, query,
			(cell%spriteColumns)*l.tileW, (cell/spriteColumns)*l.tileH, l.tileW, l.tileH)
	}
	life := forever
	if !spec.closed {
		life = s.liveLife()
	}
	s.setCache(c.Response().Header(), life, tok)
	return c.Blob(http.StatusOK, "text/vtt; charset=utf-8", []byte(b.String()))
}

func joinQuery(q, kv string) string {
	if q == "" {
		return "?" + kv
	}
	return q + "&" + kv
}

func vttTime(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3_600_000, ms/60_000%60, ms/1000%60, ms%1000)
}

// spriteSheet renders sheet n of a recording's scrubbing track.
func (s *Server) spriteSheet(c echo.Context) error {
	st, id, err := s.streamRun(c, "id")
	if err != nil {
		return err
	}
	th, tok, err := s.stillsFor(c, st)
	if err != nil {
		return err
	}
	num, ok := strings.CutSuffix(c.Param("sheet"), ".jpg")
	n, perr := strconv.Atoi(num)
	if !ok || perr != nil || n < 0 || n >= maxSpriteSheet {
		return badRequest("bad_sheet", "sheet must be {n}.jpg")
	}
	ctx := c.Request().Context()
	spec, err := s.recordingSpec(ctx, st, id)
	if err != nil {
		return err
	}
	l, err := s.layout(c, spec)
	if err != nil {
		return err
	}
	perSheet := spriteColumns * spriteRows
	first := n * perSheet
	last := min(first+perSheet, l.tiles())
	if first >= last {
		return notFound("no_sheet", fmt.Sprintf("the recording has %d sheets", (l.tiles()+perSheet-1)/perSheet))
	}
	// A sheet of a live recording may still be filling: only a full one
	// (or one of an ended recording) is cached for good.
	complete := spec.closed || last == first+perSheet
	key := fmt.Sprintf("sprite|%s|%s|%d|%d|%d", st, id, l.every/time.Second, n, last)
	jpg, err := s.stills.Get(ctx, key, func(ctx context.Context) ([]byte, int64, time.Duration, error) {
		segs := map[string][]byte{}
		tiles := make([]Tile, 0, last-first)
		for k := first; k < last; k++ {
			run, e, off, ok := at(spec.runs, l.start.Add(time.Duration(k)*l.every))
			if !ok {
				tiles = append(tiles, Tile{}) // a gap between runs: a black tile
				continue
			}
			sk := run + "/" + strconv.FormatUint(e.Seq, 10)
			seg, ok := segs[sk]
			if !ok {
				b, err := s.readSegment(ctx, st, run, e.Seq)
				if err != nil {
					return nil, 0, 0, err
				}
				seg, segs[sk] = b, b
			}
			tiles = append(tiles, Tile{Segment: seg, At: off})
		}
		b, err := th.Sprite(ctx, tiles, l.tileW, spriteColumns)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("sprite %d of %s: %w", n, id, err)
		}
		ttl := time.Duration(0)
		if !complete {
			ttl = s.cfg.TargetDuration
		}
		return b, int64(len(b)), ttl, nil
	})
	if err != nil {
		return err
	}
	life := forever
	if !complete {
		life = s.liveLife()
	}
	return s.sendImage(c, jpg, life, tok)
}
