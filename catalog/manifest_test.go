package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/store"
)

const testRun = "20261123T101500.123Z-node1-7f3a"

func testManifest() Manifest {
	return Manifest{
		Stream:           "live/cam",
		Run:              testRun,
		Node:             "node1",
		StartedAt:        time.Date(2026, 11, 23, 10, 15, 0, 123e6, time.UTC),
		State:            StateLive,
		Video:            &VideoInfo{Codec: "avc1.64001f", Width: 1280, Height: 720, FPS: 30},
		Audio:            &AudioInfo{Codec: "mp4a.40.2", SampleRate: 48000, Channels: 2},
		TargetDurationMS: 4000,
		Version:          ManifestVersion,
	}
}

func TestManifestJSON(t *testing.T) {
	m := testManifest()
	data, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["started_at"] != "2026-11-23T10:15:00.123Z" {
		t.Errorf("started_at = %v", raw["started_at"])
	}
	if v, ok := raw["ended_at"]; !ok || v != nil {
		t.Errorf("ended_at = %v, %v; want an explicit null", v, ok)
	}
	for _, k := range []string{"stream", "run", "node", "state", "video", "audio", "target_duration_ms", "version"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("field %q missing in %s", k, data)
		}
	}
	video := raw["video"].(map[string]any)
	audio := raw["audio"].(map[string]any)
	if video["codec"] != "avc1.64001f" || video["width"] != 1280.0 || video["fps"] != 30.0 || audio["sample_rate"] != 48000.0 || audio["channels"] != 2.0 {
		t.Errorf("tracks: %s", data)
	}

	got, err := UnmarshalManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if !manifestEqual(got, m) {
		t.Fatalf("round trip: got %+v, want %+v", got, m)
	}

	// Whole seconds keep their ".000"; an ended run gets its end time; other
	// zones are written in UTC.
	m.StartedAt = time.Date(2026, 11, 23, 11, 15, 0, 0, time.FixedZone("CET", 3600))
	end := m.StartedAt.Add(90 * time.Minute)
	m.EndedAt, m.State = &end, StateEnded
	m.Video, m.Audio = nil, nil
	data, err = MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.Contains(s, `"started_at": "2026-11-23T10:15:00.000Z"`) || !strings.Contains(s, `"ended_at": "2026-11-23T11:45:00.000Z"`) {
		t.Errorf("times: %s", s)
	}
	if strings.Contains(s, "video") || strings.Contains(s, "audio") {
		t.Errorf("absent tracks are written: %s", s)
	}
	got, err = UnmarshalManifest(data)
	if err != nil || !manifestEqual(got, m) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
}

func manifestEqual(a, b Manifest) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestUnmarshalManifestAcceptsRFC3339AndUnknownFields(t *testing.T) {
	in := `{"stream":"live/cam","run":"` + testRun + `","node":"node1","started_at":"2026-11-23T11:15:00+01:00",
		"ended_at":null,"state":"live","target_duration_ms":2000,"version":1,"future":{"x":1}}`
	m, err := UnmarshalManifest([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if m.StartedAt != time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC) || m.TargetDuration() != 2*time.Second {
		t.Fatalf("got %+v", m)
	}
}

// max_segment_duration_ms is optional: old run.json files without it read
// as the recorder's default of three targets; when present it round-trips.
func TestManifestMaxSegmentDuration(t *testing.T) {
	m := testManifest()
	if got := m.MaxSegmentDuration(); got != 12*time.Second {
		t.Errorf("unset max: %v, want 3 x 4s", got)
	}
	data, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "max_segment_duration_ms") {
		t.Errorf("unset max written: %s", data)
	}
	m.MaxSegmentDurationMS = 9000
	if data, err = MarshalManifest(m); err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.MaxSegmentDuration() != 9*time.Second || !strings.Contains(string(data), `"max_segment_duration_ms": 9000`) {
		t.Errorf("round trip: %v from %s", got.MaxSegmentDuration(), data)
	}
}

func TestManifestValidate(t *testing.T) {
	end := testManifest().StartedAt.Add(time.Hour)
	before := testManifest().StartedAt.Add(-time.Second)
	for name, mod := range map[string]func(*Manifest){
		"version 0":         func(m *Manifest) { m.Version = 0 },
		"version 2":         func(m *Manifest) { m.Version = 2 },
		"bad stream":        func(m *Manifest) { m.Stream = "live" },
		"bad run":           func(m *Manifest) { m.Run = "run1" },
		"empty node":        func(m *Manifest) { m.Node = "" },
		"node mismatch":     func(m *Manifest) { m.Node = "node2" },
		"no start":          func(m *Manifest) { m.StartedAt = time.Time{} },
		"live with end":     func(m *Manifest) { m.EndedAt = &end },
		"ended without end": func(m *Manifest) { m.State = StateEnded },
		"end before start":  func(m *Manifest) { m.State, m.EndedAt = StateEnded, &before },
		"bad state":         func(m *Manifest) { m.State = "paused" },
		"no target":         func(m *Manifest) { m.TargetDurationMS = 0 },
		"max below target":  func(m *Manifest) { m.MaxSegmentDurationMS = 3999 },
		"video codec":       func(m *Manifest) { m.Video.Codec = `avc1",x` },
		"video size":        func(m *Manifest) { m.Video.Width = 0 },
		"video fps":         func(m *Manifest) { m.Video.FPS = -1 },
		"audio codec":       func(m *Manifest) { m.Audio.Codec = "" },
		"audio rate":        func(m *Manifest) { m.Audio.SampleRate = 0 },
	} {
		m := testManifest()
		mod(&m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := MarshalManifest(m); err == nil {
			t.Errorf("%s: marshalled", name)
		}
	}
	m := testManifest()
	m.Node = "node-1" // sanitized to node_1, not node1
	if m.Validate() == nil {
		t.Error("node with '-' matched")
	}
	m.Node, m.Run = "node-1", "20261123T101500.123Z-node_1-7f3a"
	if err := m.Validate(); err != nil {
		t.Errorf("raw node name refused: %v", err)
	}
	for _, in := range []string{"", "{", "[]", `{"started_at":"yesterday"}`, `{"version":1}`} {
		if _, err := UnmarshalManifest([]byte(in)); err == nil {
			t.Errorf("UnmarshalManifest(%q) accepted", in)
		}
	}
}

func TestEffectiveState(t *testing.T) {
	m := testManifest() // live, 4 s target
	start := m.StartedAt
	last := start.Add(time.Minute)
	for _, c := range []struct {
		last, now time.Time
		want      string
	}{
		{last, last.Add(12 * time.Second), StateLive},
		{last, last.Add(12*time.Second + time.Millisecond), StateEnded},
		{time.Time{}, start.Add(5 * time.Second), StateLive}, // no segment yet: from the start
		{time.Time{}, start.Add(13 * time.Second), StateEnded},
	} {
		if got := m.EffectiveState(c.last, c.now); got != c.want {
			t.Errorf("EffectiveState(%v, %v) = %s, want %s", c.last, c.now, got, c.want)
		}
	}
	end := start.Add(time.Second)
	m.State, m.EndedAt = StateEnded, &end
	if got := m.EffectiveState(last, last); got != StateEnded {
		t.Errorf("ended run: %s", got)
	}
}

func TestWriteReadManifest(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	m := testManifest()
	s, _ := ParseStream(m.Stream)
	if _, err := ReadManifest(ctx, st, s, testRun); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing manifest: %v", err)
	}
	if err := WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	if o := st.objs[ManifestKey(s, testRun)]; o.ct != "application/json" {
		t.Errorf("content type %q", o.ct)
	}
	got, err := ReadManifest(ctx, st, s, testRun)
	if err != nil || !manifestEqual(got, m) {
		t.Fatalf("ReadManifest = %+v, %v", got, err)
	}

	bad := m
	bad.Stream = "live"
	if err := WriteManifest(ctx, st, bad); err == nil {
		t.Error("invalid manifest written")
	}
	if _, err := ReadManifest(ctx, st, Stream{"live", "../x"}, testRun); !errors.Is(err, ErrInvalidStream) {
		t.Errorf("bad stream: %v", err)
	}
	if _, err := ReadManifest(ctx, st, s, "../x"); !errors.Is(err, ErrInvalidRunID) {
		t.Errorf("bad run: %v", err)
	}

	// A manifest stored under another run is refused.
	other := "20261123T101500.123Z-node1-0000"
	data, _ := MarshalManifest(m)
	st.Put(ctx, ManifestKey(s, other), data, "application/json")
	if _, err := ReadManifest(ctx, st, s, other); err == nil {
		t.Error("misplaced manifest accepted")
	}
	// So is a huge object.
	st.Put(ctx, ManifestKey(s, other), make([]byte, maxManifestSize+1), "application/json")
	if _, err := ReadManifest(ctx, st, s, other); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("huge manifest: %v", err)
	}
}
