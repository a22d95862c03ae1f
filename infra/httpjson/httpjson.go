// Package httpjson writes the JSON error answers every rewind HTTP surface
// uses ({"error","code"}), including for the routing misses that
// net/http.ServeMux would otherwise answer in text/plain.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write answers v as JSON with status; answers written here are never
// cached (they are management and error answers).
func Write(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error answers {"error": msg, "code": code} with status.
func Error(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, map[string]string{"error": msg, "code": code})
}

// Mux serves m, answering its own "404 page not found" and "405 method not
// allowed" (which it writes in text/plain) as JSON errors. The Allow header
// of a 405 is kept.
func Mux(m *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := m.Handler(r); pattern != "" {
			m.ServeHTTP(w, r)
			return
		}
		// No pattern: the mux answers by itself (not found, wrong method,
		// or a redirect to a cleaned path); let it decide the status and
		// headers, then replace a 404/405 body with ours.
		m.ServeHTTP(&missWriter{ResponseWriter: w, method: r.Method}, r)
	})
}

// missWriter turns the mux's text answer for a 404 or 405 into JSON and
// passes anything else (redirects) through.
type missWriter struct {
	http.ResponseWriter
	method   string
	replaced bool
}

func (m *missWriter) WriteHeader(status int) {
	switch status {
	case http.StatusNotFound:
		m.replace(status, "not_found", "no such route")
	case http.StatusMethodNotAllowed:
		m.replace(status, "method_not_allowed", m.method+" is not allowed here")
	default:
		m.ResponseWriter.WriteHeader(status)
	}
}

func (m *missWriter) replace(status int, code, msg string) {
	m.replaced = true
	if m.method == http.MethodHead {
		h := m.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		m.ResponseWriter.WriteHeader(status)
		return
	}
	Error(m.ResponseWriter, status, code, msg)
}

func (m *missWriter) Write(b []byte) (int, error) {
	if m.replaced {
		return len(b), nil // the mux's text body: ours is already written
	}
	return m.ResponseWriter.Write(b)
}
