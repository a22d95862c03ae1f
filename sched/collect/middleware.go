package collect

import (
	"errors"
	"net/http"
)

// Observe wraps a handler that serves playlists or segments (vodapi) so
// that the CMCD players put on those requests is collected too. It never
// changes the response: a bad or shed report is only counted, since a
// viewer's segment must not fail because of its telemetry.
func (c *Collector) Observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.observe(r)
		next.ServeHTTP(w, r)
	})
}

func (c *Collector) observe(r *http.Request) {
	rep, ok, err := ReportFromRequest(r)
	switch {
	case errors.Is(err, ErrTooLarge):
		c.m.reportsDropped.WithLabelValues(DropTooLarge).Inc()
		return
	case err != nil:
		c.m.reportsDropped.WithLabelValues(DropMalformed).Inc()
		return
	case !ok:
		return
	}
	if rep.ContentID == "" {
		rep.ContentID = streamOfPath(r.URL.Path) // the replay API's path names it
	}
	if !c.tryEnqueue("cmcd", work{region: c.region(r), cdn: c.cdnOf(r), cmcd: []Report{rep}}) {
		c.m.reportsDropped.WithLabelValues(DropOverload).Inc()
	}
}
