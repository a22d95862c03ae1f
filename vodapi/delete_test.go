package vodapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/runtest"
	"github.com/rewind-vod/rewind/internal/s3test"
)

const testAdmin = "admin-token-1"

// delAPI is a vodapi with the admin API on over any store.
type delAPI struct {
	srv *Server
	ts  *httptest.Server
	st  store.Store
}

func newDelAPI(t *testing.T, st store.Store, token string) *delAPI {
	t.Helper()
	srv, err := New(Config{TargetDuration: 2 * time.Second, AdminToken: token}, st, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return &delAPI{srv: srv, ts: ts, st: st}
}

// del sends an admin DELETE and decodes the answer.
func (a *delAPI) del(t *testing.T, path string) (int, deleted, []byte) {
	t.Helper()
	resp, body := do(t, http.MethodDelete, a.ts.URL+path, "Authorization", "Bearer "+testAdmin)
	var d deleted
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatalf("DELETE %s: %v: %s", path, err, body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("DELETE %s: Cache-Control %q", path, cc)
		}
	}
	return resp.StatusCode, d, body
}

// runObjects lists what is stored under run.
func runObjects(t *testing.T, st store.Store, s catalog.Stream, run string) []store.Info {
	t.Helper()
	objs, err := catalog.RunObjects(context.Background(), st, s, run)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, _ := get(t, url)
	return resp.StatusCode
}

func TestDeleteRecordingFS(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testDeleteRecording(t, st)
}

func TestDeleteRecordingS3(t *testing.T) {
	testDeleteRecording(t, s3test.Start(t).Store(t))
}

// Deleting a recording removes every object of its runs (snapshots beside
// them too), replay of it answers 404 where it played before (warm caches
// included), and another recording of the stream and another stream still
// play. A second delete deletes nothing.
func testDeleteRecording(t *testing.T, st store.Store) {
	ctx := context.Background()
	a := newDelAPI(t, st, testAdmin)
	other := catalog.Stream{App: "live", Name: "other"}
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	r1 := writeRun(t, st, t0, false)
	r2 := writeRun(t, st, t0.Add(30*time.Second), false) // joins r1
	r3 := writeRun(t, st, t0.Add(10*time.Minute), false) // a recording of its own
	o1 := runtest.WriteRun(t, st, other, t0, false)
	// Snapshots live beside the run, as the snapshotter stores them.
	snap := catalog.RunPrefix(fixStream, r1) + "snap/0000000001.jpg"
	if err := st.Put(ctx, snap, []byte("\xff\xd8jpeg"), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	recPl := a.ts.URL + "/hls/live/cam/recordings/" + r1 + "/index.m3u8"
	runPl := a.ts.URL + "/hls/live/cam/runs/" + r2 + "/index.m3u8"
	seg := a.ts.URL + "/seg/live/cam/" + r1 + "/0000000001.ts"
	keep := []string{
		a.ts.URL + "/hls/live/cam/recordings/" + r3 + "/index.m3u8",
		a.ts.URL + "/seg/live/cam/" + r3 + "/0000000001.ts",
		a.ts.URL + "/hls/live/other/recordings/" + o1 + "/index.m3u8",
		a.ts.URL + "/seg/live/other/" + o1 + "/0000000001.ts",
	}
	for _, u := range append([]string{recPl, runPl, seg}, keep...) { // warm the caches
		if c := status(t, u); c != http.StatusOK {
			t.Fatalf("before the delete: GET %s: %d", u, c)
		}
	}
	// The playlists left their stored fragments beside the runs: deleted too.
	a.srv.WaitBackground()
	var wantObjects int
	var wantBytes int64
	for _, r := range []string{r1, r2} {
		for _, o := range runObjects(t, st, fixStream, r) {
			wantObjects++
			wantBytes += o.Size
		}
	}

	// Credentials first.
	if resp, body := do(t, http.MethodDelete, a.ts.URL+"/v1/streams/live/cam/recordings/"+r1); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, http.MethodDelete, a.ts.URL+"/v1/streams/live/cam/recordings/"+r1, "Authorization", "Bearer nope"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d %s", resp.StatusCode, body)
	}
	off := newDelAPI(t, st, "")
	resp, body := do(t, http.MethodDelete, off.ts.URL+"/v1/streams/live/cam/recordings/"+r1, "Authorization", "Bearer "+testAdmin)
	checkRefused(t, "admin off", resp, body, "admin_disabled")
	if len(runObjects(t, st, fixStream, r1)) == 0 {
		t.Fatal("a refused delete deleted")
	}

	code, d, body := a.del(t, "/v1/streams/live/cam/recordings/"+r1)
	if code != http.StatusOK {
		t.Fatalf("delete: %d %s", code, body)
	}
	if !slices.Equal(d.Runs, []string{r1, r2}) || d.Objects != wantObjects || d.Bytes != wantBytes || d.Recording != r1 || d.Stream != "live/cam" {
		t.Fatalf("delete answered %+v, want runs %v, %d objects, %d bytes", d, []string{r1, r2}, wantObjects, wantBytes)
	}
	for _, r := range []string{r1, r2} {
		if objs := runObjects(t, st, fixStream, r); len(objs) != 0 {
			t.Errorf("run %s: %d objects left, first %s", r, len(objs), objs[0].Key)
		}
	}
	for _, u := range []string{recPl, runPl, seg} {
		resp, body := get(t, u)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("after the delete: GET %s: %d %s", u, resp.StatusCode, body)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") || strings.Contains(cc, "immutable") {
			t.Errorf("after the delete: GET %s: a 404 cached as %q, want short", u, cc)
		}
	}
	for _, u := range keep {
		if c := status(t, u); c != http.StatusOK {
			t.Errorf("untouched recording: GET %s: %d", u, c)
		}
	}
	_, lb := get(t, a.ts.URL+"/v1/streams/live/cam/recordings")
	var list struct {
		Recordings []struct {
			ID string `json:"id"`
		} `json:"recordings"`
	}
	if err := json.Unmarshal(lb, &list); err != nil || len(list.Recordings) != 1 || list.Recordings[0].ID != r3 {
		t.Errorf("recordings after the delete: %s (%v)", lb, err)
	}

	// Idempotent: the second delete answers 200 with nothing deleted.
	code, d, body = a.del(t, "/v1/streams/live/cam/recordings/"+r1)
	if code != http.StatusOK || len(d.Runs) != 0 || d.Objects != 0 || d.Bytes != 0 {
		t.Fatalf("second delete: %d %s", code, body)
	}
	if c, _, body := a.del(t, "/v1/streams/live/cam/runs/"+r2); c != http.StatusOK || !strings.Contains(string(body), `"objects":0`) {
		t.Fatalf("deleting a deleted run: %d %s", c, body)
	}
}

// A live run is refused with 409 unless the caller forces it; a stale one
// (its node died) is not live.
func TestDeleteLiveRun(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := newDelAPI(t, st, testAdmin)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	live := writeRun(t, st, t0, true)
	entries, err := catalog.ReadIndex(context.Background(), st, fixStream, live)
	if err != nil {
		t.Fatal(err)
	}
	lastEnd := time.UnixMilli(entries[len(entries)-1].EndMS())
	now := lastEnd.Add(time.Second) // the last segment is fresh: live
	a.srv.now = func() time.Time { return now }

	for _, path := range []string{"/v1/streams/live/cam/recordings/" + live, "/v1/streams/live/cam/runs/" + live} {
		code, _, body := a.del(t, path)
		if code != http.StatusConflict || !strings.Contains(string(body), `"code":"live"`) {
			t.Fatalf("DELETE %s of a live run: %d %s", path, code, body)
		}
	}
	if len(runObjects(t, st, fixStream, live)) == 0 {
		t.Fatal("a refused delete deleted")
	}
	if code, _, body := a.del(t, "/v1/streams/live/cam/runs/"+live+"?force=maybe"); code != http.StatusBadRequest {
		t.Fatalf("bad force: %d %s", code, body)
	}
	code, d, body := a.del(t, "/v1/streams/live/cam/runs/"+live+"?force=true")
	if code != http.StatusOK || !slices.Equal(d.Runs, []string{live}) || d.Objects == 0 || d.Run != live {
		t.Fatalf("forced delete: %d %s", code, body)
	}
	if objs := runObjects(t, st, fixStream, live); len(objs) != 0 {
		t.Fatalf("forced delete left %d objects", len(objs))
	}

	// Stale: run.json says live, but nothing came for more than three
	// target durations.
	stale := writeRun(t, st, t0.Add(10*time.Minute), true)
	now = time.Now()
	if code, d, body := a.del(t, "/v1/streams/live/cam/recordings/"+stale); code != http.StatusOK || !slices.Equal(d.Runs, []string{stale}) {
		t.Fatalf("delete of a stale live run: %d %s", code, body)
	}
}

// A delete that crashed part way (run.json gone, the marker left) is found
// and finished by a retry of the same recording id, although the first
// run no longer has a run.json to join the others by.
func TestDeleteRetryFinishesACrashedDelete(t *testing.T) {
	ctx := context.Background()
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := newDelAPI(t, st, testAdmin)
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	r1 := writeRun(t, st, t0, false)
	r2 := writeRun(t, st, t0.Add(30*time.Second), false)
	// What a crash after the first steps of catalog.DeleteRuns leaves: the
	// marker, both run.json gone, and one index chunk of r1.
	data, _ := json.Marshal(catalog.Deletion{Runs: []string{r1, r2}, StartedAt: time.Now()})
	if err := st.Put(ctx, catalog.DeletionKey(fixStream, r1), data, "application/json"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{catalog.ManifestKey(fixStream, r1), catalog.ManifestKey(fixStream, r2), catalog.IndexChunkKey(fixStream, r1, 0)} {
		if err := st.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if c := status(t, a.ts.URL+"/hls/live/cam/recordings/"+r1+"/index.m3u8"); c != http.StatusNotFound {
		t.Errorf("half-deleted recording: %d, want 404", c)
	}
	code, d, body := a.del(t, "/v1/streams/live/cam/recordings/"+r1)
	if code != http.StatusOK || !slices.Equal(d.Runs, []string{r1, r2}) {
		t.Fatalf("retry: %d %s", code, body)
	}
	for _, r := range []string{r1, r2} {
		if objs := runObjects(t, st, fixStream, r); len(objs) != 0 {
			t.Errorf("run %s: %d objects left after the retry", r, len(objs))
		}
	}
	if runs, _ := catalog.ListRuns(ctx, st, fixStream); len(runs) != 0 {
		t.Errorf("runs listed after the retry: %v", runs)
	}
}
