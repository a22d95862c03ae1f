// Package lambdahttp serves an http.Handler from AWS Lambda. Requests come
// as HTTP events in payload format 2.0, which Lambda function URLs and API
// Gateway HTTP APIs both send; the handler sees an ordinary *http.Request
// and its answer goes back as the event response, so one set of routes
// serves both the HTTP server and the Lambda function.
package lambdahttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// MaxResponseBytes is Lambda's limit on a buffered response payload. An
// answer that would not fit (body as encoded, plus headers) is replaced by
// a 502 that says why, rather than left to fail inside Lambda.
const MaxResponseBytes = 6 << 20

// InLambda reports whether the process runs as a Lambda function (the
// runtime sets AWS_LAMBDA_RUNTIME_API for custom runtimes such as
// provided.al2023).
func InLambda() bool {
	return os.Getenv("AWS_LAMBDA_RUNTIME_API") != ""
}

// Adapter turns HTTP events into calls of an http.Handler.
type Adapter struct {
	h   http.Handler
	log *slog.Logger
}

// New returns an Adapter serving h.
func New(h http.Handler, log *slog.Logger) *Adapter {
	return &Adapter{h: h, log: log}
}

// Invoke is the Lambda handler: one event, one request through the handler.
// A function URL event decodes into the same type, being payload 2.0 too.
func (a *Adapter) Invoke(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	req, err := Request(ctx, ev)
	if err != nil {
		// A malformed event is the caller's fault: answer it as HTTP would.
		return plain(http.StatusBadRequest, err.Error()), nil
	}
	w := newRecorder(req.Method == http.MethodHead)
	a.h.ServeHTTP(w, req)
	resp := w.response()
	if size := responseSize(resp); size > MaxResponseBytes {
		a.log.Error("lambda response too large", "path", req.URL.Path, "bytes", size,
			"hint", "set --segment-base-url so that media comes from the CDN, not through the function")
		return plain(http.StatusBadGateway, "response too large for Lambda"), nil
	}
	return resp, nil
}

// Request builds the *http.Request an HTTP server would have made for the
// event.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		return nil, errors.New("lambdahttp: event has no requestContext.http.method")
	}
	path := ev.RawPath
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("lambdahttp: rawPath %q does not start with /", path)
	}
	uri := path
	if ev.RawQueryString != "" {
		uri += "?" + ev.RawQueryString
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, fmt.Errorf("lambdahttp: request URI: %w", err)
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, fmt.Errorf("lambdahttp: body: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, uri, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("lambdahttp: %w", err)
	}
	req.URL = u
	req.RequestURI = uri
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	for k, v := range ev.Headers {
		// Payload 2.0 joins repeated headers with commas, as HTTP allows.
		req.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.Host = req.Header.Get("Host")
	if req.Host == "" {
		req.Host = ev.RequestContext.DomainName
	}
	req.Header.Del("Host")
	req.ContentLength = int64(len(body))
	if ev.RequestContext.HTTP.SourceIP != "" {
		req.RemoteAddr = net.JoinHostPort(ev.RequestContext.HTTP.SourceIP, "0")
	}
	if strings.EqualFold(req.Header.Get("X-Forwarded-Proto"), "http") {
		return req, nil
	}
	// Function URLs and HTTP APIs are reached over TLS only.
	req.URL.Scheme = "https"
	return req, nil
}

// recorder is the http.ResponseWriter handed to the handler: it keeps the
// status, headers and body for the event response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	head   bool
}

func newRecorder(head bool) *recorder {
	return &recorder{header: http.Header{}, head: head}
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.head {
		// As net/http does: a HEAD answer has headers only.
		return len(p), nil
	}
	return r.body.Write(p)
}

// Flush satisfies http.Flusher; the answer leaves when the handler returns.
func (r *recorder) Flush() {}

func (r *recorder) response() events.APIGatewayV2HTTPResponse {
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	resp := events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{}}
	for k, vs := range r.header {
		if k == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ", ")
	}
	if r.body.Len() == 0 {
		return resp
	}
	if isText(r.header) && utf8.Valid(r.body.Bytes()) {
		resp.Body = r.body.String()
	} else {
		resp.Body = base64.StdEncoding.EncodeToString(r.body.Bytes())
		resp.IsBase64Encoded = true
	}
	return resp
}

// isText reports whether the body can travel as a JSON string unchanged:
// textual media types without a content coding. Everything else (segments,
// images, compressed playlists) is base64.
func isText(h http.Header) bool {
	if enc := h.Get("Content-Encoding"); enc != "" && enc != "identity" {
		return false
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"),
		mt == "application/json", mt == "application/xml", mt == "application/javascript",
		mt == "application/vnd.apple.mpegurl", mt == "application/x-mpegurl":
		return true
	}
	return false
}

func responseSize(resp events.APIGatewayV2HTTPResponse) int {
	n := len(resp.Body)
	for k, v := range resp.Headers {
		n += len(k) + len(v) + 8
	}
	for _, c := range resp.Cookies {
		n += len(c) + 4
	}
	return n
}

func plain(status int, msg string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"},
		Body:       msg + "\n",
	}
}
