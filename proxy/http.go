package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/httpjson"
)

// Handler serves HTTP: GET /{app}/{name}.flv (the query is kept) proxied
// to the node where the stream is live, GET /healthz (the process is up)
// and GET /readyz (200 when ready, 503 while draining or with no alive
// node known, so the balancer sends new clients to another proxy).
func (p *Proxy) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case p.draining.Load() || p.ctx.Err() != nil:
			httpjson.Error(w, http.StatusServiceUnavailable, "draining", "the proxy is draining")
		case len(p.cfg.Directory.Nodes()) == 0:
			httpjson.Error(w, http.StatusServiceUnavailable, "no_node", "no alive origin node is known")
		default:
			httpjson.Write(w, http.StatusOK, map[string]string{"status": "ready"})
		}
	})
	mux.HandleFunc("GET /{app}/{file}", p.serveFLV)
	return httpjson.Mux(mux)
}

// flvRoute is what serveFLV hands the reverse proxy through the request
// context.
type flvRoute struct {
	node   catalog.Node
	stream catalog.Stream
	start  time.Time
}

type flvRouteKey struct{}

// serveFLV routes GET /{app}/{name}.flv to the node where it is live.
func (p *Proxy) serveFLV(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name, ok := strings.CutSuffix(r.PathValue("file"), ".flv")
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "not_found", "no such route (want /{app}/{name}.flv)")
		return
	}
	st, err := catalog.NewStream(r.PathValue("app"), name)
	if err != nil {
		p.m.routes.WithLabelValues(kindFLV, resultBadName).Inc()
		httpjson.Error(w, http.StatusBadRequest, "bad_stream", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.DialTimeout)
	route, err := p.router.Play(ctx, st.String())
	cancel()
	if err != nil {
		p.m.routes.WithLabelValues(kindFLV, resultNotFound).Inc()
		httpjson.Error(w, http.StatusNotFound, "not_live", st.String()+": "+err.Error())
		return
	}
	if catalog.ValidHostPort(route.Node.HTTP) != nil {
		p.m.routes.WithLabelValues(kindFLV, resultUpstreamError).Inc()
		httpjson.Error(w, http.StatusBadGateway, "upstream_error", "origin node "+route.Node.Name+" advertises no HTTP address")
		return
	}
	// The session ends with the client, or when the proxy shuts down.
	ctx, cancel = context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(p.ctx, cancel)()
	ctx = context.WithValue(ctx, flvRouteKey{}, flvRoute{node: route.Node, stream: st, start: start})

	p.sessions.Add(1)
	p.m.sessions.WithLabelValues(kindFLV).Inc()
	defer func() {
		p.sessions.Add(-1)
		p.m.sessions.WithLabelValues(kindFLV).Dec()
	}()
	cw := &countingWriter{ResponseWriter: w}
	// Deferred: ReverseProxy ends a body copy that fails (the player left)
	// by panicking with http.ErrAbortHandler, for net/http to drop the
	// connection.
	defer func() {
		p.log.Info("flv session ended", "stream", st.String(), "node", route.Node.Name, "status", cw.status,
			"bytes_to_client", cw.n, "duration", time.Since(start).Round(time.Millisecond), "client", r.RemoteAddr)
	}()
	p.flv.ServeHTTP(cw, r.WithContext(ctx))
}

// newFLVProxy is the reverse proxy to the nodes' HTTP-FLV: every write is
// flushed at once (a live stream), and the node's answer, 404 included,
// goes to the client as is.
func (p *Proxy) newFLVProxy() http.Handler {
	dialer := &net.Dialer{Timeout: p.cfg.DialTimeout}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		ResponseHeaderTimeout: p.cfg.DialTimeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
	}
	return &httputil.ReverseProxy{
		Transport:     tr,
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			rt := pr.In.Context().Value(flvRouteKey{}).(flvRoute)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = rt.node.HTTP
			// The validated name, not the client's spelling of it.
			pr.Out.URL.Path, pr.Out.URL.RawPath = "/"+rt.stream.String()+".flv", ""
			pr.Out.Host = ""
			pr.SetXForwarded()
		},
		ModifyResponse: func(resp *http.Response) error {
			rt := resp.Request.Context().Value(flvRouteKey{}).(flvRoute)
			p.m.connectTime.WithLabelValues(kindFLV).Observe(time.Since(rt.start).Seconds())
			result := resultOK
			switch {
			case resp.StatusCode == http.StatusNotFound:
				result = resultNotFound // it ended since the registry saw it
			case resp.StatusCode >= 500:
				result = resultUpstreamError
			}
			p.m.routes.WithLabelValues(kindFLV, result).Inc()
			resp.Body = &countingBody{ReadCloser: resp.Body, add: p.m.flvToClient.Add}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(r.Context().Err(), context.Canceled) {
				return // the client left, or the proxy is shutting down
			}
			rt := r.Context().Value(flvRouteKey{}).(flvRoute)
			p.m.routes.WithLabelValues(kindFLV, resultUpstreamError).Inc()
			p.log.Warn("flv upstream error", "node", rt.node.Name, "addr", rt.node.HTTP, "err", err)
			httpjson.Error(w, http.StatusBadGateway, "upstream_error", "origin node "+rt.node.Name+": "+err.Error())
		},
	}
}

// countingBody counts what the node sends as the client reads it.
type countingBody struct {
	io.ReadCloser
	add func(float64)
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.add(float64(n))
	}
	return n, err
}

// countingWriter remembers the status and the body size for the session
// log; it passes Flush on (ReverseProxy finds it through Unwrap).
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
