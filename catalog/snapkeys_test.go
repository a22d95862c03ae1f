package catalog

import (
	"strings"
	"testing"
	"time"
)

func TestSnapshotKeys(t *testing.T) {
	s := Stream{App: "live", Name: "cam"}
	at := time.Date(2026, 12, 2, 6, 0, 0, 123e6, time.UTC)
	key := SnapshotKey(s, "20261202T060000.000Z-n1-ab12", at)
	if want := "streams/live/cam/20261202T060000.000Z-n1-ab12/snap/1796191200123.jpg"; key != want {
		t.Fatalf("key %q, want %q", key, want)
	}
	name := key[strings.LastIndexByte(key, '/')+1:]
	if name != SnapshotName(at) {
		t.Fatalf("name %q, want %q", SnapshotName(at), name)
	}
	got, err := ParseSnapshotName(name)
	if err != nil || !got.Equal(at) {
		t.Fatalf("parse %q = %v, %v; want %v", name, got, err, at)
	}
	for _, bad := range []string{"", "1.jpg", "179619120012.jpg", "17961912001234.jpg", "1796191200123.png", "17961912001x3.jpg", "../../../a.jpg"} {
		if _, err := ParseSnapshotName(bad); err == nil {
			t.Errorf("ParseSnapshotName(%q) accepted", bad)
		}
	}
}

func FuzzParseSnapshotName(f *testing.F) {
	for _, s := range []string{"1796191200123.jpg", "0000000000000.jpg", "9999999999999.jpg", "1.jpg", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		at, err := ParseSnapshotName(name)
		if err != nil {
			return
		}
		// Each time has one name only, so listing never sees two keys for it.
		if SnapshotName(at) != name {
			t.Fatalf("%q parses to %v, which names %q", name, at, SnapshotName(at))
		}
	})
}
