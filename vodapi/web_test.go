package vodapi

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
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

// The console is self-contained: every script and style the page loads is
// one of its own embedded files (no CDN), each is served, and the page is
// sent with a policy that lets no other script run.
func TestWebConsoleServesOffline(t *testing.T) {
	a := newAPI(t, Config{})
	resp, body := get(t, a.ts.URL+"/")
	if resp.StatusCode != 200 {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "style-src 'self'") {
		t.Errorf("Content-Security-Policy %q: want scripts and styles from the page's own origin only", csp)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(body), -1)
	if len(refs) < 3 {
		t.Fatalf("the page loads %d files: %v", len(refs), refs)
	}
	for _, m := range refs {
		ref := m[1]
		if !strings.HasPrefix(ref, "web/") {
			t.Errorf("the page loads %q: want one of its own files under web/", ref)
			continue
		}
		if r, b := get(t, a.ts.URL+"/"+ref); r.StatusCode != 200 || len(b) == 0 {
			t.Errorf("%s: %d, %d bytes", ref, r.StatusCode, len(b))
		}
	}
	if r, _ := get(t, a.ts.URL+"/web/app.css"); !strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") {
		t.Errorf("app.css served as %q", r.Header.Get("Content-Type"))
	}
}

// The console in headless Chromium against a replay API alone: no live API
// here, so none is asked for a token; two recordings are two bars on the
// timeline; a click on the timeline seeks to the wall-clock time under the
// pointer, in the recording playing or in another; a hover shows that time (and says why there is no sprite: no
// editor); the keys i, arrows and o, and a drag, mark in and out; a clip submit without a job queue
// shows the API's refusal; the page loads nothing from elsewhere.
func TestWebConsoleInChromium(t *testing.T) {
	nm := browsertest.NodeModules(t)
	a := newAPI(t, Config{})
	writeRun(t, a.st, time.Now().Add(-2*time.Hour), false)
	writeRun(t, a.st, time.Now().Add(-time.Hour), false)

	out, err := browsertest.Command(nm, "testdata/browser/console.cjs", a.ts.URL+"/").Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, out)
	}
	var res struct {
		Errors       []string `json:"errors"`
		Console      []string `json:"console"`
		Requests     []string `json:"requests"`
		LiveStatus   string   `json:"liveStatus"`
		DialogOpen   bool     `json:"dialogOpen"`
		Bars         int      `json:"bars"`
		Recordings   int      `json:"recordings"`
		HoverTime    string   `json:"hoverTime"`
		Target       float64  `json:"target"`
		ClockAt      float64  `json:"clockAt"`
		In           string   `json:"in"`
		Out          string   `json:"out"`
		Selection    bool     `json:"selection"`
		SnapStatus   string   `json:"snapStatus"`
		ClipError    string   `json:"clipError"`
		KeyIn        string   `json:"keyIn"`
		OtherTarget  float64  `json:"otherTarget"`
		OtherClockAt float64  `json:"otherClockAt"`
		OtherPicked  string   `json:"otherPicked"`
		FirstID      string   `json:"firstID"`
		KeyOut       string   `json:"keyOut"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	if len(res.Errors) > 0 || len(res.Console) > 0 {
		t.Fatalf("errors %v; console %v", res.Errors, res.Console)
	}
	t.Logf("live %q; hover %q; click at %d, plays %d; marks %s - %s; clip %q; %d requests",
		res.LiveStatus, res.HoverTime, int64(res.Target), int64(res.ClockAt), res.In, res.Out, res.ClipError, len(res.Requests))
	if !strings.Contains(res.LiveStatus, "no live API") || res.DialogOpen {
		t.Errorf("live section %q, token dialog open %v: want a plain note and no prompt", res.LiveStatus, res.DialogOpen)
	}
	if res.Bars != 2 || res.Recordings != 2 {
		t.Errorf("%d bars on the timeline, %d recordings listed; want 2 of each", res.Bars, res.Recordings)
	}
	if !strings.Contains(res.HoverTime, "built without the editor") {
		t.Errorf("hover %q: want the time and why there is no sprite", res.HoverTime)
	}
	if res.Target == 0 || math.Abs(res.ClockAt-res.Target) > 1000 {
		t.Errorf("a click at %s played from %s: want within 1 s", time.UnixMilli(int64(res.Target)).UTC(), time.UnixMilli(int64(res.ClockAt)).UTC())
	}
	// A click on the other recording plays that one from there (it plays
	// on from the seek while the clock is read: 2 s).
	if res.OtherPicked != res.FirstID || res.OtherTarget == 0 || math.Abs(res.OtherClockAt-res.OtherTarget) > 2000 {
		t.Errorf("a click at %s on recording %s: picked %s, plays from %s", time.UnixMilli(int64(res.OtherTarget)).UTC(), res.FirstID,
			res.OtherPicked, time.UnixMilli(int64(res.OtherClockAt)).UTC())
	}
	in, err1 := time.Parse(time.RFC3339Nano, res.In)
	outT, err2 := time.Parse(time.RFC3339Nano, res.Out)
	if err1 != nil || err2 != nil || !outT.After(in) || !res.Selection {
		t.Errorf("drag marked in %q, out %q (selection drawn %v)", res.In, res.Out, res.Selection)
	} else if in.UnixMilli()%100 != 0 || outT.UnixMilli()%100 != 0 {
		t.Errorf("marks %s, %s: want them rounded to 0.1 s", res.In, res.Out)
	}
	// Ten 1 % steps of the view (the recording and 2 % around it).
	kin, err1 := time.Parse(time.RFC3339Nano, res.KeyIn)
	kout, err2 := time.Parse(time.RFC3339Nano, res.KeyOut)
	if err1 != nil || err2 != nil || !kout.After(kin) {
		t.Errorf("keys marked in %q, out %q", res.KeyIn, res.KeyOut)
	}
	if res.SnapStatus != "none in this recording" {
		t.Errorf("snapshots: %q", res.SnapStatus)
	}
	if !strings.Contains(res.ClipError, "no job queue") {
		t.Errorf("clip submit without a queue shows %q", res.ClipError)
	}
	for _, u := range res.Requests {
		if !strings.HasPrefix(u, a.ts.URL+"/") && !strings.HasPrefix(u, "blob:") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page fetched %s, outside its server", u)
		}
	}
}

// The console where playback is signed and clips need an app backend's
// token: the recording's playback and snapshots say plainly that they need
// a signed URL (the page mints none); a clip submit asks for the API token,
// asks again after a wrong one, then is accepted and followed; the token
// stays in the tab's sessionStorage.
func TestWebConsoleTokens(t *testing.T) {
	nm := browsertest.NodeModules(t)
	a := newAPI(t, Config{Jobs: openQueue(t), PlaybackSecrets: []string{testSecret}, APITokens: []string{testAPIToken}})
	writeRun(t, a.st, time.Now().Add(-time.Hour), false)

	out, err := browsertest.Command(nm, "testdata/browser/tokens.cjs", a.ts.URL+"/", testAPIToken).Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, out)
	}
	var res struct {
		Errors     []string `json:"errors"`
		Console    []string `json:"console"`
		HTTP       []string `json:"http"`
		SnapStatus string   `json:"snapStatus"`
		PlayError  string   `json:"playError"`
		TokenWhy   string   `json:"tokenWhy"`
		AskedAgain bool     `json:"askedAgain"`
		ClipStatus string   `json:"clipStatus"`
		Session    string   `json:"session"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("browser output %q: %v", out, err)
	}
	t.Logf("snapshots %q; playback %q; clip %q; http %v", res.SnapStatus, res.PlayError, res.ClipStatus, res.HTTP)
	if len(res.Errors) > 0 || len(res.Console) > 0 {
		t.Fatalf("errors %v; console %v", res.Errors, res.Console)
	}
	if !strings.Contains(res.SnapStatus, "needs a signed URL") || !strings.Contains(res.PlayError, "signed URL") {
		t.Errorf("snapshots %q, playback %q: want both to say a signed URL is needed", res.SnapStatus, res.PlayError)
	}
	if !strings.Contains(res.TokenWhy, "API token") || !res.AskedAgain {
		t.Errorf("token dialog %q, asked again after a wrong token: %v", res.TokenWhy, res.AskedAgain)
	}
	if !strings.Contains(res.ClipStatus, "queued") || res.Session != testAPIToken {
		t.Errorf("clip %q; sessionStorage token %q", res.ClipStatus, res.Session)
	}
}
