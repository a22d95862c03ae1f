package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/s3test"
)

const e2eAdmin = "e2e-admin-token"

// e2eRecording is one item of the recordings list.
type e2eRecording struct {
	ID       string   `json:"id"`
	State    string   `json:"state"`
	Runs     []string `json:"runs"`
	Playlist string   `json:"playlist_url"`
}

// recordingsOf lists a stream's recordings through the replay API.
func recordingsOf(t *testing.T, base, stream string) []e2eRecording {
	t.Helper()
	var res struct {
		Recordings []e2eRecording `json:"recordings"`
	}
	body := httpGet(t, base+"/v1/streams/"+stream+"/recordings")
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatalf("recordings of %s: %v: %s", stream, err, body)
	}
	return res.Recordings
}

func adminDelete(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("DELETE %s: %d %s", url, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func statusOf(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDeleteRecordingEndToEndFS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--reconnect-window", "1s", "--admin-token", e2eAdmin, "--retention", "live=30d")
	testDeleteEndToEnd(t, n, fsStore(t, filepath.Join(dir, "store")))
	if m := httpGet(t, "http://"+n.httpAddr+"/metrics"); !strings.Contains(m, "rewind_retention_runs_swept_total 0") {
		t.Error("the retention sweeper does not run in rewind dev on a local store (no rewind_retention_* metrics)")
	}
	n.stop()
}

func TestDeleteRecordingEndToEndS3(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	n, st := s3Node(t, srv, t.TempDir(), "--reconnect-window", "1s", "--admin-token", e2eAdmin)
	testDeleteEndToEnd(t, n, st)
	n.stop()
}

// Real ffmpeg publishes into rewind dev: two recordings of live/cam and one
// of live/other. Deleting the live one is refused; deleting the first
// removes every object of its run, its replay answers 404, and the other
// two still play in ffmpeg.
func testDeleteEndToEnd(t *testing.T, n *proc, st store.Store) {
	ctx := context.Background()
	base := "http://" + n.httpAddr
	src, _ := source(t, 6)
	other := catalog.Stream{App: "live", Name: "other"}
	p1, p2 := publish(t, src, n.url("live/cam")), publish(t, src, n.url("live/other"))
	for _, p := range []*publisher{p1, p2} {
		if err := p.wait(t); err != nil {
			t.Fatal(err)
		}
	}
	waitRuns(t, st, camStream, 1, 20*time.Second)
	waitRuns(t, st, other, 1, 20*time.Second)
	time.Sleep(2 * time.Second) // past the reconnect window: the next publish is a recording of its own

	// While the second publish is live, deleting it is refused.
	p3 := publish(t, src, n.url("live/cam"))
	var live e2eRecording
	for deadline := time.Now().Add(20 * time.Second); live.ID == ""; {
		for _, r := range recordingsOf(t, base, "live/cam") {
			if r.State == catalog.StateLive {
				live = r
			}
		}
		if live.ID == "" {
			if time.Now().After(deadline) {
				t.Fatal("the second publish never showed as a live recording")
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if code, body := adminDelete(t, base+"/v1/streams/live/cam/recordings/"+live.ID, e2eAdmin); code != http.StatusConflict || body["code"] != "live" {
		t.Fatalf("deleting a live recording: %d %v", code, body)
	}
	if err := p3.wait(t); err != nil {
		t.Fatal(err)
	}
	runs := waitRuns(t, st, camStream, 2, 20*time.Second)
	recs := recordingsOf(t, base, "live/cam")
	if len(recs) != 2 || recs[0].ID != runs[0] || recs[1].ID != runs[1] {
		t.Fatalf("recordings of live/cam: %+v, runs %v", recs, runs)
	}
	gone, kept := recs[0], recs[1]
	goneRun := gone.Runs[0]
	playlist := base + gone.Playlist
	segment := base + "/seg/live/cam/" + goneRun + "/0000000001.ts"
	for _, u := range []string{playlist, segment} {
		if c := statusOf(t, u); c != http.StatusOK {
			t.Fatalf("before the delete: GET %s: %d", u, c)
		}
	}
	// The playlist of the ended run stores its fragment beside the run in
	// the background: wait for it, so that the count below holds it.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		res, err := st.List(ctx, catalog.FragmentPrefix(camStream, goneRun), store.ListOptions{})
		if err == nil && len(res.Objects) > 0 {
			break
		}
	}
	objs, err := catalog.RunObjects(ctx, st, camStream, goneRun)
	if err != nil || len(objs) < 3 {
		t.Fatalf("objects of %s: %d, %v", goneRun, len(objs), err)
	}

	if code, _ := adminDelete(t, base+"/v1/streams/live/cam/recordings/"+gone.ID, "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong admin token: %d", code)
	}
	code, body := adminDelete(t, base+"/v1/streams/live/cam/recordings/"+gone.ID, e2eAdmin)
	if code != http.StatusOK || body["objects"] != float64(len(objs)) {
		t.Fatalf("delete: %d %v, want %d objects", code, body, len(objs))
	}
	if left, err := catalog.RunObjects(ctx, st, camStream, goneRun); err != nil || len(left) != 0 {
		t.Fatalf("left under the run: %v, %v", left, err)
	}
	for _, u := range []string{playlist, segment, base + "/hls/live/cam/runs/" + goneRun + "/index.m3u8"} {
		if c := statusOf(t, u); c != http.StatusNotFound {
			t.Errorf("after the delete: GET %s: %d, want 404", u, c)
		}
	}
	if recs := recordingsOf(t, base, "live/cam"); len(recs) != 1 || recs[0].ID != kept.ID {
		t.Errorf("recordings after the delete: %+v", recs)
	}
	for _, u := range []string{base + kept.Playlist, base + recordingsOf(t, base, "live/other")[0].Playlist} {
		if out, err := exec.Command("ffmpeg", "-v", "error", "-i", u, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("replay of an untouched recording %s: %v\n%s", u, err, out)
		}
	}
	if code, body := adminDelete(t, base+"/v1/streams/live/cam/recordings/"+gone.ID, e2eAdmin); code != http.StatusOK || body["objects"] != float64(0) {
		t.Errorf("second delete: %d %v", code, body)
	}
}
