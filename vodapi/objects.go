package vodapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

// Stored objects answered from here: segments on the embedded default and
// clip outputs (redirected to the CDN or a presigned URL when there is one).

// redirectOrServe answers key, opened with tok: a redirect is not kept by
// caches (it is cheap to make again, and the token may die first); a file
// served here is the client's own for an hour, bounded by tok.
func (s *Server) redirectOrServe(c echo.Context, key string, tok playToken) error {
	if s.cfg.SegmentBaseURL != "" {
		s.setCache(c.Response().Header(), noStore, tok)
		return c.Redirect(http.StatusFound, strings.TrimSuffix(s.cfg.SegmentBaseURL, "/")+"/"+key)
	}
	if p, ok := s.raw.(store.Presigner); ok {
		u, err := p.PresignGet(c.Request().Context(), key, s.presignLife(tok))
		if err != nil {
			return err
		}
		s.setCache(c.Response().Header(), noStore, tok)
		return c.Redirect(http.StatusFound, u)
	}
	return s.serveObject(c, key, cacheLife{maxAge: time.Hour, private: true}, tok)
}

// presignLife is how long a presigned URL lives: presignTTL, and no longer
// than the token that opened the answer, since the URL opens the object
// without it; a second at least (the shortest S3 takes).
func (s *Server) presignLife(tok playToken) time.Duration {
	if tok.exp.IsZero() {
		return presignTTL
	}
	return max(min(presignTTL, tok.exp.Sub(s.now()).Truncate(time.Second)), time.Second)
}

// serveObject answers a stored object with Range, HEAD and ETag.
func (s *Server) serveObject(c echo.Context, key string, life cacheLife, tok playToken) error {
	rc, info, err := s.st.Get(c.Request().Context(), key, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := c.Response().Header()
	etag := quoteETag(info.ETag)
	req := c.Request()
	rng := req.Header.Get("Range")
	if ir := req.Header.Get("If-Range"); ir != "" && ir != etag {
		rng = "" // a changed (or date-validated) object: the whole of it
	}
	whole, err := checkRange(rng, info.Size)
	if err != nil {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
		return &apiError{http.StatusRequestedRangeNotSatisfiable, "bad_range",
			"Range " + strconv.Quote(truncateString(rng, 64)) + " selects nothing of the " + strconv.FormatInt(info.Size, 10) + " bytes"}
	}
	if whole {
		req.Header.Del("Range")
	}
	h.Set("Content-Type", store.ContentTypeFor(key))
	s.setCache(h, life, tok)
	if etag != "" {
		h.Set("ETag", etag)
	}
	// The store's reader may not seek (S3): a local file does, and that is
	// the only store served from here without a redirect.
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(c.Response(), c.Request(), "", info.LastModified, rs)
		return nil
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	http.ServeContent(c.Response(), c.Request(), "", info.LastModified, bytes.NewReader(buf.Bytes()))
	return nil
}

func quoteETag(etag string) string {
	if etag != "" && !strings.HasPrefix(etag, `"`) {
		return `"` + etag + `"`
	}
	return etag
}

// truncateString cuts s to at most n bytes, for echoing client input.
func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
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

// sendTagged answers body made here (not a stored object) with an ETag of
// its content, 304 to a matching If-None-Match, and life bounded by tok.
func (s *Server) sendTagged(c echo.Context, contentType string, body []byte, life cacheLife, tok playToken) error {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	h := c.Response().Header()
	s.setCache(h, life, tok)
	h.Set("ETag", etag)
	if etagMatch(c.Request().Header.Get("If-None-Match"), etag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, contentType, body)
}
