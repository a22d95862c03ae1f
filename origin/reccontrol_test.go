package origin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/media"
)

// recState calls a recording route and decodes the state it answers.
func recState(t *testing.T, method, url string) RecordingState {
	t.Helper()
	code, body := apiCall(t, method, url, "tok")
	if code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, url, code, body)
	}
	var st RecordingState
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, body)
	}
	return st
}

// checkSinkContract fails the test on what the sink saw that the Sink
// contract forbids (two open runs of one stream, a write after Close).
func checkSinkContract(t *testing.T, s *testSink) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.violations {
		t.Errorf("sink %s: %s", s.name, v)
	}
	for id, r := range s.runs {
		if !r.closed {
			t.Errorf("sink %s: run %s not closed", s.name, id)
		}
	}
}

// Recording of a live stream stops and starts through the admin API while
// the ffmpeg publisher and an ffprobe player stay connected: the recorder
// sees two runs (the second with a new id, starting with the metadata and
// sequence headers, then a keyframe), the other sinks and the player see
// one unbroken publish.
func TestRecControlStopStartLive(t *testing.T) {
	players := NewPlayers(PlayersConfig{}, testLogger(t), nil)
	rec := newTestSink("recorder")
	other := newTestSink("other")
	ts := startServer(t, Config{Recorder: rec}, other, players)
	api := httptest.NewServer(ts.srv.APIHandler("tok"))
	defer api.Close()
	flv := flvServer(t, players)
	base := api.URL + "/v1/live/live/cam/recording"

	pub := ffmpeg(t, ts.url("live/cam"), 12)
	waitFor(t, 5*time.Second, "live", func() bool { return len(ts.srv.Live()) == 1 })
	// The player: every video packet's time and flags, until the stream ends.
	player := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time,flags",
		"-of", "csv=p=0", flv+"/live/cam.flv")
	var playerOut strings.Builder
	player.Stdout = &playerOut
	if err := player.Start(); err != nil {
		t.Fatal(err)
	}
	playerDone := make(chan error, 1)
	go func() { playerDone <- player.Wait() }()
	t.Cleanup(func() { player.Process.Kill(); <-playerDone })
	waitFor(t, 10*time.Second, "player and recorded frames", func() bool {
		runs := rec.runsFor("live", "cam")
		return ts.srv.Live()[0].Players == 1 && len(runs) == 1 && runs[0].frames[media.FrameVideo] > 50
	})
	pubRun := ts.srv.Live()[0].Run

	st := recState(t, "GET", base)
	if !st.Recording || st.Run != pubRun || !slices.Equal(st.Runs, []string{pubRun}) || st.Policy != "on" {
		t.Fatalf("state at start: %+v, publish run %s", st, pubRun)
	}
	st = recState(t, "POST", base+"/stop")
	if st.Recording || st.Run != "" || !slices.Equal(st.Runs, []string{pubRun}) {
		t.Fatalf("after stop: %+v", st)
	}
	if r := rec.runsFor("live", "cam"); len(r) != 1 || !r[0].closed {
		t.Fatalf("the recorder's run is not closed at stop: %+v", r)
	}
	if again := recState(t, "POST", base+"/stop"); again.Recording || !again.Since.Equal(st.Since) {
		t.Errorf("second stop changed the state: %+v, was %+v", again, st)
	}
	// Frames go on to the other sinks, not to the recorder.
	stoppedAt := rec.runsFor("live", "cam")[0].frames[media.FrameVideo]
	otherAt := other.runsFor("live", "cam")[0].frames[media.FrameVideo]
	waitFor(t, 10*time.Second, "frames to the other sink while stopped", func() bool {
		return other.runsFor("live", "cam")[0].frames[media.FrameVideo] > otherAt+50
	})
	if n := rec.runsFor("live", "cam")[0].frames[media.FrameVideo]; n != stoppedAt {
		t.Errorf("the recorder got %d video frames after stop", n-stoppedAt)
	}

	st = recState(t, "POST", base+"/start")
	if !st.Recording || st.Run == "" || st.Run == pubRun || !slices.Equal(st.Runs, []string{pubRun, st.Run}) {
		t.Fatalf("after start: %+v", st)
	}
	if again := recState(t, "POST", base+"/start"); again.Run != st.Run || len(again.Runs) != 2 {
		t.Errorf("second start: %+v, was %+v", again, st)
	}
	code, body := apiCall(t, "GET", api.URL+"/v1/live", "tok")
	var list struct {
		Streams []LiveInfo `json:"streams"`
	}
	if err := json.Unmarshal(body, &list); code != 200 || err != nil || len(list.Streams) != 1 {
		t.Fatalf("/v1/live: %d %v %s", code, err, body)
	}
	if li := list.Streams[0]; li.Run != pubRun || li.Recording == nil || li.Recording.Run != st.Run || li.Players != 1 {
		t.Errorf("/v1/live: run %s, recording %+v, players %d", li.Run, li.Recording, li.Players)
	}
	if got := ts.metric(t, "rewind_origin_recording_streams", "state", "on"); got != 1 {
		t.Errorf("recording_streams{on} = %v", got)
	}

	if err := pub.wait(t); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	select {
	case err := <-playerDone:
		playerDone <- err
		if err != nil {
			t.Errorf("player: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("player still running after the publish ended")
	}
	waitFor(t, 5*time.Second, "publish ended", func() bool { return len(ts.srv.Live()) == 0 })

	// The player saw one publish, no hole across the stop and the start.
	var pts []float64
	for _, line := range strings.Fields(playerOut.String()) {
		p, _, _ := strings.Cut(line, ",")
		if v, err := strconv.ParseFloat(p, 64); err == nil {
			pts = append(pts, v)
		}
	}
	slices.Sort(pts)
	if len(pts) < 100 {
		t.Fatalf("player got %d video packets", len(pts))
	}
	for i := 1; i < len(pts); i++ {
		if pts[i]-pts[i-1] > 0.5 {
			t.Errorf("player: a %.2fs hole at %.2fs", pts[i]-pts[i-1], pts[i-1])
		}
	}

	runs := rec.runsFor("live", "cam")
	if len(runs) != 2 || runs[0].info.Run != pubRun || runs[1].info.Run != st.Run {
		t.Fatalf("recorder runs %+v, want %s then %s", runs, pubRun, st.Run)
	}
	second := runs[1]
	if second.info.App != "live" || second.info.Name != "cam" || second.info.Node != runs[0].info.Node || !second.info.StartedAt.After(runs[0].info.StartedAt) {
		t.Errorf("second run's info %+v, first %+v", second.info, runs[0].info)
	}
	if !media.IsAVCSeqHeader(second.firstVideo) || !media.IsAACSeqHeader(second.firstAudio) || second.firstData == nil {
		t.Errorf("second run does not start with the headers: video %x audio %x data %d bytes",
			head(second.firstVideo), head(second.firstAudio), len(second.firstData))
	}
	if !media.IsVideoKeyframe(second.firstPicture) {
		t.Errorf("second run's first picture is not a keyframe: %x", head(second.firstPicture))
	}
	if o := other.runsFor("live", "cam"); len(o) != 1 || o[0].info.Run != pubRun {
		t.Errorf("other sink runs %+v, want the one publish", o)
	}
	for to, want := range map[string]float64{"on": 1, "off": 1} {
		if got := ts.metric(t, "rewind_origin_recording_changes_total", "to", to); got != want {
			t.Errorf("recording_changes_total{to=%s} = %v, want %v", to, got, want)
		}
	}
	code, _ = apiCall(t, "POST", base+"/start", "tok")
	if code != http.StatusNotFound {
		t.Errorf("start on an ended stream: %d, want 404", code)
	}
	ts.stop()
	checkSinkContract(t, rec)
}

func head(b []byte) []byte { return b[:min(len(b), 4)] }

// The policy decides at publish: off streams go to every sink but the
// recorder, and are recorded once started through the API.
func TestRecControlPolicy(t *testing.T) {
	pol, err := ParseRecordPolicy("live=off, live/keep=on:3s")
	if err != nil {
		t.Fatal(err)
	}
	rec := newTestSink("recorder")
	other := newTestSink("other")
	ts := startServer(t, Config{Recorder: rec, RecordPolicy: pol}, other)
	api := httptest.NewServer(ts.srv.APIHandler("tok"))
	defer api.Close()

	skip := ffmpeg(t, ts.url("live/skip"), 6)
	keep := ffmpeg(t, ts.url("live/keep"), 6)
	waitFor(t, 10*time.Second, "both live with frames", func() bool {
		o1, o2 := other.runsFor("live", "skip"), other.runsFor("live", "keep")
		return len(o1) == 1 && len(o2) == 1 && o1[0].frames[media.FrameVideo] > 25 && o2[0].frames[media.FrameVideo] > 25
	})
	if st := recState(t, "GET", api.URL+"/v1/live/live/skip/recording"); st.Recording || st.Policy != "off" || len(st.Runs) != 0 {
		t.Errorf("live/skip: %+v", st)
	}
	if st := recState(t, "GET", api.URL+"/v1/live/live/keep/recording"); !st.Recording || st.Policy != "on" || st.SegmentDurationMS != 3000 {
		t.Errorf("live/keep: %+v", st)
	}
	if r := rec.runsFor("live", "skip"); len(r) != 0 {
		t.Errorf("live/skip recorded though off: %+v", r)
	}
	st := recState(t, "POST", api.URL+"/v1/live/live/skip/recording/start")
	if !st.Recording || len(st.Runs) != 1 {
		t.Errorf("live/skip started: %+v", st)
	}
	for _, p := range []*ffmpegProc{skip, keep} {
		if err := p.wait(t); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "publishes ended", func() bool { return len(ts.srv.Live()) == 0 })
	if r := rec.runsFor("live", "skip"); len(r) != 1 || r[0].info.Run != st.Runs[0] || r[0].frames[media.FrameVideo] == 0 {
		t.Errorf("live/skip after start: %+v", r)
	}
	if r := rec.runsFor("live", "keep"); len(r) != 1 {
		t.Errorf("live/keep: %+v", r)
	}

	// Bad names and streams that are not live; a node without a recorder.
	for path, want := range map[string]int{"/v1/live/live/nobody/recording/stop": 404, "/v1/live/bad.app!/x/recording/start": 400} {
		if code, body := apiCall(t, "POST", api.URL+path, "tok"); code != want {
			t.Errorf("POST %s: %d %s, want %d", path, code, body, want)
		}
	}
	if code, _ := apiCall(t, "POST", api.URL+"/v1/live/live/keep/recording/stop", ""); code != http.StatusUnauthorized {
		t.Errorf("stop without a token: %d", code)
	}
	ts.stop()
	checkSinkContract(t, rec)

	bare := startServer(t, Config{}, newTestSink("plain"))
	bareAPI := httptest.NewServer(bare.srv.APIHandler("tok"))
	defer bareAPI.Close()
	if code, body := apiCall(t, "POST", bareAPI.URL+"/v1/live/live/cam/recording/stop", "tok"); code != 404 || !strings.Contains(string(body), "no_recorder") {
		t.Errorf("stop on a node without a recorder: %d %s", code, body)
	}
}

// A recorder that cannot open a new run leaves the stream not recording,
// the API says why, and the publish goes on.
func TestRecControlStartFails(t *testing.T) {
	rec := newTestSink("recorder")
	failing := &failingSink{testSink: rec}
	other := newTestSink("other")
	ts := startServer(t, Config{Recorder: failing}, other)
	api := httptest.NewServer(ts.srv.APIHandler("tok"))
	defer api.Close()
	pub := ffmpeg(t, ts.url("live/cam"), 5)
	waitFor(t, 10*time.Second, "frames", func() bool {
		r := rec.runsFor("live", "cam")
		return len(r) == 1 && r[0].frames[media.FrameVideo] > 10
	})
	recState(t, "POST", api.URL+"/v1/live/live/cam/recording/stop")
	failing.fail.Store(true)
	code, body := apiCall(t, "POST", api.URL+"/v1/live/live/cam/recording/start", "tok")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "record_failed") || !strings.Contains(string(body), errTestOpen.Error()) {
		t.Errorf("start with a failing recorder: %d %s", code, body)
	}
	if st := recState(t, "GET", api.URL+"/v1/live/live/cam/recording"); st.Recording {
		t.Errorf("state after a failed start: %+v", st)
	}
	if err := pub.wait(t); err != nil {
		t.Errorf("publisher: %v", err)
	}
	ts.stop()
	checkSinkContract(t, rec)
}

var errTestOpen = errors.New("spool is gone (test)")

// failingSink is a testSink whose Open fails once fail is set.
type failingSink struct {
	*testSink
	fail atomic.Bool
}

func (s *failingSink) Open(info media.StreamInfo) (SinkStream, error) {
	if s.fail.Load() {
		return nil, errTestOpen
	}
	return s.testSink.Open(info)
}
