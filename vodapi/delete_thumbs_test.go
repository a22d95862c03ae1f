//go:build cgo

package vodapi

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

// Thumbnails, sprites and window playlists of a deleted recording answer
// 404 although this process had rendered and cached them (libav renders,
// as in cgo builds of cmd).
func TestDeleteStillsAndWindowsAnswer404(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := apiOver(t, Config{Thumbs: newLibavStills(), AdminToken: testAdmin}, st)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	r1 := writeRun(t, st, t0, false)
	r2 := writeRun(t, st, t0.Add(10*time.Minute), false) // another recording of the stream
	cam := a.ts.URL + "/v1/streams/live/cam/"
	window := func(from time.Time) string {
		return a.ts.URL + "/hls/live/cam/index.m3u8?start=" + strconv.FormatInt(from.Unix(), 10) + "&end=" + strconv.FormatInt(from.Unix()+6, 10)
	}
	gone := []string{
		cam + "thumbnail.jpg?at=" + strconv.FormatInt(t0.Unix()+3, 10),
		cam + "recordings/" + r1 + "/thumbnails.vtt",
		cam + "recordings/" + r1 + "/sprites/0.jpg",
		window(t0),
	}
	kept := []string{
		cam + "thumbnail.jpg?at=" + strconv.FormatInt(t0.Add(10*time.Minute).Unix()+3, 10),
		cam + "recordings/" + r2 + "/sprites/0.jpg",
		window(t0.Add(10 * time.Minute)),
	}
	for _, u := range append(gone, kept...) {
		if resp, b := get(t, u); resp.StatusCode != http.StatusOK {
			t.Fatalf("before the delete: GET %s: %d %.200s", u, resp.StatusCode, b)
		}
	}
	resp, b := do(t, http.MethodDelete, a.ts.URL+"/v1/streams/live/cam/recordings/"+r1, "Authorization", "Bearer "+testAdmin)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	for _, u := range gone {
		if resp, b := get(t, u); resp.StatusCode != http.StatusNotFound {
			t.Errorf("after the delete: GET %s: %d %.200s, want 404", u, resp.StatusCode, b)
		}
	}
	for _, u := range kept {
		if resp, b := get(t, u); resp.StatusCode != http.StatusOK {
			t.Errorf("untouched recording: GET %s: %d %.200s", u, resp.StatusCode, b)
		}
	}
}
