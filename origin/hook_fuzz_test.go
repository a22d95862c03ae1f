package origin

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// pipeTransport answers every request with resp, written raw by a fake
// server on the other end of an in-memory pipe.
func pipeTransport(resp []byte) *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			_ = server.SetDeadline(time.Now().Add(2 * time.Second))
			if req, err := http.ReadRequest(bufio.NewReader(server)); err == nil {
				_, _ = io.Copy(io.Discard, req.Body)
			}
			_, _ = server.Write(resp)
		}()
		return client, nil
	}}
}

var okStatusLine = regexp.MustCompile(`^HTTP/[0-9]+\.[0-9]+ +2[0-9][0-9]`)

// FuzzHookAnswer: whatever the publish hook's backend answers (a broken
// status line, a lying Content-Length, a huge body, garbage), the check
// ends within its timeout with allowed only for a 2xx status, and any
// other outcome is a denial or a failure the origin can act on.
func FuzzHookAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!"))
	f.Add([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200\r\nContent-Length: 99999999\r\n\r\nshort"))
	f.Add([]byte("HTTP/1.1 2000 OK\r\n\r\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, resp []byte) {
		h := newHookClient("http://hook.test/publish", 500*time.Millisecond)
		h.client.Transport = pipeTransport(resp)
		start := time.Now()
		err := h.check(context.Background(), HookRequest{App: "live", Name: "cam"})
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("check took %s", d)
		}
		switch {
		case err == nil && !okStatusLine.Match(resp):
			t.Fatalf("allowed by %q", resp)
		case err != nil && !errors.Is(err, errHookDenied) && !errors.Is(err, errHookFailed):
			t.Fatalf("unclassified error %v", err)
		}
	})
}
