// Package admin is the scheduler's admin API and its console page: the
// policy's report (scores, costs, orders, logs) and the inputs' states
// behind a bearer token, the operator's overrides (disable, pin, clear),
// and a plain HTML page that shows and drives both.
//
// Routes, all answered with Cache-Control: no-store:
//
//	GET  /v1/sched/report     Report as JSON (bearer token)
//	POST /v1/sched/overrides  an OverrideRequest; the overrides in force (bearer token)
//	GET  /sched               the console page, and its files under /sched/
//
// The page itself holds nothing secret: it asks for the token and keeps
// it in the tab's sessionStorage.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/sched/policy"
	"github.com/rewind-vod/rewind/sched/qos"
)

// MaxBody bounds an override request's body.
const MaxBody = 16 << 10

// Engine is what the admin API needs of the policy; *policy.Engine
// satisfies it.
type Engine interface {
	Report(now time.Time) policy.Report
	Disable(cdn, region, who, why string, now time.Time) error
	Pin(cdn, region, who, why string, now time.Time) error
	Clear(cdn, region, who, why string, now time.Time) error
}

var _ Engine = (*policy.Engine)(nil)

// Config configures the admin API.
type Config struct {
	// Token is the admin bearer token. Empty turns the admin API off: the
	// report and the overrides answer 403 (the page still loads and says
	// so).
	Token string
	// Inputs gives the state of each scheduler input by name ("inprocess",
	// "prometheus"); nil shows none.
	Inputs func() map[string]qos.State
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Report is the answer of GET /v1/sched/report: the policy's report with
// the inputs' states beside it.
type Report struct {
	policy.Report
	Inputs map[string]qos.State `json:"inputs"`
}

// OverridesAnswer is the answer of an accepted POST /v1/sched/overrides.
type OverridesAnswer struct {
	Overrides []policy.Override `json:"overrides"`
}

// Admin serves the admin API and the console.
type Admin struct {
	cfg     Config
	eng     Engine
	log     *slog.Logger
	token   [sha256.Size]byte // hashed, so the compare's time does not depend on the length either
	handler http.Handler
}

//go:embed web
var webFiles embed.FS

// webTypes are the console's files and their content types; nothing else
// under web/ is served.
var webTypes = map[string]string{
	"index.html": "text/html; charset=utf-8",
	"app.js":     "text/javascript; charset=utf-8",
	"app.css":    "text/css; charset=utf-8",
}

// New makes the admin API over eng.
func New(cfg Config, eng Engine, log *slog.Logger) (*Admin, error) {
	if eng == nil {
		return nil, errors.New("admin: no engine")
	}
	for _, c := range cfg.Token {
		// The token travels in a header: visible ASCII only.
		if c <= ' ' || c > '~' {
			return nil, errors.New("admin: the token must be visible ASCII, without spaces")
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Inputs == nil {
		cfg.Inputs = func() map[string]qos.State { return nil }
	}
	if log == nil {
		log = slog.Default()
	}
	a := &Admin{cfg: cfg, eng: eng, log: log.With("component", "admin"), token: sha256.Sum256([]byte(cfg.Token))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/sched/report", a.authed(a.report))
	mux.HandleFunc("POST /v1/sched/overrides", a.authed(a.overrides))
	mux.HandleFunc("GET /sched", a.file("index.html"))
	for name := range webTypes {
		if name != "index.html" {
			mux.HandleFunc("GET /sched/"+name, a.file(name))
		}
	}
	a.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Set first, so errors and the mux's own 404/405 carry it too:
		// costs and overrides must never sit in a shared cache.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
	return a, nil
}

// Handler serves the routes of the package comment; mount it for
// /v1/sched/ and /sched (and /sched/).
func (a *Admin) Handler() http.Handler { return a.handler }

// authed checks the bearer token before h: 403 when the API is off or the
// token is wrong, 401 when there is none.
func (a *Admin) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.Token == "" {
			writeError(w, http.StatusForbidden, "admin API off")
			return
		}
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rewind-sched"`)
			writeError(w, http.StatusUnauthorized, "admin token required (Authorization: Bearer ...)")
			return
		}
		got := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(got[:], a.token[:]) != 1 {
			// Logged: a wrong token on the admin API is worth a look.
			a.log.Warn("admin token refused", "remote", r.RemoteAddr, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, "wrong admin token")
			return
		}
		h(w, r)
	}
}

func (a *Admin) report(w http.ResponseWriter, _ *http.Request) {
	rep := Report{Report: a.eng.Report(a.cfg.Now()), Inputs: a.cfg.Inputs()}
	if rep.Inputs == nil {
		rep.Inputs = map[string]qos.State{}
	}
	writeJSON(w, http.StatusOK, rep)
}

func (a *Admin) overrides(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
		return
	}
	req, err := ParseOverride(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxBody))
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := a.cfg.Now()
	apply := a.eng.Clear // ParseOverride let only the three actions through
	switch req.Action {
	case policy.ActionDisable:
		apply = a.eng.Disable
	case policy.ActionPin:
		apply = a.eng.Pin
	}
	if err := apply(req.CDN, req.Region, req.Who, req.Why, now); err != nil {
		// The engine only refuses what it cannot apply: an unknown CDN or
		// region, a missing who. Its message names the configured values.
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.log.Info("override accepted", "action", req.Action, "cdn", req.CDN, "region", req.Region,
		"who", req.Who, "why", req.Why, "remote", r.RemoteAddr)
	ov := a.eng.Report(now).Overrides
	if ov == nil {
		ov = []policy.Override{}
	}
	writeJSON(w, http.StatusOK, OverridesAnswer{Overrides: ov})
}

// file serves one embedded console file.
func (a *Admin) file(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		b, err := webFiles.ReadFile("web/" + name)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "console file missing")
			return
		}
		h := w.Header()
		h.Set("Content-Type", webTypes[name])
		// Scripts and styles from this origin only, no framing (the page
		// holds forms that change routing), requests back to this origin.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "+
			"img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	}
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"admin: encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
