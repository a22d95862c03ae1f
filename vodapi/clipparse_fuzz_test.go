package vodapi

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// FuzzParseClip: a clip request body from anyone. It is refused with a 4xx
// apiError, or it is a request the worker can run as is: a valid stream,
// a window that ends after it starts, within MaxClip and not in the
// future, a known format and mode.
func FuzzParseClip(f *testing.F) {
	a := newAPI(f, Config{MaxClip: time.Hour})
	now := time.Now().Unix()
	f.Add([]byte(`{"stream":"live/cam","start":` + strconv.FormatInt(now-600, 10) + `,"end":` + strconv.FormatInt(now-60, 10) + `}`))
	f.Add([]byte(`{"stream":"live/cam","start":"2026-11-23T10:15:00Z","end":"2026-11-23T10:20:00Z","format":"hls","mode":"accurate","transcode":{"height":720}}`))
	f.Add([]byte(`{"stream":"live/cam","start":1,"end":2,"webhook_url":"http://127.0.0.1/"}`))
	f.Add([]byte(`{"stream":"live/cam"} {}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := a.srv.e.NewContext(httptest.NewRequest(http.MethodPost, "/v1/clips", bytes.NewReader(body)), httptest.NewRecorder())
		req, err := a.srv.parseClip(c)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status < 400 || ae.status > 499 {
				t.Fatalf("refused without a 4xx: %v", err)
			}
			return
		}
		if _, err := catalog.ParseStream(req.Stream); err != nil {
			t.Fatalf("stream %q accepted: %v", req.Stream, err)
		}
		if !req.End.After(req.Start) || req.End.Sub(req.Start) > time.Hour || req.End.After(time.Now().Add(clockSkew)) {
			t.Fatalf("window %v..%v accepted", req.Start, req.End)
		}
		switch {
		case req.Format != catalog.FormatMP4 && req.Format != catalog.FormatTS && req.Format != catalog.FormatHLS,
			req.Mode != catalog.ModeCopy && req.Mode != catalog.ModeAccurate:
			t.Fatalf("format %q mode %q accepted", req.Format, req.Mode)
		}
	})
}
