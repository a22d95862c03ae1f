package vodapi

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
)

// putSnapshots stores a JPEG per time beside run, as the snapshotter does;
// each image is distinct (its gray level) so answers can be told apart.
func putSnapshots(t *testing.T, st store.Store, run string, times ...time.Time) map[time.Time][]byte {
	t.Helper()
	out := map[time.Time][]byte{}
	for i, at := range times {
		img := image.NewGray(image.Rect(0, 0, 32, 24))
		for p := range img.Pix {
			img.Pix[p] = uint8(40 * (i + 1))
		}
		img.Set(0, 0, color.White)
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, nil); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(context.Background(), catalog.SnapshotKey(fixStream, run, at), b.Bytes(), "image/jpeg"); err != nil {
			t.Fatal(err)
		}
		out[at] = b.Bytes()
	}
	return out
}

func decodeList(t *testing.T, what, url string) snapshotList {
	t.Helper()
	resp, b := do(t, "GET", url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", what, resp.StatusCode, b)
	}
	var l snapshotList
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatalf("%s: %v: %s", what, err, b)
	}
	return l
}

func TestSnapshotRoutes(t *testing.T) {
	a := newAPI(t, Config{})
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	run := writeRun(t, a.st, t0, false)
	times := []time.Time{t0, t0.Add(4 * time.Second), t0.Add(8 * time.Second)}
	imgs := putSnapshots(t, a.st, run, times...)
	base := a.ts.URL + "/v1/streams/" + fixStream.String()

	l := decodeList(t, "run list", base+"/runs/"+run+"/snapshots")
	if len(l.Snapshots) != 3 || l.Next != nil {
		t.Fatalf("run list: %+v", l)
	}
	for i, it := range l.Snapshots {
		if it.Run != run || !it.Time.Equal(times[i]) {
			t.Fatalf("item %d: %+v, want %v", i, it, times[i])
		}
		resp, body := do(t, "GET", a.ts.URL+it.URL)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || !bytes.Equal(body, imgs[times[i]]) {
			t.Fatalf("GET %s: %d %s, %d bytes", it.URL, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("a stored snapshot is not immutable: %q", cc)
		}
	}

	// A window, then the same window a page at a time.
	q := "?from=" + t0.Add(time.Second).Format(time.RFC3339) + "&to=" + t0.Add(time.Minute).Format(time.RFC3339)
	if l := decodeList(t, "window", base+"/snapshots"+q); len(l.Snapshots) != 2 || !l.Snapshots[0].Time.Equal(times[1]) {
		t.Fatalf("window: %+v", l)
	}
	var paged []time.Time
	from := t0.Add(-time.Second)
	for range 5 {
		l := decodeList(t, "page", base+"/snapshots?limit=2&from="+from.Format(time.RFC3339Nano)+"&to="+t0.Add(time.Minute).Format(time.RFC3339))
		for _, it := range l.Snapshots {
			paged = append(paged, it.Time)
		}
		if l.Next == nil {
			break
		}
		from = *l.Next
	}
	if !slices.EqualFunc(paged, times, time.Time.Equal) {
		t.Fatalf("paged %v, want %v", paged, times)
	}

	// The latest is the newest of the newest run.
	resp, body := do(t, "GET", base+"/snapshots/latest.jpg")
	if resp.StatusCode != 200 || !bytes.Equal(body, imgs[times[2]]) {
		t.Fatalf("latest: %d, %d bytes", resp.StatusCode, len(body))
	}
	if cl := resp.Header.Get("Content-Location"); !strings.HasSuffix(cl, catalog.SnapshotName(times[2])) {
		t.Fatalf("latest Content-Location %q", cl)
	}
	if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") || cc == "" {
		t.Fatalf("latest Cache-Control %q", cc)
	}

	// Bad names are 400, missing ones 404, a stream without snapshots 404.
	for path, want := range map[string]int{
		"/runs/" + run + "/snapshots/../../run.json":                               400,
		"/runs/" + run + "/snapshots/x.jpg":                                        400,
		"/runs/" + run + "/snapshots/" + catalog.SnapshotName(t0.Add(time.Second)): 404,
		"/runs/not-a-run/snapshots":                                                400,
	} {
		if resp, b := do(t, "GET", base+path); resp.StatusCode != want {
			t.Errorf("GET %s: %d %s, want %d", path, resp.StatusCode, b, want)
		}
	}
	resp, b := do(t, "GET", a.ts.URL+"/v1/streams/"+otherStream.String()+"/snapshots/latest.jpg")
	if resp.StatusCode != 404 || !strings.Contains(string(b), "no_snapshot") {
		t.Fatalf("latest of a stream without snapshots: %d %s", resp.StatusCode, b)
	}
}

func TestSnapshotRoutesSigned(t *testing.T) {
	a := newAPI(t, Config{PlaybackSecrets: []string{testSecret}})
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	run := writeRun(t, a.st, t0, false)
	putSnapshots(t, a.st, run, t0)
	base := a.ts.URL + "/v1/streams/" + fixStream.String()
	for _, p := range []string{"/snapshots", "/snapshots/latest.jpg", "/runs/" + run + "/snapshots", "/runs/" + run + "/snapshots/" + catalog.SnapshotName(t0)} {
		resp, b := do(t, "GET", base+p)
		checkRefused(t, p, resp, b, "signature_required")
	}
	exp := time.Now().Add(90 * time.Second)
	sig := SignPlayback(testSecret, fixStream, exp)
	l := decodeList(t, "signed run list", base+"/runs/"+run+"/snapshots?"+sig)
	if len(l.Snapshots) != 1 || !strings.Contains(l.Snapshots[0].URL, "sig=") {
		t.Fatalf("signed list: %+v", l)
	}
	for _, u := range []string{a.ts.URL + l.Snapshots[0].URL, base + "/snapshots/latest.jpg?" + sig} {
		resp, _ := do(t, "GET", u)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
		checkBounded(t, u, resp.Header.Get("Cache-Control"), exp)
	}
}
