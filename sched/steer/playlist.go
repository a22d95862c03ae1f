package steer

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/rewind-vod/rewind/catalog"
)

// MaxPlaylistQuery bounds the query passed through to the variant URIs.
const MaxPlaylistQuery = 4096

// The multivariant playlist's forms, each the path of a replay API media
// playlist.
type form uint8

const (
	formWindow form = iota
	formRun
	formRecording
)

// mediaPath is the replay API path of the media playlist.
func (f form) mediaPath(st catalog.Stream, run string) string {
	switch f {
	case formRun:
		return "/hls/" + st.String() + "/runs/" + run + "/index.m3u8"
	case formRecording:
		return "/hls/" + st.String() + "/recordings/" + run + "/index.m3u8"
	}
	return "/hls/" + st.String() + "/index.m3u8"
}

// servePlaylist answers the multivariant playlist: one variant per
// pathway, in the region's order, each the replay API's media playlist on
// that CDN with the request's query verbatim (so a signed token and the
// window keep working), and an EXT-X-CONTENT-STEERING tag whose
// SERVER-URI carries the session's state.
//
// It is Cache-Control private: it depends on the client's region (which a
// shared cache cannot key on: it comes from the client address) and
// carries a fresh session id. It is small and built from memory, so the
// steering server itself answers every player.
func (s *Server) servePlaylist(f form) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, code, err := s.stream(r)
		if err != nil {
			writeError(w, code, err)
			return
		}
		run := ""
		if f != formWindow {
			run = r.PathValue("run")
			if err := catalog.ValidRunID(run); err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("steer: %w", err))
				return
			}
		}
		q := r.URL.RawQuery
		if len(q) > MaxPlaylistQuery || !printableASCII(q) {
			writeError(w, http.StatusBadRequest, fmt.Errorf("steer: query: want at most %d printable ASCII bytes", MaxPlaylistQuery))
			return
		}
		c := s.paths.Load()
		order := s.order(r, s.regionOf(r), pull, c)
		state := State{Stream: st, Pathways: fullOrder(order, c), Session: newSession()}
		body := s.appendPlaylist(nil, c, state, f.mediaPath(st, run), q)
		h := w.Header()
		h.Set("Content-Type", "application/vnd.apple.mpegurl")
		h.Set("Cache-Control", "private, max-age="+strconv.Itoa(int(s.cfg.PlaylistMaxAge.Seconds())))
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	})
}

// fullOrder is every configured pathway: order first, the rest in static
// order, so that a player has every CDN to fail over to.
func fullOrder(order []string, c *compiled) []string {
	out := make([]string, 0, len(c.list))
	seen := map[string]bool{}
	for _, list := range [][]string{order, c.static} {
		for _, id := range list {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// appendPlaylist writes the multivariant playlist (draft-pantos-hls-
// rfc8216bis 4.4.6.6 EXT-X-CONTENT-STEERING, 4.4.6.2 PATHWAY-ID).
// state.Pathways is non-empty and every ID is configured.
func (s *Server) appendPlaylist(dst []byte, c *compiled, state State, path, query string) []byte {
	dst = append(dst, "#EXTM3U\n#EXT-X-CONTENT-STEERING:SERVER-URI=\""...)
	dst = append(dst, s.manifestURI(state)...)
	dst = append(dst, "\",PATHWAY-ID=\""...)
	dst = append(dst, state.Pathways[0]...)
	dst = append(dst, "\"\n"...)
	for _, id := range state.Pathways {
		dst = append(dst, "#EXT-X-STREAM-INF:BANDWIDTH="...)
		dst = strconv.AppendInt(dst, int64(s.cfg.Bandwidth), 10)
		dst = append(dst, ",PATHWAY-ID=\""...)
		dst = append(dst, id...)
		dst = append(dst, "\"\n"...)
		dst = append(dst, c.byID[id].HLSBase...)
		dst = append(dst, path...)
		if query != "" {
			dst = append(dst, '?')
			dst = append(dst, query...)
		}
		dst = append(dst, '\n')
	}
	return dst
}

// manifestURI is the SERVER-URI / RELOAD-URI of a session.
func (s *Server) manifestURI(state State) string {
	var b strings.Builder
	b.WriteString(s.public)
	b.WriteString("/v1/steer/manifest?")
	b.WriteString(state.Encode())
	return b.String()
}

func newSession() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
