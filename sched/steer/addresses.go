package steer

import (
	"net/http"
)

// Addresses is the address API's answer: where an SDK plays and publishes
// a stream, best CDN first. The SDK asks again after TTL seconds.
type Addresses struct {
	Stream string `json:"stream"`
	Region string `json:"region"`
	TTL    int    `json:"ttl"`
	// Pull is ordered by Ranker.Pull; URLs a CDN is not configured for are
	// left out.
	Pull []PullAddress `json:"pull"`
	// Push is ordered by Ranker.Push, only CDNs with a push template.
	Push []PushAddress `json:"push"`
}

// PullAddress is one CDN's playback URLs of the stream.
type PullAddress struct {
	CDN  string `json:"cdn"`
	HLS  string `json:"hls"`
	FLV  string `json:"flv,omitempty"`
	RTMP string `json:"rtmp,omitempty"`
}

// PushAddress is one CDN's publish URL of the stream.
type PushAddress struct {
	CDN  string `json:"cdn"`
	RTMP string `json:"rtmp"`
}

// serveAddresses answers GET /v1/addresses/{app}/{name}: 400 for a bad
// name, else 200 within the Ranker deadline (last or static order when the
// Ranker does not answer). No-store: it follows the ranking.
func (s *Server) serveAddresses(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	st, code, err := s.stream(r)
	if err != nil {
		writeError(w, code, err)
		return
	}
	c := s.paths.Load()
	region := s.regionOf(r)
	out := Addresses{Stream: st.String(), Region: region, TTL: int(s.cfg.TTL.Seconds()),
		Pull: []PullAddress{}, Push: []PushAddress{}}
	for _, id := range s.order(r, region, pull, c) {
		p := c.byID[id]
		a := PullAddress{CDN: id, HLS: p.HLSBase + formWindow.mediaPath(st, "")}
		if p.FLV != "" {
			a.FLV = fillTemplate(p.FLV, st.App, st.Name)
		}
		if p.RTMP != "" {
			a.RTMP = fillTemplate(p.RTMP, st.App, st.Name)
		}
		out.Pull = append(out.Pull, a)
	}
	pushers := make([]string, 0, len(c.list))
	for _, p := range c.list {
		if p.Push != "" {
			pushers = append(pushers, p.ID)
		}
	}
	if len(pushers) > 0 {
		order := restrict(s.order(r, region, push, c), pushers)
		if len(order) == 0 {
			order = restrict(c.static, pushers)
		}
		for _, id := range order {
			out.Push = append(out.Push, PushAddress{CDN: id, RTMP: fillTemplate(c.byID[id].Push, st.App, st.Name)})
		}
	}
	writeJSON(w, out)
}
