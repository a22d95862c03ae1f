package vodapi

import (
	"fmt"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

func TestSignedPlayback(t *testing.T) {
	a := newAPI(t, Config{PlaybackSecrets: []string{"old", "new"}})
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := writeRun(t, a.st, t0, false)
	base := a.ts.URL + "/hls/live/cam/index.m3u8"
	good := SignPlayback("new", fixStream, time.Now().Add(time.Hour))

	resp, body := get(t, base+"?"+good)
	if resp.StatusCode != 200 {
		t.Fatalf("good token: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "31536000") {
		t.Errorf("a signed playlist outlives its token in caches: %q", cc)
	}
	segs := segments(parseMedia(t, body))
	if !strings.HasSuffix(segs[0].URI, "?"+good) {
		t.Fatalf("segment URI %q does not carry the token", segs[0].URI)
	}
	pu, _ := neturl.Parse(base)
	ref, _ := neturl.Parse(segs[0].URI)
	if resp, _ := get(t, pu.ResolveReference(ref).String()); resp.StatusCode != 200 {
		t.Errorf("segment with the carried token: %d", resp.StatusCode)
	}
	// Rotation: the other secret works too.
	if resp, _ := get(t, base+"?"+SignPlayback("old", fixStream, time.Now().Add(time.Hour))); resp.StatusCode != 200 {
		t.Errorf("second secret: %d", resp.StatusCode)
	}
	exp := time.Now().Add(time.Hour).Unix()
	for name, q := range map[string]string{
		"none":         "",
		"expired":      SignPlayback("new", fixStream, time.Now().Add(-time.Minute)),
		"tampered sig": strings.Replace(good, "sig=", "sig=0", 1),
		"tampered exp": fmt.Sprintf("exp=%d&%s", exp+3600, strings.Split(good, "&")[1]),
		"wrong secret": SignPlayback("guess", fixStream, time.Now().Add(time.Hour)),
		"other stream": SignPlayback("new", catalog.Stream{App: "live", Name: "other"}, time.Now().Add(time.Hour)),
		"bad exp":      "exp=soon&sig=00",
	} {
		for _, u := range []string{base, a.ts.URL + "/seg/live/cam/" + run + "/1.ts"} {
			resp, body := get(t, u+"?"+q)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"code"`) {
				t.Errorf("%s on %s: %d %s", name, u, resp.StatusCode, body)
			}
		}
	}
}
