package lambdahttp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// functionURLEvent is a request as a Lambda function URL sends it (payload
// 2.0), trimmed of the fields no handler reads.
const functionURLEvent = `{
  "version": "2.0",
  "rawPath": "/v1/echo/a%2Fb",
  "rawQueryString": "x=1&x=2&y=%C3%A9",
  "cookies": ["a=1", "b=2"],
  "headers": {
    "host": "abc123.lambda-url.eu-west-1.on.aws",
    "accept-encoding": "gzip, br",
    "x-forwarded-for": "203.0.113.7",
    "x-forwarded-proto": "https",
    "content-type": "application/octet-stream"
  },
  "queryStringParameters": {"x": "1,2", "y": "é"},
  "requestContext": {
    "accountId": "anonymous",
    "apiId": "abc123",
    "domainName": "abc123.lambda-url.eu-west-1.on.aws",
    "domainPrefix": "abc123",
    "http": {"method": "POST", "path": "/v1/echo/a/b", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "curl/8"},
    "requestId": "id-1",
    "routeKey": "$default",
    "stage": "$default",
    "time": "24/Nov/2026:10:00:00 +0000",
    "timeEpoch": 1795514400000
  },
  "body": "AAEC/w==",
  "isBase64Encoded": true
}`

func decode(t *testing.T, s string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestRequestFromEvent(t *testing.T) {
	req, err := Request(context.Background(), decode(t, functionURLEvent))
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.URL.EscapedPath() != "/v1/echo/a%2Fb" || req.URL.Path != "/v1/echo/a/b" {
		t.Errorf("method/path = %s %s (%s)", req.Method, req.URL.EscapedPath(), req.URL.Path)
	}
	if got := req.URL.Query()["x"]; len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("query x = %q, want both values in order", got)
	}
	if got := req.URL.Query().Get("y"); got != "é" {
		t.Errorf("query y = %q", got)
	}
	if req.RequestURI != "/v1/echo/a%2Fb?x=1&x=2&y=%C3%A9" {
		t.Errorf("RequestURI = %q", req.RequestURI)
	}
	if req.Host != "abc123.lambda-url.eu-west-1.on.aws" || req.Header.Get("Host") != "" {
		t.Errorf("host = %q, header %q", req.Host, req.Header.Get("Host"))
	}
	if req.Header.Get("Accept-Encoding") != "gzip, br" || req.Header.Get("Cookie") != "a=1; b=2" {
		t.Errorf("headers = %v", req.Header)
	}
	if c, err := req.Cookie("b"); err != nil || c.Value != "2" {
		t.Errorf("cookie b = %v, %v", c, err)
	}
	if req.RemoteAddr != "203.0.113.7:0" || req.URL.Scheme != "https" {
		t.Errorf("remote %q scheme %q", req.RemoteAddr, req.URL.Scheme)
	}
	body, _ := io.ReadAll(req.Body)
	if string(body) != "\x00\x01\x02\xff" || req.ContentLength != 4 {
		t.Errorf("body = %q (length %d)", body, req.ContentLength)
	}
}

func TestBadEvents(t *testing.T) {
	for name, mutate := range map[string]func(*events.APIGatewayV2HTTPRequest){
		"no method":    func(ev *events.APIGatewayV2HTTPRequest) { ev.RequestContext.HTTP.Method = "" },
		"bad base64":   func(ev *events.APIGatewayV2HTTPRequest) { ev.Body = "%%%" },
		"relative":     func(ev *events.APIGatewayV2HTTPRequest) { ev.RawPath = "v1/x" },
		"bad escaping": func(ev *events.APIGatewayV2HTTPRequest) { ev.RawPath = "/a%zz" },
	} {
		t.Run(name, func(t *testing.T) {
			ev := decode(t, functionURLEvent)
			mutate(&ev)
			called := false
			a := New(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }), slog.New(slog.DiscardHandler))
			resp, err := a.Invoke(context.Background(), ev)
			if err != nil || resp.StatusCode != http.StatusBadRequest || called || !strings.Contains(resp.Body, "lambdahttp") {
				t.Errorf("got %d %q, %v; handler called %v", resp.StatusCode, resp.Body, err, called)
			}
		})
	}
}

func TestResponse(t *testing.T) {
	big := strings.Repeat("x", MaxResponseBytes)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/text":
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Add("Vary", "Origin")
			w.Header().Add("Vary", "Accept-Encoding")
			http.SetCookie(w, &http.Cookie{Name: "s", Value: "1"})
			http.SetCookie(w, &http.Cookie{Name: "t", Value: "2"})
			io.WriteString(w, "#EXTM3U\n")
		case "/binary":
			w.Header().Set("Content-Type", "video/mp2t")
			w.WriteHeader(http.StatusPartialContent)
			w.Write([]byte{0x47, 0x00, 0xff})
		case "/gzip":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			w.Write([]byte{0x1f, 0x8b})
		case "/latin1":
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte{0xe9})
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/big":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, big)
		}
	})
	a := New(h, slog.New(slog.DiscardHandler))
	call := func(method, path string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		ev := decode(t, functionURLEvent)
		ev.RequestContext.HTTP.Method, ev.RawPath, ev.Body = method, path, ""
		resp, err := a.Invoke(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	r := call("GET", "/text")
	if r.StatusCode != 200 || r.Body != "#EXTM3U\n" || r.IsBase64Encoded || r.Headers["Vary"] != "Origin, Accept-Encoding" {
		t.Errorf("text: %+v", r)
	}
	if len(r.Cookies) != 2 || r.Cookies[0] != "s=1" || r.Cookies[1] != "t=2" || r.Headers["Set-Cookie"] != "" {
		t.Errorf("cookies: %q, header %q", r.Cookies, r.Headers["Set-Cookie"])
	}
	r = call("GET", "/binary")
	if b, _ := base64.StdEncoding.DecodeString(r.Body); r.StatusCode != 206 || !r.IsBase64Encoded || string(b) != "\x47\x00\xff" {
		t.Errorf("binary: %+v", r)
	}
	for _, p := range []string{"/gzip", "/latin1"} {
		if r = call("GET", p); !r.IsBase64Encoded {
			t.Errorf("%s: body should travel as base64: %+v", p, r)
		}
	}
	if r = call("GET", "/empty"); r.StatusCode != 204 || r.Body != "" {
		t.Errorf("empty: %+v", r)
	}
	if r = call("HEAD", "/text"); r.StatusCode != 200 || r.Body != "" || r.Headers["Content-Type"] != "application/vnd.apple.mpegurl" {
		t.Errorf("head: %+v", r)
	}
	if r = call("GET", "/big"); r.StatusCode != http.StatusBadGateway || !strings.Contains(r.Body, "too large") {
		t.Errorf("big: %d %q", r.StatusCode, r.Body)
	}
}

// FuzzRequest feeds arbitrary paths, queries, headers and bodies: Request
// either refuses the event or builds a request whose URL is the event's.
func FuzzRequest(f *testing.F) {
	f.Add("/hls/live/cam/index.m3u8", "start=1&end=2", "gzip", "", false)
	f.Add("/v1/clips", "", "", `{"stream":"live/cam"}`, false)
	f.Add("/seg/live/cam/r/1.ts", "token=a%2Bb", "", "AAEC", true)
	f.Add("/a%zz", "%", "\x00", "***", true)
	f.Fuzz(func(t *testing.T, path, query, header, body string, b64 bool) {
		ev := decode(t, functionURLEvent)
		ev.RawPath, ev.RawQueryString, ev.Body, ev.IsBase64Encoded = path, query, body, b64
		ev.Headers["accept-encoding"] = header
		req, err := Request(context.Background(), ev)
		if err != nil {
			return
		}
		want := path
		if want == "" {
			want = "/"
		}
		if query != "" {
			want += "?" + query
		}
		if req.RequestURI != want || !strings.HasPrefix(req.URL.Path, "/") {
			t.Fatalf("RequestURI %q path %q for rawPath %q query %q", req.RequestURI, req.URL.Path, path, query)
		}
		got, _ := io.ReadAll(req.Body)
		if !b64 && string(got) != body {
			t.Fatalf("body %q, want %q", got, body)
		}
		if int64(len(got)) != req.ContentLength {
			t.Fatalf("ContentLength %d for %d bytes", req.ContentLength, len(got))
		}
	})
}
