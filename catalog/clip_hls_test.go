package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

func testClipHLS() *ClipHLS {
	return &ClipHLS{Version: ClipHLSVersion, Stream: "live/cam", Segments: []ClipHLSSegment{
		{File: ClipHLSFileName(0), DurUS: 2_500_000, Size: 1000},
		{Run: testRun, Seq: 8, DurUS: 4_000_000, Size: 5000, Discontinuity: true},
		{Run: testRun, Seq: 9, DurUS: 4_000_000, Size: 5000},
		{File: ClipHLSFileName(1), DurUS: 1_000_000, Size: 700, Discontinuity: true},
	}}
}

func TestClipHLSRoundTrip(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := testClipHLS()
	b, err := EncodeClipHLS(m)
	if err != nil {
		t.Fatal(err)
	}
	id := NewClipID()
	ctx := context.Background()
	if _, err := ReadClipHLS(ctx, st, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing manifest: %v", err)
	}
	if err := st.Put(ctx, ClipHLSKey(id), b, "application/json"); err != nil {
		t.Fatal(err)
	}
	got, err := ReadClipHLS(ctx, st, id)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("read back %+v %v", got, err)
	}
	if src := got.Sources(); len(src) != 1 || src[0].Run != testRun || src[0].FirstSeq != 8 || src[0].LastSeq != 9 {
		t.Errorf("sources %+v", src)
	}
	if k := ClipHLSFileKey(id, ClipHLSFileName(1)); k != "clips/"+id+"/hls/seg_00001.ts" || store.ValidateKey(k) != nil {
		t.Errorf("file key %q", k)
	}
}

func TestClipHLSRefused(t *testing.T) {
	for name, edit := range map[string]func(m *ClipHLS){
		"version":       func(m *ClipHLS) { m.Version = 2 },
		"stream":        func(m *ClipHLS) { m.Stream = "../x" },
		"empty":         func(m *ClipHLS) { m.Segments = nil },
		"both":          func(m *ClipHLS) { m.Segments[0].Run = testRun },
		"file name":     func(m *ClipHLS) { m.Segments[0].File = "../../streams/x.ts" },
		"run":           func(m *ClipHLS) { m.Segments[1].Run = "nope" },
		"seq":           func(m *ClipHLS) { m.Segments[1].Seq = 0 },
		"duration":      func(m *ClipHLS) { m.Segments[2].DurUS = 0 },
		"negative size": func(m *ClipHLS) { m.Segments[2].Size = -1 },
	} {
		m := testClipHLS()
		edit(m)
		if _, err := EncodeClipHLS(m); err == nil {
			t.Errorf("%s: encoded", name)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeClipHLS(b); !errors.Is(err, ErrBadClipJob) {
			t.Errorf("%s: decode: %v", name, err)
		}
	}
	for _, name := range []string{"seg_00001.ts", "seg_123456789.ts"} {
		if !ValidClipHLSFile(name) {
			t.Errorf("%s refused", name)
		}
	}
	for _, name := range []string{"seg_1.ts", "seg_0000a.ts", "seg_00001.ts/x", "index.m3u8", "seg_00001.mp4", "seg_1234567890.ts"} {
		if ValidClipHLSFile(name) {
			t.Errorf("%s accepted", name)
		}
	}
}

// FuzzDecodeClipHLS: the manifest comes from the store; one that decodes is
// valid and survives an encode and a decode unchanged.
func FuzzDecodeClipHLS(f *testing.F) {
	b, err := EncodeClipHLS(testClipHLS())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"version":1,"stream":"a/b","segments":[{"file":"seg_00000.ts","dur_us":1,"size":0}]}`))
	f.Add([]byte(`{"version":1,"stream":"a/b","segments":[{"run":"` + testRun + `","seq":1,"file":"seg_00000.ts","dur_us":1}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeClipHLS(data)
		if err != nil {
			if !errors.Is(err, ErrBadClipJob) {
				t.Fatalf("error not ErrBadClipJob: %v", err)
			}
			return
		}
		again, err := EncodeClipHLS(m)
		if err != nil {
			t.Fatalf("decoded but does not encode: %v\n%s", err, data)
		}
		m2, err := DecodeClipHLS(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed it: %v\n%+v\n%+v", err, m, m2)
		}
	})
}
