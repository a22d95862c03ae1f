package collect

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Handler serves
//
//	POST /v1/qos/cmcd    Content-Type: application/cmcd, one CMCD report a line
//	GET|POST /v1/qos/cmcd with CMCD= in the query or CMCD-* headers
//	POST /v1/qos/beacon  Content-Type: application/json, a Beacon
//
// The CDN of CMCD data is the cdn query parameter or the X-Rewind-CDN
// header. Success is 204; bad input a 4xx with {"error": "..."}; a full
// queue 429.
func (c *Collector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/qos/cmcd", c.serveCMCD)
	mux.HandleFunc("POST /v1/qos/cmcd", c.serveCMCD)
	mux.HandleFunc("POST /v1/qos/beacon", c.serveBeacon)
	return mux
}

func (c *Collector) serveCMCD(w http.ResponseWriter, r *http.Request) {
	if c.full() {
		c.shed(w) // before the body or query is parsed: a flood costs little
		return
	}
	var reps []Report
	if r.Method == http.MethodPost && mediaType(r) == "application/cmcd" {
		body, err := readBody(r, MaxEventBodyBytes)
		if err != nil {
			c.refuseBody(w, err)
			return
		}
		if reps, err = ParseEventBody(body); err != nil {
			c.refuseCMCD(w, err)
			return
		}
	} else {
		rep, ok, err := ReportFromRequest(r)
		if err != nil {
			c.refuseCMCD(w, err)
			return
		}
		if !ok {
			c.refuse(w, DropMalformed, http.StatusBadRequest, errors.New("no CMCD in query, headers or an application/cmcd body"))
			return
		}
		reps = []Report{rep}
	}
	c.enqueue(w, "cmcd", work{region: c.region(r), cdn: c.cdnOf(r), cmcd: reps})
}

// cdnOf is the configured CDN a CMCD request names (cdn query parameter,
// else the X-Rewind-CDN header a CDN adds on its way to us), or Other.
func (c *Collector) cdnOf(r *http.Request) string {
	cdn := queryParam(r.URL.RawQuery, "cdn")
	if cdn == "" {
		cdn = r.Header.Get("X-Rewind-CDN")
	}
	return c.labels.CDN(cdn)
}

func (c *Collector) serveBeacon(w http.ResponseWriter, r *http.Request) {
	if mt := mediaType(r); mt != "application/json" {
		c.refuse(w, DropUnsupported, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q, want application/json", mt))
		return
	}
	if c.full() {
		c.shed(w) // before the body is read and parsed: a flood costs little
		return
	}
	body, err := readBody(r, MaxBeaconBytes)
	if err != nil {
		c.refuseBody(w, err)
		return
	}
	b, err := ParseBeacon(body)
	switch {
	case errors.Is(err, ErrBeaconBig):
		c.refuse(w, DropTooLarge, http.StatusRequestEntityTooLarge, err)
		return
	case errors.Is(err, ErrAbsurd):
		c.refuse(w, DropAbsurd, http.StatusUnprocessableEntity, err)
		return
	case err != nil:
		c.refuse(w, DropMalformed, http.StatusBadRequest, err)
		return
	}
	c.enqueue(w, "beacon", work{region: c.region(r), beacon: b})
}

// enqueue hands w to the aggregator without ever waiting: a full queue is
// load to shed.
func (c *Collector) enqueue(w http.ResponseWriter, format string, item work) {
	if c.tryEnqueue(format, item) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	c.shed(w)
}

// full says the aggregator's queue has no room now; the request is shed
// before its work is done. (A racing request may still find it full at
// enqueue: that is shed there.)
func (c *Collector) full() bool { return len(c.queue) >= cap(c.queue) }

func (c *Collector) shed(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	c.refuse(w, DropOverload, http.StatusTooManyRequests, errors.New("collector overloaded"))
}

// queryParam is the first value of key in a raw query ("" when absent or
// badly escaped), without decoding the rest of it (the CMCD value is
// long).
func queryParam(raw, key string) string {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(part, "=")
		if k == key {
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
			return ""
		}
	}
	return ""
}

func (c *Collector) refuseBody(w http.ResponseWriter, err error) {
	if errors.Is(err, errBodyTooLarge) {
		c.refuse(w, DropTooLarge, http.StatusRequestEntityTooLarge, err)
		return
	}
	c.refuse(w, DropMalformed, http.StatusBadRequest, err)
}

func (c *Collector) refuseCMCD(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrTooLarge) {
		c.refuse(w, DropTooLarge, http.StatusRequestEntityTooLarge, err)
		return
	}
	c.refuse(w, DropMalformed, http.StatusBadRequest, err)
}

// refuse counts a dropped report and answers the contract's JSON error.
func (c *Collector) refuse(w http.ResponseWriter, reason string, status int, err error) {
	c.m.reportsDropped.WithLabelValues(reason).Inc()
	if reason != DropOverload {
		c.log.Debug("qos report refused", "reason", reason, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

var errBodyTooLarge = errors.New("body too large")

// readBody reads at most limit bytes; more is an error, not a truncation.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", errBodyTooLarge, limit)
	}
	return body, nil
}

// region maps the client address onto a configured region.
// Region is the configured region of the request's client (Other when
// none): the steering server answers by it.
func (c *Collector) Region(r *http.Request) string { return c.region(r) }

func (c *Collector) region(r *http.Request) string {
	raw := r.RemoteAddr
	if c.cfg.ClientIPHeader != "" {
		if v := r.Header.Get(c.cfg.ClientIPHeader); v != "" {
			raw, _, _ = strings.Cut(v, ",")
			raw = strings.TrimSpace(raw)
		}
	}
	if host, _, err := net.SplitHostPort(raw); err == nil {
		raw = host
	}
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		return Other
	}
	return c.labels.Region(addr)
}
