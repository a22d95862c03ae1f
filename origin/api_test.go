package origin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func apiCall(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestLiveAPIKickAndDrain(t *testing.T) {
	players := NewPlayers(PlayersConfig{}, testLogger(t), nil)
	rec := newTestSink("rec")
	ts := startServer(t, Config{}, rec, players)
	api := httptest.NewServer(ts.srv.APIHandler("s3cret"))
	defer api.Close()
	flv := flvServer(t, players)

	if code, _ := apiCall(t, "GET", api.URL+"/readyz", ""); code != 200 {
		t.Errorf("readyz %d before draining", code)
	}
	pub := ffmpeg(t, ts.url("live/cam"), 20)
	waitFor(t, 5*time.Second, "live", func() bool { return len(ts.srv.Live()) == 1 })
	player, err := http.Get(flv + "/live/cam.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer player.Body.Close()
	go io.Copy(io.Discard, player.Body)
	time.Sleep(3500 * time.Millisecond)

	for _, tok := range []string{"", "wrong"} {
		if code, _ := apiCall(t, "GET", api.URL+"/v1/live", tok); code != http.StatusUnauthorized {
			t.Errorf("GET /v1/live with token %q: %d", tok, code)
		}
		if code, _ := apiCall(t, "DELETE", api.URL+"/v1/live/live/cam", tok); code != http.StatusUnauthorized {
			t.Errorf("DELETE with token %q: %d", tok, code)
		}
	}
	code, body := apiCall(t, "GET", api.URL+"/v1/live", "s3cret")
	var list struct {
		Streams []LiveInfo `json:"streams"`
	}
	if err := json.Unmarshal(body, &list); err != nil || code != 200 || len(list.Streams) != 1 {
		t.Fatalf("GET /v1/live: %d %s", code, body)
	}
	li := list.Streams[0]
	if li.Stream != "live/cam" || li.Run == "" || li.PublisherAddr == "" || li.FramesIn == 0 ||
		li.BitrateInKbps <= 0 || li.Players != 1 || li.BytesOut == 0 || li.UptimeSeconds <= 0 {
		t.Errorf("live info: %+v", li)
	}
	// ffmpeg sends testsrc2 320x240 at 25 fps, x264, and a mono 44.1 kHz sine in AAC.
	if v := li.Video; v == nil || !strings.HasPrefix(v.Codec, "avc1.") || v.Width != 320 || v.Height != 240 || v.FPS < 20 || v.FPS > 30 {
		t.Errorf("video: %+v", v)
	}
	if a := li.Audio; a == nil || a.Codec != "mp4a.40.2" || a.SampleRate != 44100 || a.Channels != 1 {
		t.Errorf("audio: %+v", a)
	}
	if li.BitrateOutKbps <= 0 {
		t.Errorf("bitrate out %v with a player reading", li.BitrateOutKbps)
	}
	if fps := ts.metric(t, "rewind_origin_stream_fps", "stream", "live/cam"); fps < 20 || fps > 30 {
		t.Errorf("stream fps metric %v", fps)
	}
	if bps := ts.metric(t, "rewind_origin_stream_bitrate_bps", "stream", "live/cam", "direction", "in"); bps <= 0 {
		t.Errorf("stream bitrate in metric %v", bps)
	}
	if code, _ := apiCall(t, "GET", api.URL+"/v1/live/live/cam", "s3cret"); code != 200 {
		t.Errorf("GET one: %d", code)
	}
	if code, _ := apiCall(t, "GET", api.URL+"/v1/live/live/nobody", "s3cret"); code != 404 {
		t.Errorf("GET unknown: %d", code)
	}

	// Draining: not ready, new publishes refused, the live one goes on.
	ts.srv.Drain()
	if code, _ := apiCall(t, "GET", api.URL+"/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("readyz %d while draining", code)
	}
	if err := ffmpeg(t, ts.url("live/other"), 2).wait(t); err == nil {
		t.Error("a new publish was accepted while draining")
	}
	if got := ts.metric(t, "rewind_origin_rejected_total", "reason", "draining"); got != 1 {
		t.Errorf("rejected{draining} = %v", got)
	}
	if len(ts.srv.Live()) != 1 {
		t.Error("draining dropped the live publisher")
	}

	// Kick.
	if code, _ := apiCall(t, "DELETE", api.URL+"/v1/live/live/cam", "s3cret"); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	if err := pub.wait(t); err == nil || pub.duration() > 15*time.Second {
		t.Errorf("kicked publisher: err %v after %v", err, pub.duration())
	}
	waitFor(t, 5*time.Second, "run closed", func() bool { r := rec.runsFor("live", "cam"); return len(r) == 1 && r[0].closed })

	noAdmin := httptest.NewServer(ts.srv.APIHandler(""))
	defer noAdmin.Close()
	if code, _ := apiCall(t, "GET", noAdmin.URL+"/v1/live", "anything"); code != http.StatusForbidden {
		t.Errorf("no admin token configured: %d", code)
	}
}

func TestStreamSeriesBounded(t *testing.T) {
	rec := newTestSink("rec")
	ts := startServer(t, Config{MaxStreamSeries: 1}, rec)
	a := ffmpeg(t, ts.url("live/a"), 6)
	b := ffmpeg(t, ts.url("live/b"), 6)
	waitFor(t, 5*time.Second, "two live", func() bool { return len(ts.srv.Live()) == 2 })
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		if mf.GetName() == "rewind_origin_stream_fps" {
			series = len(mf.GetMetric())
		}
	}
	if series != 1 {
		t.Errorf("fps series %d with MaxStreamSeries 1", series)
	}
	if got := ts.metric(t, "rewind_origin_stream_series_omitted"); got != 1 {
		t.Errorf("omitted %v", got)
	}
	a.wait(t)
	b.wait(t)
	waitFor(t, 5*time.Second, "ended", func() bool { return len(ts.srv.Live()) == 0 })
	if got := ts.metric(t, "rewind_origin_stream_series_omitted"); got != 0 {
		t.Errorf("omitted %v after the end", got)
	}
}
