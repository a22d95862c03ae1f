package vodapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/queue/embedded"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

// Helpers of the access and Cache-Control tests.

var otherStream = catalog.Stream{App: "live", Name: "other"}

const (
	testSecret   = "play-secret"
	testAPIToken = "backend-token-1"
)

// apiOver is a vodapi over st (shared by several copies of the API).
func apiOver(t testing.TB, cfg Config, st *fsstore.FS) *api {
	t.Helper()
	if cfg.TargetDuration == 0 {
		cfg.TargetDuration = 2 * time.Second
	}
	reg := prometheus.NewRegistry()
	srv, err := New(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return &api{srv: srv, ts: ts, st: st, reg: reg}
}

func openQueue(t *testing.T) *embedded.Queue {
	t.Helper()
	q, err := embedded.Open(t.TempDir(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// maxAgeRE reads the lifetimes of a Cache-Control value.
var maxAgeRE = regexp.MustCompile(`(max-age|stale-while-revalidate)=(\d+)`)

// checkBounded fails unless cc keeps the answer no longer than the token
// expiring at exp lives (max-age plus stale-while-revalidate), and never
// immutable.
func checkBounded(t *testing.T, what, cc string, exp time.Time) {
	t.Helper()
	if cc == "" {
		t.Errorf("%s: no Cache-Control", what)
		return
	}
	if strings.Contains(cc, "immutable") {
		t.Errorf("%s: %q is immutable under a token", what, cc)
	}
	life := 0
	for _, m := range maxAgeRE.FindAllStringSubmatch(cc, -1) {
		n, _ := strconv.Atoi(m[2])
		life += n
	}
	if left := int(time.Until(exp).Seconds()) + 1; life > left {
		t.Errorf("%s: %q keeps it %d s, the token lives %d s", what, cc, life, left)
	}
}

// checkRefused fails unless the answer is a 403 JSON error with code,
// never cached.
func checkRefused(t *testing.T, what string, resp *http.Response, body []byte, code string) {
	t.Helper()
	var je struct{ Error, Code string }
	if err := json.Unmarshal(body, &je); resp.Request.Method != http.MethodHead && (err != nil || je.Error == "") {
		t.Errorf("%s: not a JSON error: %d %s", what, resp.StatusCode, body)
	}
	if resp.StatusCode != http.StatusForbidden || (code != "" && resp.Request.Method != http.MethodHead && je.Code != code) {
		t.Errorf("%s: %d %s, want 403 %s", what, resp.StatusCode, je.Code, code)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: a refusal is cached: %q", what, cc)
	}
}

func do(t *testing.T, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	// No transparent gzip: the tests look at the bytes as sent.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// finishedClip stores a succeeded job of stream, as the editor leaves it,
// with its output files (names under clips/{id}/); the first is the output.
func finishedClip(t *testing.T, st store.Store, stream catalog.Stream, format string, files ...string) string {
	t.Helper()
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	id := catalog.NewClipID()
	for i := 0; i+1 < len(files); i += 2 {
		if err := st.Put(ctx, catalog.ClipPrefix(id)+files[i], []byte(files[i+1]), ""); err != nil {
			t.Fatal(err)
		}
	}
	key := catalog.ClipPrefix(id) + files[0]
	j := &catalog.ClipJob{ID: id, Status: catalog.ClipSucceeded, Progress: 100, CreatedAt: t0, UpdatedAt: t0,
		Request: catalog.ClipRequest{Stream: stream.String(), Start: t0, End: t0.Add(time.Minute), Format: format, Mode: "copy"},
		Parts:   []catalog.ClipPart{{Run: catalog.NewRunID(t0, "n1"), FirstSeq: 1, LastSeq: 2, StartMS: 1, EndMS: 2}},
		Output:  &catalog.ClipOutput{Key: key, ContentType: store.ContentTypeFor(key), Size: int64(len(files[1]))}}
	if err := catalog.WriteClipJob(ctx, st, j); err != nil {
		t.Fatal(err)
	}
	return id
}

func clipBodyFor(stream catalog.Stream, t0 time.Time) string {
	return fmt.Sprintf(`{"stream":%q,"start":%d,"end":%d}`, stream.String(), t0.Unix()+1, t0.Unix()+5)
}

func acceptedID(t *testing.T, what string, resp *http.Response, b []byte) (id, statusURL string) {
	t.Helper()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%s: %d %s", what, resp.StatusCode, b)
	}
	var acc struct {
		ID        string `json:"id"`
		StatusURL string `json:"status_url"`
	}
	if err := json.Unmarshal(b, &acc); err != nil {
		t.Fatalf("%s: %v in %s", what, err, b)
	}
	return acc.ID, acc.StatusURL
}
