package vodapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/browsertest"
)

// hls.js in headless Chromium plays a replay from the page: currentTime
// passes 5 s and no fatal error fires.
func TestPagePlaysInChromium(t *testing.T) {
	nm := browsertest.NodeModules(t)
	a := newAPI(t, Config{})
	writeRun(t, a.st, time.Now().Add(-time.Hour), false)

	page, body := get(t, a.ts.URL+"/")
	if page.StatusCode != 200 || !strings.Contains(string(body), "hls.light.min.js") {
		t.Fatalf("page: %d", page.StatusCode)
	}
	if resp, _ := get(t, a.ts.URL+"/web/vendor/hls.light.min.js"); resp.StatusCode != 200 {
		t.Fatalf("hls.js: %d", resp.StatusCode)
	}
	cmd := browsertest.Command(nm, "testdata/browser/play.cjs", a.ts.URL+"/")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, out)
	}
	var res struct {
		CurrentTime float64  `json:"currentTime"`
		Errors      []string `json:"errors"`
		Fatal       []string `json:"fatal"`
		Console     []string `json:"console"`
		Clock       string   `json:"clock"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	if res.CurrentTime <= 5 || len(res.Errors) > 0 || len(res.Fatal) > 0 {
		t.Errorf("played to %.2fs; errors %v; fatal %v; console %v", res.CurrentTime, res.Errors, res.Fatal, res.Console)
	}
	// The page shows the wall clock of what plays.
	if !strings.HasPrefix(res.Clock, time.Now().UTC().Add(-time.Hour).Format("2006-01-02")) {
		t.Errorf("wall clock shown: %q", res.Clock)
	}
}

// hls.js in headless Chromium follows the live EVENT playlist across a
// publisher reconnect: a run is recorded in real time, ends, and 2 s later
// the next run joins the recording; playback goes on past the end of the
// first run, with no `ended` event, no fatal hls.js error, and every
// playlist load an EVENT without ENDLIST.
func TestPlayerFollowsReconnect(t *testing.T) {
	nm := browsertest.NodeModules(t)
	a := newAPI(t, Config{})
	segs := testSegments(t)
	var runDur time.Duration
	for _, s := range segs {
		runDur += s.Dur
	}
	// Each segment enters the index when it is complete, as the recorder's.
	r1 := startLiveRun(t, a.st, time.Now().Add(-segs[0].Dur))
	r1.add(segs[0].Dur, true)

	played := (runDur + 4*time.Second).Seconds()
	type outcome struct {
		out []byte
		err error
	}
	browser := make(chan outcome, 1)
	go func() {
		cmd := browsertest.Command(nm, "testdata/browser/live.cjs", a.ts.URL+"/", a.ts.URL+"/hls/live/cam/index.m3u8",
			fmt.Sprint(played), "60000")
		out, err := cmd.Output()
		browser <- outcome{out, err}
	}()
	record := func(r *liveRun, from int) {
		for _, s := range segs[from:] {
			time.Sleep(time.Until(time.UnixMilli(r.at).Add(s.Dur)))
			r.add(s.Dur, true)
		}
	}
	record(r1, 1)
	end1 := r1.end()
	r2 := startLiveRun(t, a.st, end1.Add(2*time.Second))
	time.Sleep(time.Until(end1.Add(2 * time.Second)))
	record(r2, 0)

	res := <-browser
	if res.err != nil {
		t.Fatalf("browser: %v\n%s", res.err, res.out)
	}
	var got struct {
		CurrentTime float64  `json:"currentTime"`
		MaxTime     float64  `json:"maxTime"`
		Ended       int      `json:"ended"`
		Fatal       []string `json:"fatal"`
		NonFatal    []string `json:"nonFatal"`
		Types       []string `json:"types"`
		Endlist     []bool   `json:"endlist"`
		Errors      []string `json:"errors"`
		Console     []string `json:"console"`
	}
	if err := json.Unmarshal(res.out, &got); err != nil {
		t.Fatalf("browser output %q: %v", res.out, err)
	}
	t.Logf("played to %.2fs (first run %.2fs); playlist loads %d; non-fatal %v", got.MaxTime, runDur.Seconds(), len(got.Types), got.NonFatal)
	if got.MaxTime <= played || got.Ended > 0 || len(got.Fatal) > 0 || len(got.Errors) > 0 {
		t.Errorf("played to %.2fs, want past %.2fs; ended %d; fatal %v; errors %v; console %v", got.MaxTime, played, got.Ended, got.Fatal, got.Errors, got.Console)
	}
	if len(got.Types) < 2 {
		t.Errorf("the live playlist was loaded %d times; a live player reloads it", len(got.Types))
	}
	for i, typ := range got.Types {
		if typ != "EVENT" || got.Endlist[i] {
			t.Errorf("playlist load %d: type %q, ENDLIST %v; want an EVENT without ENDLIST throughout", i, typ, got.Endlist[i])
		}
	}
}
