// Package vodapi is the replay API: a stateless Echo server that reads only
// the store and builds HLS playlists for any wall-clock window from the
// recording index, with caches and CDN-friendly headers.
package vodapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/cache"
	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/netguard"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store"
)

// Config tunes the API. Zero values take DefaultConfig's.
type Config struct {
	// SegmentBaseURL, when set, is where players fetch segments (a CDN in
	// front of the bucket): URIs become {base}/{store key}. An absolute
	// http(s) URL, or a path such as "/" for a CDN that serves the bucket
	// and this API on one host. Empty: vodapi serves them itself (the
	// embedded default).
	SegmentBaseURL string
	// ReconnectWindow joins runs into one recording when the gap between
	// them is at most this long (default 60s).
	ReconnectWindow time.Duration
	// MaxWindow is the longest playlist window (default 24h).
	MaxWindow time.Duration
	// CacheBytes is the cache budget (default 256 MiB).
	CacheBytes int64
	// TargetDuration is assumed for runs whose manifest does not say (default 4s).
	TargetDuration time.Duration
	// CORSOrigins lists the origins allowed to read the API from a browser;
	// "*" allows any (default).
	CORSOrigins []string
	// PlaybackSecrets turns signed playback on: playlists and segments need
	// a token from SignPlayback made with one of them (several for rotation).
	PlaybackSecrets []string
	// APITokens are app backends' bearer tokens (Authorization: Bearer t),
	// good for every clip. With them or with PlaybackSecrets, clip routes
	// need a credential: one of these or the stream's play token.
	APITokens []string
	// Jobs is the clip job queue; nil turns POST /v1/clips off (503).
	Jobs queue.Queue
	// MaxClip is the longest clip accepted (default 3h).
	MaxClip time.Duration
	// Thumbs renders thumbnails and sprites; nil turns them off (501).
	Thumbs Thumbnailer
	// PublicURL is the API's external base URL (no trailing '/') for the
	// URLs in answers and webhooks; empty gives paths.
	PublicURL string
	// WebhookGuard checks clip webhook URLs at submit; nil refuses every
	// internal destination (netguard.Strict).
	WebhookGuard *netguard.Guard
	// AdminToken is the bearer token of the admin routes (deleting
	// recordings); empty turns them off (403 admin_disabled).
	AdminToken string
}

// DefaultConfig is what New gives zero fields, and what the command line
// starts from, so each default is written once.
func DefaultConfig() Config {
	return Config{
		ReconnectWindow: 60 * time.Second,
		MaxWindow:       24 * time.Hour,
		CacheBytes:      256 << 20,
		TargetDuration:  catalog.DefaultTargetDuration,
		MaxClip:         3 * time.Hour,
		CORSOrigins:     []string{"*"},
	}
}

func (c *Config) defaults() {
	d := DefaultConfig()
	if c.ReconnectWindow <= 0 {
		c.ReconnectWindow = d.ReconnectWindow
	}
	if c.MaxWindow <= 0 {
		c.MaxWindow = d.MaxWindow
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = d.CacheBytes
	}
	if c.TargetDuration <= 0 {
		c.TargetDuration = d.TargetDuration
	}
	if c.MaxClip <= 0 {
		c.MaxClip = d.MaxClip
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	if c.WebhookGuard == nil {
		c.WebhookGuard = netguard.Strict()
	}
	if len(c.CORSOrigins) == 0 {
		c.CORSOrigins = d.CORSOrigins
	}
}

// Server is the replay API.
type Server struct {
	cfg       Config
	log       *slog.Logger
	rd        *reader
	st        store.Store // counted
	raw       store.Store // as given: for optional interfaces (Presigner)
	playlists *cache.Cache[*rendered]
	frags     *fragments           // sealed chunks' playlist lines (fragment.go)
	stills    *cache.Cache[[]byte] // thumbnails and sprite sheets
	e         *echo.Echo
	m         *metrics
	dm        *deleteMetrics
	now       func() time.Time
	idem      idemLocks    // serializes submits with one Idempotency-Key
	srcChecks sourceChecks // HLS clips: is the source still there (clip_hls.go)
}

// New builds the API over st; reg may be nil.
func New(cfg Config, st store.Store, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg.defaults()
	if err := validBaseURL(cfg.SegmentBaseURL); err != nil {
		return nil, fmt.Errorf("vodapi: segment base URL: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	m := newMetrics(reg)
	cst := countingStore{Store: st, reqs: m.storeRequests}
	rd, err := newReader(cst, cfg.CacheBytes*5/8, cfg.TargetDuration/2, reg)
	if err != nil {
		return nil, fmt.Errorf("vodapi: %w", err)
	}
	// The playlists' quarter of the budget: half for whole playlists,
	// half for the fragments they are made of.
	pl, err := cache.New[*rendered](cache.Config{Name: "playlists", MaxBytes: cfg.CacheBytes / 8}, reg)
	if err != nil {
		return nil, fmt.Errorf("vodapi: %w", err)
	}
	frags, err := newFragments(cfg.CacheBytes/8, cst, st, log.With("component", "vodapi"), reg)
	if err != nil {
		pl.Close()
		return nil, fmt.Errorf("vodapi: %w", err)
	}
	stills, err := cache.New[[]byte](cache.Config{Name: "stills", MaxBytes: max(cfg.CacheBytes/8, 1<<20)}, reg)
	if err != nil {
		pl.Close()
		frags.close()
		return nil, fmt.Errorf("vodapi: %w", err)
	}
	s := &Server{frags: frags, cfg: cfg, log: log.With("component", "vodapi"), rd: rd, st: cst, raw: st, playlists: pl, stills: stills, m: m, dm: newDeleteMetrics(reg), now: time.Now}
	s.e = s.routes()
	return s, nil
}

// Handler is the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler { return s.e }

// Close releases the caches.
func (s *Server) Close() {
	s.rd.close()
	s.frags.close() // first: its background builds fill the playlist cache
	s.playlists.Close()
	s.stills.Close()
}

// validBaseURL accepts "", an absolute http(s) URL without query or
// fragment, or a root-relative path.
func validBaseURL(base string) error {
	if base == "" {
		return nil
	}
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return err
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("%q: no query, fragment or user info allowed", base)
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(base, "/") && !strings.HasPrefix(base, "//"):
		return nil
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
		return nil
	}
	return fmt.Errorf("%q: want an http(s) URL or a path starting with /", base)
}
