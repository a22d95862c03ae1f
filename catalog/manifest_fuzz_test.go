package catalog

import (
	"reflect"
	"testing"
)

// FuzzUnmarshalManifest: run.json comes from the store and may be anything
// (a torn write by another tool, an older or newer version). A manifest
// that parses is valid and survives a write and a read unchanged.
func FuzzUnmarshalManifest(f *testing.F) {
	live, err := MarshalManifest(testManifest())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(live)
	f.Add([]byte(`{"stream":"live/cam","run":"` + testRun + `","node":"node1","started_at":"2026-11-23T10:15:00Z","ended_at":"2026-11-23T11:15:00.5Z","state":"ended","target_duration_ms":2000,"max_segment_duration_ms":6000,"version":1}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := UnmarshalManifest(data)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("parsed but invalid: %v\n%s", err, data)
		}
		again, err := MarshalManifest(m)
		if err != nil {
			t.Fatalf("parsed but does not encode: %v\n%s", err, data)
		}
		back, err := UnmarshalManifest(again)
		if err != nil {
			t.Fatalf("re-read: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(m, back) {
			t.Fatalf("round trip changed it:\n%+v\n%+v", m, back)
		}
	})
}
