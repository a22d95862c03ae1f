package vodapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
)

// HLS clips by reference (catalog.ClipHLS): the playlist is made here from
// the clip's manifest, its middle pointing at the source's own segments,
// the way replay playlists do, its edges at the clip's own files. A clip
// whose source is gone (deleted, or expired by retention) answers 410
// instead of a playlist of missing segments.

// clipHLSLife is how long a client may keep such a playlist: about as long
// as the source check is trusted, so a deleted source shows soon.
var clipHLSLife = cacheLife{maxAge: 10 * time.Second, private: true}

// sourceCheckTTL is how long a source check is trusted.
const sourceCheckTTL = 5 * time.Second

// maxSourceChecks bounds the check cache; beyond it the oldest half goes.
const maxSourceChecks = 4096

// sourceChecks remembers, briefly, whether a clip's source segments are
// still stored, so a playlist request costs no store request most of the
// time. The zero value is ready.
type sourceChecks struct {
	mu sync.Mutex
	m  map[string]sourceCheck
}

type sourceCheck struct {
	gone bool
	at   time.Time
}

func (c *sourceChecks) get(key string, now time.Time) (gone, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.Sub(e.at) >= sourceCheckTTL || now.Before(e.at) {
		return false, false
	}
	return e.gone, true
}

func (c *sourceChecks) put(key string, gone bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]sourceCheck{}
	}
	if len(c.m) >= maxSourceChecks {
		for k, e := range c.m {
			if now.Sub(e.at) >= sourceCheckTTL || len(c.m) >= maxSourceChecks/2 {
				delete(c.m, k)
			}
		}
	}
	c.m[key] = sourceCheck{gone: gone, at: now}
}

// isClipHLS says whether the job's output is an HLS clip by reference (an
// older HLS clip is a stored playlist of its own segments).
func isClipHLS(j *catalog.ClipJob) bool {
	return j.Request.Format == catalog.FormatHLS && j.Output != nil && j.Output.Key == catalog.ClipHLSKey(j.ID)
}

// serveClipHLS answers the playlist of an HLS clip by reference.
func (s *Server) serveClipHLS(c echo.Context, j *catalog.ClipJob, tok playToken) error {
	ctx := c.Request().Context()
	m, err := catalog.ReadClipHLS(ctx, s.st, j.ID)
	if err != nil {
		return fmt.Errorf("clip %s: %w", j.ID, err)
	}
	st, err := catalog.ParseStream(m.Stream)
	if err != nil || st.String() != j.Request.Stream {
		return fmt.Errorf("clip %s: manifest names stream %q", j.ID, m.Stream)
	}
	if err := s.checkSources(ctx, st, m); err != nil {
		return err
	}
	return s.sendTagged(c, "application/vnd.apple.mpegurl", s.clipPlaylist(j.ID, st, m, tok, s.sourceToken(st, tok)), clipHLSLife, tok)
}

// errSourceGone is the answer for a clip whose source is no longer stored.
var errSourceGone = &apiError{http.StatusGone, "clip_source_gone",
	"the recording this clip was cut from has been deleted or has expired; the clip cannot be played any more"}

// checkSources makes sure every run the clip references still has its
// run.json and the first and last segments it uses: retention removes a
// run's oldest segments first, a deleted recording loses all of it.
func (s *Server) checkSources(ctx context.Context, st catalog.Stream, m *catalog.ClipHLS) error {
	now := s.now()
	for _, src := range m.Sources() {
		ck := st.String() + "/" + src.Run + "/" + strconv.FormatUint(src.FirstSeq, 10) + "-" + strconv.FormatUint(src.LastSeq, 10)
		gone, ok := s.srcChecks.get(ck, now)
		if !ok {
			var err error
			if gone, err = s.sourceGone(ctx, st, src); err != nil {
				return err
			}
			s.srcChecks.put(ck, gone, now)
		}
		if gone {
			return errSourceGone
		}
	}
	return nil
}

// sourceGone heads the run's run.json and the part's first and last
// segments, side by side.
func (s *Server) sourceGone(ctx context.Context, st catalog.Stream, p catalog.ClipPart) (bool, error) {
	keys := []string{catalog.ManifestKey(st, p.Run), catalog.SegmentKey(st, p.Run, p.FirstSeq)}
	if p.LastSeq != p.FirstSeq {
		keys = append(keys, catalog.SegmentKey(st, p.Run, p.LastSeq))
	}
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() { _, errs[i] = s.st.Head(ctx, k) })
	}
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, store.ErrNotFound) {
			return true, nil
		}
	}
	if err := errors.Join(errs...); err != nil {
		return false, fmt.Errorf("check clip source %s: %w", p.Run, err)
	}
	return false, nil
}

// sourceToken is the token for the source segment URIs: the one the
// playlist was opened with, or, for a playlist opened with an API token
// while playback is signed, one made here for the stream, as long-lived as
// a presigned URL, since players cannot send the API token on.
func (s *Server) sourceToken(st catalog.Stream, tok playToken) string {
	if tok.query != "" || len(s.cfg.PlaybackSecrets) == 0 {
		return tok.query
	}
	return catalog.SignToken(s.cfg.PlaybackSecrets[0], catalog.PurposePlay, st, s.now().Add(presignTTL))
}

// clipPlaylist writes the VOD playlist of m. Source segments get the
// replay playlists' URIs (the segment route, or the CDN base); the clip's
// own files are relative to the output URL (clipFile), or on the CDN base.
func (s *Server) clipPlaylist(id string, st catalog.Stream, m *catalog.ClipHLS, tok playToken, srcToken string) []byte {
	source := s.segmentURI(st, s.cfg.PublicURL+"/seg/"+st.App+"/"+st.Name+"/", srcToken)
	own := func(name string) string { return tok.on(name) }
	if s.cfg.SegmentBaseURL != "" {
		base := strings.TrimRight(s.cfg.SegmentBaseURL, "/")
		own = func(name string) string { return tok.on(base + "/" + catalog.ClipHLSFileKey(id, name)) }
	}
	var target time.Duration
	for _, seg := range m.Segments {
		target = max(target, seg.Dur())
	}
	var b strings.Builder
	b.Grow(len(m.Segments) * 96)
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:")
	// RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer.
	b.WriteString(strconv.FormatInt(max(int64(math.Round(target.Seconds())), 1), 10))
	b.WriteString("\n#EXT-X-MEDIA-SEQUENCE:0\n")
	for _, seg := range m.Segments {
		if seg.Discontinuity {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		b.WriteString("#EXTINF:")
		b.WriteString(strconv.FormatFloat(seg.Dur().Seconds(), 'f', 3, 64))
		b.WriteString(",\n")
		if seg.File != "" {
			b.WriteString(own(seg.File))
		} else {
			b.WriteString(source(seg.Run, seg.Seq))
		}
		b.WriteByte('\n')
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return []byte(b.String())
}
