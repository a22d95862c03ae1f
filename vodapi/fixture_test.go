package vodapi

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/runtest"
)

var fixStream = catalog.Stream{App: "live", Name: "cam"}

func testSegments(t *testing.T) []runtest.Segment { return runtest.Segments(t) }

func writeRun(t *testing.T, st store.Store, start time.Time, live bool) string {
	return runtest.WriteRun(t, st, fixStream, start, live)
}

func endRun(t *testing.T, st store.Store, run string) { runtest.EndRun(t, st, fixStream, run) }

// api is a vodapi over an FS store, served by httptest.
type api struct {
	srv *Server
	ts  *httptest.Server
	st  *fsstore.FS
	reg *prometheus.Registry
}

func newAPI(t testing.TB, cfg Config) *api {
	t.Helper()
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return apiOver(t, cfg, st)
}

// storeReads is how many store requests the API has made.
func (a *api) storeReads() float64 {
	return testutil.ToFloat64(a.srv.m.storeRequests.WithLabelValues("get")) +
		testutil.ToFloat64(a.srv.m.storeRequests.WithLabelValues("list")) +
		testutil.ToFloat64(a.srv.m.storeRequests.WithLabelValues("head"))
}
