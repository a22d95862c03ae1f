package vodapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/browsertest"
)

// hls.js in headless Chromium plays an HLS clip by reference from its first
// to its last frame: source segments, its own edges and the
// discontinuities between them, up to `ended`, with no fatal error.
func TestClipHLSPlaysInChromium(t *testing.T) {
	nm := browsertest.NodeModules(t)
	a := newAPI(t, Config{})
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	run := writeRun(t, a.st, t0, false)
	id := refClip(t, a.st, fixStream, run, t0)

	// live.cjs waits for the position, `ended` or a fatal error: a
	// position past the clip leaves `ended`.
	cmd := browsertest.Command(nm, "testdata/browser/live.cjs", a.ts.URL+"/", a.ts.URL+"/v1/clips/"+id+"/output", "1000", "60000")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, out)
	}
	var got struct {
		MaxTime  float64  `json:"maxTime"`
		Ended    int      `json:"ended"`
		Fatal    []string `json:"fatal"`
		NonFatal []string `json:"nonFatal"`
		Types    []string `json:"types"`
		Endlist  []bool   `json:"endlist"`
		Errors   []string `json:"errors"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	t.Logf("played to %.2fs; non-fatal %v", got.MaxTime, got.NonFatal)
	if got.Ended != 1 || len(got.Fatal) > 0 || len(got.Errors) > 0 || got.MaxTime < 11.8 {
		t.Errorf("played to %.2fs of 12 s, ended %d, fatal %v, errors %v", got.MaxTime, got.Ended, got.Fatal, got.Errors)
	}
	if len(got.Types) == 0 || got.Types[0] != "VOD" || !got.Endlist[0] {
		t.Errorf("playlist loads %v %v", got.Types, got.Endlist)
	}
}
