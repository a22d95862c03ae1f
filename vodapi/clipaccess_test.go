package vodapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/runtest"
	"github.com/rewind-vod/rewind/internal/s3test"
)

// With playback secrets, every clip route needs the clip's stream's play
// token or an API token: without one, with a bad one, or with another
// stream's, it is a 403 JSON error that no cache keeps. With the play
// token, the URLs of the answer carry it, and it is what opens them.
func TestClipAccessWithPlaybackSecrets(t *testing.T) {
	q := openQueue(t)
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := apiOver(t, Config{Jobs: q, PlaybackSecrets: []string{testSecret}, APITokens: []string{"unused", testAPIToken}}, st)
	t0 := time.Now().Add(-time.Hour)
	runtest.WriteRun(t, st, fixStream, t0, false)
	runtest.WriteRun(t, st, otherStream, t0, false)
	exp := time.Now().Add(10 * time.Minute)
	camTok := SignPlayback(testSecret, fixStream, exp)
	otherTok := SignPlayback(testSecret, otherStream, exp)
	expired := SignPlayback(testSecret, fixStream, time.Now().Add(-time.Second))
	bearer := []string{"Authorization", "Bearer " + testAPIToken}
	clips := a.ts.URL + "/v1/clips"
	body := clipBodyFor(fixStream, t0)

	// Submitting.
	for name, c := range map[string]struct {
		query string
		hdr   []string
		code  string
	}{
		"no credential":               {"", nil, "credential_required"},
		"only exp":                    {"?exp=" + strconv.FormatInt(exp.Unix(), 10), nil, "credential_required"},
		"other stream":                {"?" + otherTok, nil, "bad_signature"},
		"expired":                     {"?" + expired, nil, "signature_expired"},
		"wrong API token":             {"", []string{"Authorization", "Bearer " + testAPIToken + "x"}, "bad_api_token"},
		"API token, bad token beside": {"?" + camTok, []string{"Authorization", "Bearer nope"}, "bad_api_token"},
	} {
		resp, b := post(t, clips+c.query, body, c.hdr...)
		checkRefused(t, "submit, "+name, resp, b, c.code)
	}
	if ids := queued(t, q); len(ids) != 0 {
		t.Fatalf("refused submits queued %v", ids)
	}
	if res, err := st.List(context.Background(), catalog.ClipsPrefix, store.ListOptions{}); err != nil || len(res.Objects) != 0 {
		t.Fatalf("refused submits stored %v (%v)", res.Objects, err)
	}

	resp, b := post(t, clips+"?"+camTok, body)
	id, statusURL := acceptedID(t, "submit with the play token", resp, b)
	if statusURL != "/v1/clips/"+id+"?"+camTok || resp.Header.Get("Location") != statusURL {
		t.Errorf("status URL %q, Location %q: the token is not carried on", statusURL, resp.Header.Get("Location"))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("submit answer: Cache-Control %q", cc)
	}
	resp, b = post(t, clips, body, bearer...)
	id2, statusURL2 := acceptedID(t, "submit with the API token", resp, b)
	if statusURL2 != "/v1/clips/"+id2 {
		t.Errorf("API token submit: status URL %q", statusURL2)
	}
	if ids := queued(t, q); len(ids) != 2 {
		t.Fatalf("queued %v, want both submits", ids)
	}

	// The job status.
	resp, b = get(t, a.ts.URL+statusURL)
	var v catalog.ClipView
	if err := json.Unmarshal(b, &v); err != nil || resp.StatusCode != 200 || v.ID != id || v.StatusURL != statusURL {
		t.Errorf("status with the carried token: %d %s", resp.StatusCode, b)
	}
	if resp, b := get(t, a.ts.URL+"/v1/clips/"+id, bearer...); resp.StatusCode != 200 || !strings.Contains(string(b), `"status_url":"/v1/clips/`+id+`"`) {
		t.Errorf("status with the API token: %d %s", resp.StatusCode, b)
	}
	for name, q := range map[string]string{"no token": "", "other stream": "?" + otherTok, "expired": "?" + expired} {
		resp, b := get(t, a.ts.URL+"/v1/clips/"+id+q)
		checkRefused(t, "status, "+name, resp, b, "")
	}
	// No credential: refused before the store is asked, so an unknown id
	// looks like a known one.
	resp, b = get(t, a.ts.URL+"/v1/clips/"+catalog.NewClipID())
	checkRefused(t, "status of an unknown clip, no token", resp, b, "credential_required")

	// A finished MP4 clip of the stream, and one of the other stream.
	mp4 := finishedClip(t, st, fixStream, "mp4", "clip.mp4", "movie")
	otherMP4 := finishedClip(t, st, otherStream, "mp4", "clip.mp4", "other movie")
	resp, b = get(t, a.ts.URL+"/v1/clips/"+mp4+"?"+camTok)
	if err := json.Unmarshal(b, &v); err != nil || v.Output == nil || v.Output.URL != "/v1/clips/"+mp4+"/output?"+camTok {
		t.Fatalf("finished status: %d %s", resp.StatusCode, b)
	}
	checkBounded(t, "finished status", resp.Header.Get("Cache-Control"), exp)
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		resp, b = do(t, m, a.ts.URL+v.Output.URL)
		if resp.StatusCode != 200 || (m == http.MethodGet && string(b) != "movie") {
			t.Errorf("%s output with the carried token: %d %q", m, resp.StatusCode, b)
		}
		checkBounded(t, m+" output", resp.Header.Get("Cache-Control"), exp)
		resp, b = do(t, m, a.ts.URL+"/v1/clips/"+mp4+"/output")
		checkRefused(t, m+" output, no token", resp, b, "credential_required")
	}
	if resp, b := get(t, a.ts.URL+"/v1/clips/"+mp4+"/output", bearer...); resp.StatusCode != 200 || string(b) != "movie" {
		t.Errorf("output with the API token: %d %q", resp.StatusCode, b)
	}
	// A token of live/cam opens no clip of live/other, even one it names.
	for _, p := range []string{"", "/output"} {
		resp, b := get(t, a.ts.URL+"/v1/clips/"+otherMP4+p+"?"+camTok)
		checkRefused(t, "other stream's clip"+p+" with cam's token", resp, b, "bad_signature")
		if resp, _ := get(t, a.ts.URL+"/v1/clips/"+otherMP4+p+"?"+otherTok); resp.StatusCode != 200 {
			t.Errorf("other stream's clip%s with its own token: %d", p, resp.StatusCode)
		}
	}

	// An HLS clip: the playlist carries the token on to its segments.
	hls := finishedClip(t, st, fixStream, "hls", "hls/index.m3u8",
		"#EXTM3U\r\n#EXT-X-TARGETDURATION:4\r\n#EXTINF:4,\r\nseg_00000.ts\r\n#EXTINF:2,\r\nseg_00001.ts\r\n#EXT-X-ENDLIST\r\n",
		"hls/seg_00000.ts", "seg-0", "hls/seg_00001.ts", "seg-1")
	out := a.ts.URL + "/v1/clips/" + hls + "/output?" + camTok
	resp, b = get(t, out)
	if resp.StatusCode != 200 {
		t.Fatalf("hls playlist: %d %s", resp.StatusCode, b)
	}
	checkBounded(t, "hls playlist", resp.Header.Get("Cache-Control"), exp)
	want := "#EXTM3U\r\n#EXT-X-TARGETDURATION:4\r\n#EXTINF:4,\r\nseg_00000.ts?" + camTok + "\r\n#EXTINF:2,\r\nseg_00001.ts?" + camTok + "\r\n#EXT-X-ENDLIST\r\n"
	if string(b) != want {
		t.Errorf("hls playlist:\n%s\nwant\n%s", b, want)
	}
	if r2, _ := get(t, out, "If-None-Match", resp.Header.Get("ETag")); r2.StatusCode != http.StatusNotModified {
		t.Errorf("hls playlist revalidation: %d", r2.StatusCode)
	}
	base, _ := neturl.Parse(out)
	for i, u := range []string{"seg_00000.ts?" + camTok, "seg_00001.ts?" + camTok} {
		ref, _ := neturl.Parse(u)
		resp, b := get(t, base.ResolveReference(ref).String())
		if resp.StatusCode != 200 || string(b) != "seg-"+strconv.Itoa(i) {
			t.Errorf("hls segment %s: %d %q", u, resp.StatusCode, b)
		}
		checkBounded(t, "hls segment", resp.Header.Get("Cache-Control"), exp)
	}
	resp, b = get(t, a.ts.URL+"/v1/clips/"+hls+"/seg_00000.ts")
	checkRefused(t, "hls segment, no token", resp, b, "credential_required")
	resp, b = get(t, a.ts.URL+"/v1/clips/"+hls+"/seg_00000.ts?"+otherTok)
	checkRefused(t, "hls segment, other stream's token", resp, b, "bad_signature")
	// With the API token the playlist is the editor's, as stored.
	if resp, b := get(t, a.ts.URL+"/v1/clips/"+hls+"/output", bearer...); resp.StatusCode != 200 || strings.Contains(string(b), "sig=") {
		t.Errorf("hls playlist with the API token: %d %s", resp.StatusCode, b)
	}
}

// With API tokens alone (playback open), clips need one of them: there is
// no play token to bring.
func TestClipAccessAPITokensOnly(t *testing.T) {
	a, q := clipAPI(t, Config{APITokens: []string{testAPIToken}})
	t0 := time.Now().Add(-time.Hour)
	writeRun(t, a.st, t0, false)
	body := clipBodyFor(fixStream, t0)
	resp, b := post(t, a.ts.URL+"/v1/clips", body)
	checkRefused(t, "no token", resp, b, "credential_required")
	resp, b = post(t, a.ts.URL+"/v1/clips?"+SignPlayback("any", fixStream, time.Now().Add(time.Hour)), body)
	checkRefused(t, "a play token", resp, b, "credential_required")
	resp, b = post(t, a.ts.URL+"/v1/clips", body, "Authorization", "Basic "+testAPIToken)
	checkRefused(t, "not a bearer", resp, b, "credential_required")
	resp, b = post(t, a.ts.URL+"/v1/clips", body, "Authorization", "bearer "+testAPIToken)
	id, _ := acceptedID(t, "API token", resp, b)
	if ids := queued(t, q); len(ids) != 1 || ids[0] != id {
		t.Errorf("queued %v", ids)
	}
	resp, b = get(t, a.ts.URL+"/v1/clips/"+id)
	checkRefused(t, "status, no token", resp, b, "credential_required")
	if resp, b := get(t, a.ts.URL+"/v1/clips/"+id, "Authorization", "Bearer "+testAPIToken); resp.StatusCode != 200 {
		t.Errorf("status with the API token: %d %s", resp.StatusCode, b)
	}
}

// Ids are random: the key gives no clip id (the id once was a hash of the
// key), and the same key and body on another store make another id.
func TestClipIDNotFromKey(t *testing.T) {
	old := sha256.Sum256([]byte("rewind-clip\x00order-42"))
	var ids []string
	for range 2 {
		a, _ := clipAPI(t, Config{})
		t0 := time.Now().Add(-time.Hour).Truncate(time.Hour)
		writeRun(t, a.st, t0, false)
		resp, b := post(t, a.ts.URL+"/v1/clips", clipBodyFor(fixStream, t0), "Idempotency-Key", "order-42")
		id, _ := acceptedID(t, "submit", resp, b)
		if id == hex.EncodeToString(old[:12]) {
			t.Errorf("id %s is the hash of the key", id)
		}
		for _, k := range []string{"order-42", "live/cam\x00order-42", "rewind-clip\x00order-42"} {
			sum := sha256.Sum256([]byte(k))
			if strings.HasPrefix(hex.EncodeToString(sum[:]), id) {
				t.Errorf("id %s derives from %q", id, k)
			}
		}
		ids = append(ids, id)
	}
	if ids[0] == ids[1] {
		t.Errorf("one key made one id on two stores: %s", ids[0])
	}
}

// One Idempotency-Key sent by two submitters for two streams makes two
// jobs: the key is scoped by the stream, so a guessed key never reaches
// a clip of a stream the caller cannot open.
func TestClipIdempotencyPerStream(t *testing.T) {
	q := openQueue(t)
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := apiOver(t, Config{Jobs: q, PlaybackSecrets: []string{testSecret}}, st)
	t0 := time.Now().Add(-time.Hour)
	runtest.WriteRun(t, st, fixStream, t0, false)
	runtest.WriteRun(t, st, otherStream, t0, false)
	exp := time.Now().Add(time.Hour)
	submit := func(s catalog.Stream) (string, *http.Response) {
		resp, b := post(t, a.ts.URL+"/v1/clips?"+SignPlayback(testSecret, s, exp), clipBodyFor(s, t0), "Idempotency-Key", "order-42")
		id, _ := acceptedID(t, "submit "+s.String(), resp, b)
		return id, resp
	}
	cam, _ := submit(fixStream)
	other, resp := submit(otherStream)
	if cam == other || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("the key of live/cam's job reached it from live/other: %s %s", cam, other)
	}
	again, resp := submit(fixStream)
	if again != cam || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("repeat on live/cam: %s (replayed %q), want %s", again, resp.Header.Get("Idempotent-Replayed"), cam)
	}
	j, err := catalog.ReadClipJob(context.Background(), st, other)
	if err != nil || j.Request.Stream != otherStream.String() {
		t.Errorf("live/other's job: %+v %v", j, err)
	}
	if ids := queued(t, q); len(ids) != 2 {
		t.Errorf("queued %v, want two jobs", ids)
	}
}

// Concurrent submits with one key make one job, on one copy of the API and
// on two copies over one store taking turns.
func TestClipIdempotencyConcurrent(t *testing.T) {
	q := openQueue(t)
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := apiOver(t, Config{Jobs: q}, st)
	b := apiOver(t, Config{Jobs: q}, st)
	t0 := time.Now().Add(-time.Hour)
	runtest.WriteRun(t, st, fixStream, t0, false)
	body := clipBodyFor(fixStream, t0)
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, body := post(t, a.ts.URL+"/v1/clips", body, "Idempotency-Key", "order-7")
			if resp.StatusCode == http.StatusAccepted {
				var acc struct{ ID string }
				json.Unmarshal(body, &acc)
				ids[i] = acc.ID
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("concurrent submits gave %v", ids)
		}
	}
	resp, rb := post(t, b.ts.URL+"/v1/clips", body, "Idempotency-Key", "order-7")
	if id, _ := acceptedID(t, "other copy", resp, rb); id != ids[0] || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the other copy made %s, want the first job %s", id, ids[0])
	}
	if got := queued(t, q); len(got) != 1 {
		t.Errorf("queued %v, want one job", got)
	}
	res, err := st.List(context.Background(), catalog.ClipsPrefix, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var docs int
	for _, o := range res.Objects {
		if strings.HasSuffix(o.Key, "/job.json") {
			docs++
		}
	}
	if docs != 1 {
		t.Errorf("%d job documents stored, want 1: %v", docs, res.Objects)
	}
}

// A key whose job was not queued (so its document was removed), or whose
// record names a job that was never written, submits afresh.
func TestClipIdempotencyDeadRecord(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	runtest.WriteRun(t, st, fixStream, t0, false)
	body := clipBodyFor(fixStream, t0)
	ctx := context.Background()

	down := openQueue(t)
	down.Close()
	a := apiOver(t, Config{Jobs: down}, st)
	resp, b := post(t, a.ts.URL+"/v1/clips", body, "Idempotency-Key", "order-9")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "queue_unavailable") {
		t.Fatalf("queue down: %d %s", resp.StatusCode, b)
	}
	rec, err := catalog.ReadClipIdem(ctx, st, fixStream, "order-9")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.ReadClipJob(ctx, st, rec.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the job that was not queued is still stored: %v", err)
	}

	q := openQueue(t)
	a = apiOver(t, Config{Jobs: q}, st)
	resp, b = post(t, a.ts.URL+"/v1/clips", body, "Idempotency-Key", "order-9")
	id, _ := acceptedID(t, "retry", resp, b)
	if id == rec.ID || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("retry answered the job that was never queued: %s", id)
	}
	if got := queued(t, q); len(got) != 1 || got[0] != id {
		t.Errorf("queued %v, want [%s]", got, id)
	}

	// A record naming a job that was never written.
	ghost := catalog.NewClipID()
	if err := catalog.WriteClipIdem(ctx, st, fixStream, "order-10", catalog.ClipIdem{ID: ghost, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	resp, b = post(t, a.ts.URL+"/v1/clips", body, "Idempotency-Key", "order-10")
	if id, _ = acceptedID(t, "dead record", resp, b); id == ghost {
		t.Errorf("answered the job that was never written")
	}
	if rec, err := catalog.ReadClipIdem(ctx, st, fixStream, "order-10"); err != nil || rec.ID != id {
		t.Errorf("record now %+v (%v), want %s", rec, err, id)
	}
	resp, b = post(t, a.ts.URL+"/v1/clips", body, "Idempotency-Key", "order-10")
	if again, _ := acceptedID(t, "repeat", resp, b); again != id || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("repeat after repair: %s, want %s", again, id)
	}
}

// On S3, the presigned URL a clip output redirects to lives no longer than
// the play token that opened it, and the redirect is not cached.
func TestClipPresignBoundedByToken(t *testing.T) {
	st := s3test.Start(t).Store(t)
	srv, err := New(Config{PlaybackSecrets: []string{testSecret}}, st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	id := finishedClip(t, st, fixStream, "mp4", "clip.mp4", "movie")
	for ttl, want := range map[time.Duration]int{10 * time.Minute: 600, 3 * time.Hour: int(presignTTL.Seconds())} {
		tok := SignPlayback(testSecret, fixStream, time.Now().Add(ttl))
		resp, b := do(t, http.MethodGet, ts.URL+"/v1/clips/"+id+"/output?"+tok)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("token %s: %d %s, Cache-Control %q", ttl, resp.StatusCode, b, resp.Header.Get("Cache-Control"))
		}
		loc, err := neturl.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := strconv.Atoi(loc.Query().Get("X-Amz-Expires"))
		if got > want || got < want-5 {
			t.Errorf("token %s: presigned for %d s, want %d", ttl, got, want)
		}
		resp, b = do(t, http.MethodGet, loc.String())
		if resp.StatusCode != 200 || string(b) != "movie" {
			t.Errorf("token %s: presigned GET %d %q", ttl, resp.StatusCode, b)
		}
	}
}

// racingStore is a real store where another copy of the API records the
// same Idempotency-Key (its own job and record) right after this copy
// writes its record and before it reads it back: the narrowest race the
// read-back settles.
type racingStore struct {
	store.Store
	stream catalog.Stream
	key    string
	rival  *catalog.ClipJob
	once   sync.Once
}

func (r *racingStore) Put(ctx context.Context, key string, data []byte, contentType string) error {
	if err := r.Store.Put(ctx, key, data, contentType); err != nil {
		return err
	}
	if key != catalog.ClipIdemKey(r.stream, r.key) {
		return nil
	}
	var err error
	r.once.Do(func() {
		if err = catalog.WriteClipJob(ctx, r.Store, r.rival); err == nil {
			err = catalog.WriteClipIdem(ctx, r.Store, r.stream, r.key, catalog.ClipIdem{ID: r.rival.ID, CreatedAt: time.Now()})
		}
	})
	return err
}

// When another copy's record lands between this copy's write and its read
// back, this copy drops its own job, queues nothing and answers the
// other's job, so both clients hold one id.
func TestClipIdempotencyReadBack(t *testing.T) {
	fs, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, fs, fixStream, t0, false)
	body := clipBodyFor(fixStream, t0)
	// The rival asked for the same clip: same request, same parts.
	start, end := time.Unix(t0.Unix()+1, 0).UTC(), time.Unix(t0.Unix()+5, 0).UTC()
	rival := &catalog.ClipJob{ID: catalog.NewClipID(), Status: catalog.ClipQueued, IdempotencyKey: "order-77",
		Request:   catalog.ClipRequest{Stream: fixStream.String(), Start: start, End: end, Format: "mp4", Mode: "copy"},
		Parts:     []catalog.ClipPart{{Run: run, FirstSeq: 1, LastSeq: 3, StartMS: t0.UnixMilli(), EndMS: t0.UnixMilli() + 6000}},
		CreatedAt: t0, UpdatedAt: t0}
	st := &racingStore{Store: fs, stream: fixStream, key: "order-77", rival: rival}
	q := openQueue(t)
	srv, err := New(Config{Jobs: q}, st, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })

	resp, b := post(t, ts.URL+"/v1/clips", body, "Idempotency-Key", "order-77")
	id, _ := acceptedID(t, "submit", resp, b)
	if id != rival.ID || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("answered %s (replayed %q), want the rival's %s", id, resp.Header.Get("Idempotent-Replayed"), rival.ID)
	}
	if got := queued(t, q); len(got) != 0 {
		t.Errorf("queued %v: the rival queues its own job", got)
	}
	res, err := fs.List(context.Background(), catalog.ClipsPrefix, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		if strings.HasSuffix(o.Key, "/job.json") && o.Key != catalog.ClipJobKey(rival.ID) {
			t.Errorf("the losing job's document %s is still stored", o.Key)
		}
	}
}
