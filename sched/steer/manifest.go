package steer

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
)

// Manifest is the steering manifest (draft-pantos-hls-rfc8216bis 7.1), in
// the field order the spec lists.
type Manifest struct {
	Version  int      `json:"VERSION"`
	TTL      int      `json:"TTL"`
	Reload   string   `json:"RELOAD-URI,omitempty"`
	Priority []string `json:"PATHWAY-PRIORITY"`
	Clones   []Clone  `json:"PATHWAY-CLONES,omitempty"`
}

// Clone is one PATHWAY-CLONES entry (7.2).
type Clone struct {
	BaseID  string         `json:"BASE-ID"`
	ID      string         `json:"ID"`
	Replace URIReplacement `json:"URI-REPLACEMENT"`
}

// URIReplacement is how a clone's URIs derive from its base's.
type URIReplacement struct {
	Host   string            `json:"HOST,omitempty"`
	Params map[string]string `json:"PARAMS,omitempty"`
}

// serveManifest answers the steering manifest a player reloads every TTL.
//
//   - 400: the query does not parse (ParseQuery).
//   - 410 Gone, so that the player stops reloading and stays where it is:
//     the state is of another version, the stream is not steered
//     (Config.Enabled), or none of the session's pathways is configured
//     any more and none can be cloned.
//   - 200 otherwise, always within the Ranker deadline: PATHWAY-PRIORITY
//     is the region's order restricted to the pathways the session has
//     plus clones of pathways added since (an ID a player does not know
//     has made AVPlayer reject the whole manifest).
//
// It is Cache-Control no-store: the answer is per session and changes
// with the ranking.
func (s *Server) serveManifest(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	state, err := ParseQuery(r.URL.RawQuery)
	switch {
	case errors.Is(err, ErrGone):
		writeError(w, http.StatusGone, err)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if s.cfg.Enabled != nil && !s.cfg.Enabled(state.Stream) {
		writeError(w, http.StatusGone, errors.New("steer: steering is off for "+state.Stream.String()))
		return
	}
	c := s.paths.Load()
	usable := make([]string, 0, len(state.Pathways)+len(c.list))
	for _, id := range state.Pathways {
		if c.byID[id] != nil {
			usable = append(usable, id)
		}
	}
	clones := clonesFor(state, c)
	for _, cl := range clones {
		usable = append(usable, cl.ID)
	}
	if len(usable) == 0 {
		writeError(w, http.StatusGone, errors.New("steer: none of the session's pathways is configured any more"))
		return
	}
	order := restrict(s.order(r, s.regionOf(r), pull, c), usable)
	if len(order) == 0 {
		order = restrict(c.static, usable)
	}
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("steering manifest", "stream", state.Stream.String(), "session", state.Session,
			"pathway", state.Pathway, "throughput", state.Throughput, "priority", order)
	}
	writeJSON(w, Manifest{
		Version:  1,
		TTL:      int(s.cfg.TTL.Seconds()),
		Reload:   s.manifestURI(State{Stream: state.Stream, Pathways: state.Pathways, Session: state.Session}),
		Priority: order,
		Clones:   clones,
	})
}

// clonesFor lists the configured pathways the session lacks and can have
// as a clone of one it has.
func clonesFor(state State, c *compiled) []Clone {
	var out []Clone
	for _, p := range c.list {
		if p.CloneOf == "" || state.has(p.ID) || !state.has(p.CloneOf) {
			continue
		}
		cl := Clone{BaseID: p.CloneOf, ID: p.ID, Replace: URIReplacement{Params: p.CloneParams}}
		if p.cloneHost != c.byID[p.CloneOf].base.Hostname() {
			cl.Replace.Host = p.cloneHost
		}
		out = append(out, cl)
	}
	return out
}

// restrict keeps the IDs of order that are in allowed, in order.
func restrict(order, allowed []string) []string {
	out := make([]string, 0, len(allowed))
	for _, id := range order {
		if slices.Contains(allowed, id) {
			out = append(out, id)
		}
	}
	return out
}
