package catalog

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestFragmentKeys(t *testing.T) {
	s := Stream{App: "live", Name: "cam"}
	run := "20261202T060000.000Z-n1-ab12"
	key := FragmentKey(s, run, 12, "0123456789abcdef")
	if want := "streams/live/cam/20261202T060000.000Z-n1-ab12/frag/000012-0123456789abcdef.frag"; key != want {
		t.Fatalf("key %q, want %q", key, want)
	}
	if !strings.HasPrefix(key, RunPrefix(s, run)) || !strings.HasPrefix(key, FragmentPrefix(s, run)) {
		t.Fatalf("%q is not under the run prefix", key)
	}
	chunk, form, err := ParseFragmentName(key[strings.LastIndexByte(key, '/')+1:])
	if err != nil || chunk != 12 || form != "0123456789abcdef" {
		t.Fatalf("parse: %d %q %v", chunk, form, err)
	}
	for _, bad := range []string{"", "000012.frag", "000012-0123456789abcdef", "00012-0123456789abcdef.frag",
		"000012-0123456789ABCDEF.frag", "000012-0123456789abcde.frag", "000012-0123456789abcdef0.frag",
		"000012-../../../../x.frag", "00001x-0123456789abcdef.frag", "000012-0123456789abcdef.frag.frag"} {
		if _, _, err := ParseFragmentName(bad); err == nil {
			t.Errorf("ParseFragmentName(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "0123456789abcde/", "0123456789abcdeg", "..", strings.Repeat("a", 17)} {
		if ValidFragmentForm(bad) == nil {
			t.Errorf("form %q accepted", bad)
		}
	}
}

// Deleting a run deletes its stored fragments with it.
func TestDeleteRunsRemovesFragments(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	s := Stream{App: "live", Name: "cam"}
	run := NewRunID(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC), "n1")
	m := Manifest{Version: ManifestVersion, Stream: s.String(), Run: run, Node: "n1", StartedAt: time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC), State: StateLive, TargetDurationMS: 2000}
	if err := WriteManifest(ctx, st, m); err != nil {
		t.Fatal(err)
	}
	key := FragmentKey(s, run, 0, "0123456789abcdef")
	if err := st.Put(ctx, key, []byte("x"), ""); err != nil {
		t.Fatal(err)
	}
	stats, err := DeleteRuns(ctx, st, s, []string{run})
	if err != nil {
		t.Fatal(err)
	}
	left, err := RunObjects(ctx, st, s, run)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 || stats.Objects != 2 {
		t.Fatalf("after the delete: %d objects left, %d deleted", len(left), stats.Objects)
	}
}

func FuzzParseFragmentName(f *testing.F) {
	for _, s := range []string{"000012-0123456789abcdef.frag", "000000-ffffffffffffffff.frag", "1-a.frag", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		chunk, form, err := ParseFragmentName(name)
		if err != nil {
			return
		}
		// One name per chunk and form, and only names that are safe keys.
		if FragmentName(chunk, form) != name || ValidFragmentForm(form) != nil {
			t.Fatalf("%q parses to %d %q, which names %q", name, chunk, form, FragmentName(chunk, form))
		}
	})
}
