package catalog

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// FuzzUnmarshalNode: a heartbeat comes from the store and may be anything
// (a torn write, another tool, a forgery). Parsing never panics, and a
// document that parses is valid and survives a write and a read unchanged.
func FuzzUnmarshalNode(f *testing.F) {
	at := time.Date(2026, 11, 23, 10, 15, 0, 123e6, time.UTC)
	n := Node{
		Version: NodeVersion, Name: "node1", RTMP: "10.0.0.1:1935", HTTP: "[fd00::1]:8080", State: NodeDraining, Time: at,
		Load:   NodeLoad{Publishers: 1, MaxPublishers: 500, IngestBPS: 2.5e6, Players: 3, CPU: 0.25},
		Live:   []NodeStream{{Stream: "live/cam", Run: NewRunID(at, "node1"), Since: at.Add(-time.Hour)}},
		Recent: []NodeStream{{Stream: "live/old", Since: at.Add(-time.Minute)}},
	}
	b, err := MarshalNode(n)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"version":1,"node":"n","rtmp":"origin-1.internal:1935","state":"ready","load":{},"time":"2026-11-23T10:15:00+01:00","live":[]}`))
	f.Add([]byte(`{"version":1,"node":"n","rtmp":"0.0.0.0:1935","state":"ready","time":"2026-11-23T10:15:00Z"}`))
	f.Add([]byte(`{"version":1,"node":"n","rtmp":"h:1935","state":"ready","time":"2026-11-23T10:15:00Z","load":{"cpu":-1}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := UnmarshalNode(data)
		if err != nil {
			return
		}
		if err := n.Validate(); err != nil {
			t.Fatalf("parsed but invalid: %v\n%s", err, data)
		}
		again, err := MarshalNode(n)
		if err != nil {
			t.Fatalf("parsed but does not encode: %v\n%s", err, data)
		}
		back, err := UnmarshalNode(again)
		if err != nil {
			t.Fatalf("re-read: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(n, back) {
			t.Fatalf("round trip changed it:\n%+v\n%+v", n, back)
		}
		if twice, _ := MarshalNode(back); !bytes.Equal(twice, again) {
			t.Fatalf("encoding is not stable:\n%s\n%s", again, twice)
		}
	})
}
