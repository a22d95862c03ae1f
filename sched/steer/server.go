package steer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
)

// Server serves the steering routes (see Handler).
type Server struct {
	cfg    Config
	public string // PublicBase without a trailing slash
	paths  atomic.Pointer[compiled]
	rank   *ranking
	region func(*http.Request) string
	log    *slog.Logger
	m      *metrics
	sem    chan struct{}
	stop   context.CancelFunc
}

// New validates cfg and builds the server. region maps a request to the
// client's region (nil: every client is OtherRegion); a name that is not
// 1..64 of [a-zA-Z0-9._-] also counts as OtherRegion. Close stops the
// Ranker calls in flight.
func New(cfg Config, ranker Ranker, region func(*http.Request) string, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if ranker == nil {
		return nil, errors.New("steer: no Ranker")
	}
	if log == nil {
		log = slog.Default()
	}
	if reg == nil {
		reg = prometheus.NewRegistry() // metrics kept but not exported
	}
	cfg = withDefaults(cfg)
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	c, err := compile(cfg.Pathways, cfg.StaticOrder)
	if err != nil {
		return nil, err
	}
	pub, _ := parseBase("PublicBase", cfg.PublicBase)
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, public: pub.String(), region: region, log: log, m: m,
		sem:  make(chan struct{}, cfg.MaxConcurrent),
		stop: stop,
		rank: &ranking{
			ranker: ranker, deadline: cfg.RankerDeadline, maxRegions: cfg.MaxRegions, ctx: ctx,
			last: map[rankKey][]string{}, flight: map[rankKey]*call{},
		},
	}
	s.paths.Store(c)
	return s, nil
}

// SetPathways replaces the pathways and the static order at run time (a
// configuration reload). Sessions handed out before keep their state: a
// pathway they lack is offered as a clone when it has CloneOf, one that
// is gone is left out of their PATHWAY-PRIORITY.
func (s *Server) SetPathways(ps []Pathway, static []string) error {
	c, err := compile(ps, static)
	if err != nil {
		return err
	}
	s.paths.Store(c)
	s.log.Info("steering pathways updated", "pathways", c.ids(), "static", c.static)
	return nil
}

// Close cancels the Ranker calls in flight and waits for them (a Ranker
// must return once its context is done).
func (s *Server) Close() error {
	s.stop()
	s.rank.wg.Wait()
	return nil
}

// Handler serves
//
//	GET /v1/steer/hls/{app}/{name}/index.m3u8[?query]           multivariant playlist of a window
//	GET /v1/steer/hls/{app}/{name}/runs/{run}/index.m3u8         ... of a run
//	GET /v1/steer/hls/{app}/{name}/recordings/{id}/index.m3u8    ... of a recording
//	GET /v1/steer/manifest?v=1&stream=..&pathways=..&session=..  steering manifest (JSON)
//	GET /v1/addresses/{app}/{name}                               pull and push addresses (JSON)
//
// Errors are JSON {"error": "..."}; over MaxConcurrent requests at once,
// 429 with Retry-After. Every answer allows any origin (CORS), since
// players run on other sites' pages.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/steer/hls/{app}/{name}/index.m3u8", s.route(routePlaylist, s.servePlaylist(formWindow)))
	mux.Handle("GET /v1/steer/hls/{app}/{name}/runs/{run}/index.m3u8", s.route(routePlaylist, s.servePlaylist(formRun)))
	mux.Handle("GET /v1/steer/hls/{app}/{name}/recordings/{run}/index.m3u8", s.route(routePlaylist, s.servePlaylist(formRecording)))
	mux.Handle("GET /v1/steer/manifest", s.route(routeManifest, http.HandlerFunc(s.serveManifest)))
	mux.Handle("GET /v1/addresses/{app}/{name}", s.route(routeAddresses, http.HandlerFunc(s.serveAddresses)))
	mux.Handle("/", s.route(routeOther, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The catch-all also gets other methods on known paths: those are
		// a CORS preflight (a player adding its own headers) or a 405.
		get := r.Clone(r.Context())
		get.Method = http.MethodGet
		if _, pattern := mux.Handler(get); pattern == "/" {
			writeError(w, http.StatusNotFound, errors.New("no such route"))
			return
		}
		if r.Method == http.MethodOptions {
			h := w.Header()
			h.Set("Access-Control-Allow-Methods", "GET, HEAD")
			if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" && printableASCII(strings.ReplaceAll(rh, " ", "")) {
				h.Set("Access-Control-Allow-Headers", rh) // no credentials are ever allowed
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed", r.Method))
	})))
	return mux
}

// route bounds concurrency and counts the answer's code.
func (s *Server) route(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() { s.m.requests.WithLabelValues(name, codeLabel(sw.code)).Inc() }()
		sw.Header().Set("Access-Control-Allow-Origin", "*")
		select {
		case s.sem <- struct{}{}:
			defer func() { <-s.sem }()
		default:
			sw.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.Seconds())))
			// A cross-origin player may read it only if exposed.
			sw.Header().Set("Access-Control-Expose-Headers", "Retry-After")
			sw.Header().Set("Cache-Control", "no-store")
			writeError(sw, http.StatusTooManyRequests, errors.New("steering server busy"))
			return
		}
		h.ServeHTTP(sw, r)
	})
}

// regionOf is the client's region, bounded to valid names.
func (s *Server) regionOf(r *http.Request) string {
	if s.region == nil {
		return OtherRegion
	}
	if v := s.region(r); ValidID(v) {
		return v
	}
	return OtherRegion
}

// order asks the ranking and counts where the answer came from.
func (s *Server) order(r *http.Request, region string, dir direction, c *compiled) []string {
	o, src, err := s.rank.order(r.Context(), region, dir, c)
	s.m.answers.WithLabelValues(src).Inc()
	if err != nil {
		s.log.Debug("steering ranker gave no order", "region", region, "direction", dir, "source", src, "err", err)
	}
	return o
}

// stream validates the {app} and {name} of the path and whether it is
// steered.
func (s *Server) stream(r *http.Request) (catalog.Stream, int, error) {
	st, err := catalog.NewStream(r.PathValue("app"), r.PathValue("name"))
	if err != nil {
		return catalog.Stream{}, http.StatusBadRequest, fmt.Errorf("steer: %w", err)
	}
	if s.cfg.Enabled != nil && !s.cfg.Enabled(st) {
		return catalog.Stream{}, http.StatusNotFound, fmt.Errorf("steer: steering is off for %s", st)
	}
	return st, http.StatusOK, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
