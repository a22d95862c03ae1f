package main

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/runtest"
	"github.com/rewind-vod/rewind/internal/testproc"
)

// TestLambdaMatchesHTTP runs the Lambda build of rewind (CGO_ENABLED=0,
// -tags lambda.norpc, named bootstrap, no arguments, configured by
// REWIND_* variables as Terraform configures it) under AWS's Lambda
// Runtime Interface Emulator, and `rewind vodapi` as an HTTP server on the
// same store. Function URL and API Gateway HTTP API events for playlists,
// segments and JSON must get the same status, headers and body as the
// same requests over HTTP.
func TestLambdaMatchesHTTP(t *testing.T) {
	rie, err := testproc.Binary("REWIND_LAMBDA_RIE", "aws-lambda-rie")
	if err != nil {
		t.Fatalf("the Lambda Runtime Interface Emulator is missing (make deps builds it): %v", err)
	}
	dir := t.TempDir()
	bootstrap := filepath.Join(dir, "task", "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, out)
	}

	st, err := fsstore.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	cam := catalog.Stream{App: "live", Name: "cam"}
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	ended := runtest.WriteRun(t, st, cam, start, false)
	live := runtest.WriteRun(t, st, cam, time.Now().Add(-10*time.Second), true)

	env := append(os.Environ(),
		"REWIND_STORE=file://"+filepath.Join(dir, "store"),
		"REWIND_SEGMENT_DURATION=2s",
		"REWIND_LOG_FORMAT=json",
		"REWIND_CORS_ORIGINS=https://player.example",
	)
	httpAddr := freeAddr(t)
	vodapi := exec.Command(binPath, "vodapi", "--http-addr", httpAddr)
	vodapi.Env = env
	hp, err := testproc.Start(vodapi, 20*time.Second, testproc.HTTPCheck("http://"+httpAddr+"/healthz", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer hp.Kill()

	rieAddr, runtimeAddr := freeAddr(t), freeAddr(t)
	emu := exec.Command(rie, "--runtime-interface-emulator-address", rieAddr, "--runtime-api-address", runtimeAddr, bootstrap)
	emu.Dir = filepath.Dir(bootstrap)
	emu.Env = env
	lp, err := testproc.Start(emu, 20*time.Second, testproc.HTTPCheck("http://"+rieAddr+"/", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		lp.Kill()
		if t.Failed() {
			t.Logf("emulator and bootstrap log:\n%s", lp.Output())
		}
	}()

	h := &lambdaHarness{t: t, httpBase: "http://" + httpAddr, invokeURL: "http://" + rieAddr + "/2015-03-31/functions/function/invocations",
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 30 * time.Second}}

	// The ended recording's playlist gives a real segment URI to fetch.
	recPath := "/hls/live/cam/runs/" + ended + "/index.m3u8"
	_, _, pl := h.http("GET", recPath, nil)
	var segPath string
	for _, line := range strings.Split(string(pl), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			u, err := url.Parse(recPath)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := url.Parse(line)
			if err != nil {
				t.Fatal(err)
			}
			segPath = u.ResolveReference(ref).RequestURI()
			break
		}
	}
	if segPath == "" {
		t.Fatalf("no segment in the playlist:\n%s", pl)
	}
	window := "/hls/live/cam/index.m3u8?start=" + fmt.Sprint(start.Unix()) + "&end=" + fmt.Sprint(start.Add(8*time.Second).Unix())
	origin := http.Header{"Origin": {"https://player.example"}}

	for _, c := range []struct {
		name, method, uri string
		header            http.Header
		status            int
	}{
		{"run playlist", "GET", recPath, nil, 200},
		{"run playlist gzip", "GET", recPath, http.Header{"Accept-Encoding": {"gzip, br"}}, 200},
		{"live run playlist", "GET", "/hls/live/cam/runs/" + live + "/index.m3u8", origin, 200},
		{"window playlist", "GET", window, nil, 200},
		{"segment", "GET", segPath, nil, 200},
		{"segment range", "GET", segPath, http.Header{"Range": {"bytes=188-375"}}, 206},
		{"segment head", "HEAD", segPath, nil, 200},
		{"recordings", "GET", "/v1/streams/live/cam/recordings", origin, 200},
		{"not found", "GET", "/hls/live/nobody/runs/" + ended + "/index.m3u8", nil, 404},
		{"bad time", "GET", "/hls/live/cam/index.m3u8?start=yesterday", nil, 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			status, header, body := h.http(c.method, c.uri, c.header)
			if status != c.status {
				t.Fatalf("HTTP answered %d, want %d: %s", status, c.status, body)
			}
			for _, kind := range []string{"function URL", "API Gateway HTTP API"} {
				lstatus, lheader, lbody := h.lambda(kind, c.method, c.uri, c.header)
				if lstatus != status {
					t.Errorf("%s: status %d, HTTP %d", kind, lstatus, status)
				}
				if !bytes.Equal(lbody, body) {
					t.Errorf("%s: body differs (%d bytes vs HTTP %d)", kind, len(lbody), len(body))
				}
				if got, want := headerLines(lheader), headerLines(header); got != want {
					t.Errorf("%s: headers differ:\nLambda:\n%s\nHTTP:\n%s", kind, got, want)
				}
			}
		})
	}
}

// TestLambdaZip checks what `make lambda` built (make test passes its path):
// one static arm64 executable named bootstrap at the root, as
// provided.al2023 on arm64 runs it.
func TestLambdaZip(t *testing.T) {
	path := os.Getenv("REWIND_LAMBDA_ZIP")
	if path == "" {
		t.Skip("REWIND_LAMBDA_ZIP not set: run through make test, which builds the zip with make lambda")
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" {
		t.Fatalf("zip entries %v, want just bootstrap", zr.File)
	}
	f := zr.File[0]
	if f.Mode().Perm()&0o111 == 0 {
		t.Errorf("bootstrap mode %v is not executable", f.Mode())
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("bootstrap is not an ELF executable: %v", err)
	}
	if exe.Machine != elf.EM_AARCH64 {
		t.Errorf("bootstrap is built for %v, want arm64", exe.Machine)
	}
	for _, p := range exe.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("bootstrap is dynamically linked; the Lambda build must be CGO_ENABLED=0")
		}
	}
}

type lambdaHarness struct {
	t                   *testing.T
	httpBase, invokeURL string
	client              *http.Client
}

func (h *lambdaHarness) http(method, uri string, header http.Header) (int, http.Header, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.httpBase+uri, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" && method != "HEAD" && cl != fmt.Sprint(len(body)) {
		h.t.Fatalf("HTTP Content-Length %s for %d bytes", cl, len(body))
	}
	return resp.StatusCode, resp.Header, body
}

// lambda sends the request as the event Lambda would deliver for it.
func (h *lambdaHarness) lambda(kind, method, uri string, header http.Header) (int, http.Header, []byte) {
	h.t.Helper()
	path, query, _ := strings.Cut(uri, "?")
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RawPath:        path,
		RawQueryString: query,
		Headers:        map[string]string{"user-agent": "rewind-test", "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.4"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID: "anonymous", RequestID: "req-" + testproc.RandHex(4), Stage: "$default", RouteKey: "$default",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "198.51.100.4", UserAgent: "rewind-test"},
		},
	}
	switch kind {
	case "function URL":
		ev.RequestContext.APIID, ev.RequestContext.DomainName = "f3k2abc", "f3k2abc.lambda-url.eu-west-1.on.aws"
	default:
		ev.RouteKey = "$default"
		ev.RequestContext.APIID, ev.RequestContext.DomainName = "a1b2c3", "a1b2c3.execute-api.eu-west-1.amazonaws.com"
	}
	ev.Headers["host"] = ev.RequestContext.DomainName
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			h.t.Fatal(err)
		}
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	for k, vs := range header {
		ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.client.Post(h.invokeURL, "application/json", bytes.NewReader(payload))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		h.t.Fatalf("invoke: %s %v: %s", resp.Status, err, raw)
	}
	var out events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		h.t.Fatalf("invoke answer %q: %v", raw, err)
	}
	body := []byte(out.Body)
	if out.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(out.Body); err != nil {
			h.t.Fatal(err)
		}
	}
	hd := http.Header{}
	for k, v := range out.Headers {
		hd.Set(k, v)
	}
	for _, c := range out.Cookies {
		hd.Add("Set-Cookie", c)
	}
	return out.StatusCode, hd, body
}

// headerLines lists the headers the handler set, one "Name: value" a line,
// sorted; Date and Content-Length belong to the transport (the HTTP server
// or Lambda's front end) and are left out.
func headerLines(h http.Header) string {
	var lines []string
	for k, vs := range h {
		if k == "Date" || k == "Content-Length" {
			continue
		}
		lines = append(lines, k+": "+strings.Join(vs, ", "))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
