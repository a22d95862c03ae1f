package vodapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/queue/embedded"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/s3test"
)

func post(t *testing.T, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// clipAPI is an API with a real embedded job queue.
func clipAPI(t *testing.T, cfg Config) (*api, *embedded.Queue) {
	t.Helper()
	q, err := embedded.Open(t.TempDir(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	cfg.Jobs = q
	return newAPI(t, cfg), q
}

// queued takes every message waiting in q and returns their clip ids.
func queued(t *testing.T, q queue.Queue) []string {
	t.Helper()
	msgs, err := q.Receive(context.Background(), 10, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		id, err := catalog.DecodeClipMessage(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// A clip across a reconnect resolves to one part per run with the
// segments that overlap the range; the job is in the store and the queue.
func TestClipSubmit(t *testing.T) {
	a, q := clipAPI(t, Config{PublicURL: "https://api.example.com/"})
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run1 := writeRun(t, a.st, t0, false)
	run2 := writeRun(t, a.st, t0.Add(20*time.Second), false)
	// From 9 s into run 1 (its 5th segment) to 3 s into run 2 (its 2nd).
	start, end := t0.Add(9*time.Second), t0.Add(23*time.Second)
	body := fmt.Sprintf(`{"stream":"live/cam","start":%q,"end":%d,"format":"ts","mode":"accurate",
		"transcode":{"height":180,"video_bitrate":300000},"webhook_url":"https://hooks.example.com/x"}`,
		start.Format(time.RFC3339), end.Unix())
	resp, b := post(t, a.ts.URL+"/v1/clips", body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var acc struct{ ID, Status, StatusURL string }
	if err := json.Unmarshal(b, &acc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &struct {
		StatusURL *string `json:"status_url"`
	}{&acc.StatusURL}); err != nil {
		t.Fatal(err)
	}
	if acc.Status != catalog.ClipQueued || acc.StatusURL != "https://api.example.com/v1/clips/"+acc.ID {
		t.Fatalf("accepted %+v", acc)
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/clips/"+acc.ID {
		t.Errorf("Location %q", loc)
	}
	if ids := queued(t, q); len(ids) != 1 || ids[0] != acc.ID {
		t.Fatalf("queue holds %v, want [%s]", ids, acc.ID)
	}
	job, err := catalog.ReadClipJob(context.Background(), a.st, acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	segs := testSegments(t)
	if len(job.Parts) != 2 || job.Parts[0].Run != run1 || job.Parts[1].Run != run2 {
		t.Fatalf("parts %+v", job.Parts)
	}
	// Which segments overlap, from the fixture's real durations.
	cover := func(base time.Time, from, to time.Time) (first, last uint64) {
		at := base
		for i, s := range segs {
			segEnd := at.Add(s.Dur)
			if segEnd.After(from) && at.Before(to) {
				if first == 0 {
					first = uint64(i + 1)
				}
				last = uint64(i + 1)
			}
			at = segEnd
		}
		return
	}
	f1, l1 := cover(t0, start, end)
	f2, l2 := cover(t0.Add(20*time.Second), start, end)
	p1, p2 := job.Parts[0], job.Parts[1]
	if p1.FirstSeq != f1 || p1.LastSeq != l1 || p2.FirstSeq != f2 || p2.LastSeq != l2 {
		t.Errorf("parts %+v, want %d..%d and %d..%d", job.Parts, f1, l1, f2, l2)
	}
	if p2.StartMS != t0.Add(20*time.Second).UnixMilli() {
		t.Errorf("part 2 starts at %d", p2.StartMS)
	}
	r := job.Request
	if r.Format != "ts" || r.Mode != "accurate" || r.Transcode.Height != 180 || r.Transcode.VideoBitrate != 300000 ||
		!r.Start.Equal(start) || !r.End.Equal(end) || r.WebhookURL != "https://hooks.example.com/x" {
		t.Errorf("request %+v", r)
	}

	resp, b = get(t, a.ts.URL+"/v1/clips/"+acc.ID)
	var v catalog.ClipView
	if err := json.Unmarshal(b, &v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if v.ID != acc.ID || v.Status != "queued" || v.Progress != 0 || v.Output != nil || v.Stream != "live/cam" {
		t.Errorf("view %+v", v)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q for a queued job", cc)
	}
	resp, b = get(t, a.ts.URL+"/v1/clips/"+acc.ID+"/output")
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), "clip_not_ready") {
		t.Errorf("output of a queued job: %d %s", resp.StatusCode, b)
	}
}

// The same Idempotency-Key returns the same job and queues nothing new;
// with another body it is refused.
func TestClipIdempotency(t *testing.T) {
	a, q := clipAPI(t, Config{})
	t0 := time.Now().Add(-time.Hour)
	writeRun(t, a.st, t0, false)
	body := fmt.Sprintf(`{"stream":"live/cam","start":%d,"end":%d}`, t0.Unix()+1, t0.Unix()+5)
	var ids []string
	for i := range 3 {
		resp, b := post(t, a.ts.URL+"/v1/clips", body, "Idempotency-Key", "order-42")
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if got := resp.Header.Get("Idempotent-Replayed"); (i > 0) != (got == "true") {
			t.Errorf("request %d: Idempotent-Replayed %q", i, got)
		}
		var acc struct{ ID string }
		json.Unmarshal(b, &acc)
		ids = append(ids, acc.ID)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("ids %v", ids)
	}
	if got := queued(t, q); len(got) != 1 {
		t.Fatalf("queued %v, want one job", got)
	}
	resp, b := post(t, a.ts.URL+"/v1/clips", strings.Replace(body, "}", `,"format":"ts"}`, 1), "Idempotency-Key", "order-42")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "idempotency_mismatch") {
		t.Errorf("reused key, other body: %d %s", resp.StatusCode, b)
	}
	// Without a key, every request is a new job.
	_, b1 := post(t, a.ts.URL+"/v1/clips", body)
	_, b2 := post(t, a.ts.URL+"/v1/clips", body)
	if bytes.Equal(b1, b2) {
		t.Errorf("two keyless requests gave one job: %s", b1)
	}
}

// Every bad request is a 4xx JSON error at submit time, and nothing is
// queued or stored for it.
func TestClipBadRequests(t *testing.T) {
	a, q := clipAPI(t, Config{MaxClip: time.Minute})
	t0 := time.Now().Add(-time.Hour)
	writeRun(t, a.st, t0, false)
	s, e := t0.Unix()+1, t0.Unix()+5
	ok := func(extra string) string {
		return fmt.Sprintf(`{"stream":"live/cam","start":%d,"end":%d%s}`, s, e, extra)
	}
	cases := []struct {
		name, body, code string
		status           int
		hdr              []string
	}{
		{"not json", `{"stream":`, "bad_body", 400, nil},
		{"unknown field", ok(`,"speed":2`), "bad_body", 400, nil},
		{"trailing garbage", ok("") + "garbage", "bad_body", 400, nil},
		{"trailing object", ok("") + ok(""), "bad_body", 400, nil},
		{"trailing brace", ok("") + "}", "bad_body", 400, nil},
		{"bad stream", `{"stream":"live/../x","start":1,"end":2}`, "bad_stream", 400, nil},
		{"no start", `{"stream":"live/cam","end":2}`, "bad_time", 400, nil},
		{"bad time", `{"stream":"live/cam","start":"yesterday","end":2}`, "bad_time", 400, nil},
		{"end before start", fmt.Sprintf(`{"stream":"live/cam","start":%d,"end":%d}`, e, s), "bad_window", 400, nil},
		{"end equals start", fmt.Sprintf(`{"stream":"live/cam","start":%d,"end":%d}`, s, s), "bad_window", 400, nil},
		{"too long", fmt.Sprintf(`{"stream":"live/cam","start":%d,"end":%d}`, s, s+61), "clip_too_long", 400, nil},
		{"future", fmt.Sprintf(`{"stream":"live/cam","start":%d,"end":%d}`, time.Now().Unix(), time.Now().Unix()+30), "bad_window", 400, nil},
		{"unknown format", ok(`,"format":"gif"`), "bad_format", 400, nil},
		{"unknown mode", ok(`,"mode":"fast"`), "bad_mode", 400, nil},
		{"odd height", ok(`,"transcode":{"height":181}`), "bad_transcode", 400, nil},
		{"huge bitrate", ok(`,"transcode":{"height":720,"video_bitrate":1000000000}`), "bad_transcode", 400, nil},
		{"bad webhook", ok(`,"webhook_url":"ftp://x/y"`), "bad_webhook_url", 400, nil},
		{"relative webhook", ok(`,"webhook_url":"/hook"`), "bad_webhook_url", 400, nil},
		{"bad key", ok(""), "bad_idempotency_key", 400, []string{"Idempotency-Key", strings.Repeat("k", 256)}},
		{"nothing recorded", fmt.Sprintf(`{"stream":"live/cam","start":%d,"end":%d}`, s-600, s-550), "no_recording", 404, nil},
		{"unknown stream", fmt.Sprintf(`{"stream":"live/nobody","start":%d,"end":%d}`, s, e), "no_recording", 404, nil},
		{"too large", `{"stream":"` + strings.Repeat("a", 70<<10) + `"}`, "body_too_large", 413, nil},
	}
	for _, c := range cases {
		resp, b := post(t, a.ts.URL+"/v1/clips", c.body, c.hdr...)
		var je struct{ Error, Code string }
		if err := json.Unmarshal(b, &je); err != nil || je.Error == "" {
			t.Errorf("%s: not a JSON error: %d %s", c.name, resp.StatusCode, b)
			continue
		}
		if resp.StatusCode != c.status || je.Code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, je.Code, c.status, c.code)
		}
	}
	if ids := queued(t, q); len(ids) != 0 {
		t.Errorf("bad requests queued %v", ids)
	}
	res, err := a.st.List(context.Background(), catalog.ClipsPrefix, store.ListOptions{})
	if err != nil || len(res.Objects) != 0 {
		t.Errorf("bad requests stored %v (%v)", res.Objects, err)
	}
	for _, p := range []string{"/v1/clips/nope", "/v1/clips/" + strings.Repeat("g", 24), "/v1/clips/" + strings.Repeat("a", 24),
		"/v1/clips/" + strings.Repeat("a", 24) + "/output", "/v1/clips/" + strings.Repeat("a", 24) + "/seg_00000.ts"} {
		resp, b := get(t, a.ts.URL+p)
		if resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
}

// Without a queue the API says clips are off, as JSON.
func TestClipsDisabled(t *testing.T) {
	a := newAPI(t, Config{})
	resp, b := post(t, a.ts.URL+"/v1/clips", `{}`)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "clips_disabled") {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	// Without libav (a CGO_ENABLED=0 build) stills are off, as JSON.
	run := writeRun(t, a.st, time.Now().Add(-time.Hour), false)
	for _, p := range []string{"/v1/streams/live/cam/thumbnail.jpg?at=" + strconv.FormatInt(time.Now().Add(-time.Hour).Unix()+2, 10),
		"/v1/streams/live/cam/recordings/" + run + "/thumbnails.vtt", "/v1/streams/live/cam/recordings/" + run + "/sprites/0.jpg"} {
		resp, b := get(t, a.ts.URL+p)
		if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(b), "thumbnails_unavailable") {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
}

// On S3, /output redirects to a presigned URL that reads the object
// without credentials; an HLS clip's playlist is answered by the API so its
// relative segment URIs come back here, and they redirect in turn.
func TestClipOutputOnS3(t *testing.T) {
	st := s3test.Start(t).Store(t)
	srv, err := New(Config{}, st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour).UTC()
	put := func(key string, body []byte) {
		if err := st.Put(ctx, key, body, ""); err != nil {
			t.Fatal(err)
		}
	}
	job := func(format, key string) string {
		j := &catalog.ClipJob{ID: catalog.NewClipID(), Status: catalog.ClipSucceeded, Progress: 100, CreatedAt: t0, UpdatedAt: t0,
			Request: catalog.ClipRequest{Stream: "live/cam", Start: t0, End: t0.Add(time.Minute), Format: format, Mode: "copy"},
			Parts:   []catalog.ClipPart{{Run: catalog.NewRunID(t0, "n1"), FirstSeq: 1, LastSeq: 2, StartMS: 1, EndMS: 2}},
			Output:  &catalog.ClipOutput{Key: key, ContentType: store.ContentTypeFor(key), Size: 5}}
		j.Output.Key = catalog.ClipPrefix(j.ID) + key
		if err := catalog.WriteClipJob(ctx, st, j); err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	follow := func(u string) (int, string) {
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("%s: %d, want a redirect", u, resp.StatusCode)
		}
		loc := resp.Header.Get("Location")
		if !strings.Contains(loc, "X-Amz-Signature=") {
			t.Errorf("redirect to %q is not presigned", loc)
		}
		resp, err = http.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	id := job("mp4", "clip.mp4")
	put(catalog.ClipPrefix(id)+"clip.mp4", []byte("movie"))
	if code, body := follow(ts.URL + "/v1/clips/" + id + "/output"); code != 200 || body != "movie" {
		t.Errorf("presigned mp4: %d %q", code, body)
	}

	id = job("hls", "hls/index.m3u8")
	put(catalog.ClipPrefix(id)+"hls/seg_00000.ts", []byte("seg-0"))
	put(catalog.ClipPrefix(id)+"hls/index.m3u8", []byte("#EXTM3U\n#EXTINF:4,\nseg_00000.ts\n#EXT-X-ENDLIST\n"))
	resp, body := get(t, ts.URL+"/v1/clips/"+id+"/output")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "seg_00000.ts") {
		t.Fatalf("hls playlist: %d %s", resp.StatusCode, body)
	}
	if code, b := follow(ts.URL + "/v1/clips/" + id + "/seg_00000.ts"); code != 200 || b != "seg-0" {
		t.Errorf("presigned hls segment: %d %q", code, b)
	}
	if resp, _ := get(t, ts.URL+"/v1/clips/"+id+"/job.json"); resp.StatusCode != 404 {
		t.Errorf("a non-segment file name is served: %d", resp.StatusCode)
	}
}
