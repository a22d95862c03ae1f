package origin

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/httpjson"
)

// LiveInfo is one live stream as the management API shows it.
type LiveInfo struct {
	Stream         string            `json:"stream"`
	App            string            `json:"app"`
	Name           string            `json:"name"`
	Run            string            `json:"run"`
	PublisherAddr  string            `json:"publisher_addr"`
	StartedAt      time.Time         `json:"started_at"`
	UptimeSeconds  float64           `json:"uptime_seconds"`
	FramesIn       uint64            `json:"frames_in"`
	BytesIn        uint64            `json:"bytes_in"`
	BitrateInKbps  float64           `json:"bitrate_in_kbps"`
	BytesOut       uint64            `json:"bytes_out"`
	BitrateOutKbps float64           `json:"bitrate_out_kbps"`
	FramesDropped  map[string]uint64 `json:"frames_dropped"`
	Players        int               `json:"players"`
	Video          *LiveVideo        `json:"video,omitempty"`
	Audio          *LiveAudio        `json:"audio,omitempty"`
	Relays         []RelayStatus     `json:"relays"`
	// Recording is the stream's recording (absent on a node without a
	// recorder): Run above is the publish's run, Recording.Run the
	// recording run being written, which differs once recording restarted.
	Recording *RecordingState `json:"recording,omitempty"`
}

// LiveVideo is the video of a live stream: its codec and size from the
// sequence header, its frame rate as measured over the last seconds.
type LiveVideo struct {
	Codec  string  `json:"codec"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	FPS    float64 `json:"fps"`
}

// LiveAudio is the audio of a live stream, from its sequence header.
type LiveAudio struct {
	Codec      string `json:"codec"`
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
}

// APIHandler serves the live management API on the node's HTTP address:
// GET /v1/live, GET and DELETE /v1/live/{app}/{name} (DELETE kicks the
// publisher), GET /v1/live/{app}/{name}/recording and POST
// .../recording/stop and .../recording/start (RecordControl; they answer
// the recording state, and are idempotent), GET /readyz. The /v1/live routes need "Authorization: Bearer
// <adminToken>"; with no token configured they are refused outright, so
// publisher addresses never leak by default. Bit rates are over the last
// few seconds.
func (s *Server) APIHandler(adminToken string) http.Handler {
	mux := http.NewServeMux()
	admin := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if adminToken == "" {
				httpError(w, http.StatusForbidden, "admin_disabled", "the live management API needs --admin-token")
				return
			}
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(adminToken)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="rewind"`)
				httpError(w, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
				return
			}
			h(w, r)
		}
	}
	info := func(ls LiveStream) LiveInfo {
		li := LiveInfo{
			Stream: ls.App + "/" + ls.Name, App: ls.App, Name: ls.Name, Run: ls.Run,
			PublisherAddr: ls.ClientAddr, StartedAt: ls.StartedAt, UptimeSeconds: time.Since(ls.StartedAt).Seconds(),
			FramesIn: ls.FramesIn, BytesIn: ls.BytesIn, FramesDropped: ls.Dropped,
			BitrateInKbps: ls.BitrateIn / 1000, BytesOut: ls.BytesOut, BitrateOutKbps: ls.BitrateOut / 1000,
			Players: ls.Players, Relays: ls.Relays,
		}
		if li.Relays == nil {
			li.Relays = []RelayStatus{}
		}
		if ls.VideoCodec != "" {
			li.Video = &LiveVideo{Codec: ls.VideoCodec, Width: ls.Width, Height: ls.Height, FPS: ls.FPS}
		}
		if ls.AudioCodec != "" {
			li.Audio = &LiveAudio{Codec: ls.AudioCodec, SampleRate: ls.SampleRate, Channels: ls.Channels}
		}
		if s.rec != nil {
			if st, err := s.rec.State(li.Stream); err == nil {
				li.Recording = &st
			}
		}
		return li
	}
	find := func(w http.ResponseWriter, r *http.Request) (LiveStream, bool) {
		st, err := catalog.NewStream(r.PathValue("app"), r.PathValue("name"))
		if err != nil {
			httpError(w, http.StatusBadRequest, "bad_stream", err.Error())
			return LiveStream{}, false
		}
		for _, ls := range s.Live() {
			if ls.App == st.App && ls.Name == st.Name {
				return ls, true
			}
		}
		httpError(w, http.StatusNotFound, "not_live", st.String()+" is not live on this node")
		return LiveStream{}, false
	}
	mux.HandleFunc("GET /v1/live", admin(func(w http.ResponseWriter, r *http.Request) {
		out := []LiveInfo{}
		for _, ls := range s.Live() {
			out = append(out, info(ls))
		}
		writeJSON(w, http.StatusOK, map[string]any{"node": s.cfg.Node, "streams": out})
	}))
	mux.HandleFunc("GET /v1/live/{app}/{name}", admin(func(w http.ResponseWriter, r *http.Request) {
		if ls, ok := find(w, r); ok {
			writeJSON(w, http.StatusOK, info(ls))
		}
	}))
	mux.HandleFunc("DELETE /v1/live/{app}/{name}", admin(func(w http.ResponseWriter, r *http.Request) {
		if ls, ok := find(w, r); ok {
			s.Kick(ls.App, ls.Name)
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	recording := func(act func(key string) (RecordingState, error)) http.HandlerFunc {
		return admin(func(w http.ResponseWriter, r *http.Request) {
			if s.rec == nil {
				httpError(w, http.StatusNotFound, "no_recorder", errNoRecorder.Error())
				return
			}
			ls, ok := find(w, r)
			if !ok {
				return
			}
			st, err := act(ls.App + "/" + ls.Name)
			switch {
			case errors.Is(err, errNotLiveHere):
				httpError(w, http.StatusNotFound, "not_live", ls.App+"/"+ls.Name+" is not live on this node")
			case errors.Is(err, errRecordFailed):
				httpError(w, http.StatusServiceUnavailable, "record_failed", err.Error())
			case err != nil:
				httpError(w, http.StatusInternalServerError, "internal", err.Error())
			default:
				writeJSON(w, http.StatusOK, st)
			}
		})
	}
	mux.HandleFunc("GET /v1/live/{app}/{name}/recording", recording(func(key string) (RecordingState, error) { return s.rec.State(key) }))
	mux.HandleFunc("POST /v1/live/{app}/{name}/recording/stop", recording(func(key string) (RecordingState, error) { return s.rec.Stop(key) }))
	mux.HandleFunc("POST /v1/live/{app}/{name}/recording/start", recording(func(key string) (RecordingState, error) { return s.rec.Start(key) }))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return s.adminCORS(httpjson.Mux(mux)) // its own 404/405 in JSON too
}

// adminCORS lets the operator console, served by the replay API from
// another host, call the live API: a browser sends the request (and its
// preflight) only to origins named in Config.AdminCORSOrigins ("*" for any).
// The API takes a bearer token, never cookies, so an allowed page still
// needs the token.
func (s *Server) adminCORS(next http.Handler) http.Handler {
	allowed := s.cfg.AdminCORSOrigins
	if len(allowed) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		h.Add("Vary", "Origin")
		if origin != "" && (slices.Contains(allowed, "*") || slices.Contains(allowed, origin)) {
			h.Set("Access-Control-Allow-Origin", origin)
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "86400")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }
