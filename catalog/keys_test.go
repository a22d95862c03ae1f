package catalog

import "testing"

func TestKeys(t *testing.T) {
	s := Stream{"live", "cam"}
	run := "20261123T101500.123Z-node1-7f3a"
	for got, want := range map[string]string{
		StreamsPrefix:              "streams/",
		StreamPrefix(s):            "streams/live/cam/",
		RunPrefix(s, run):          "streams/live/cam/" + run + "/",
		ManifestKey(s, run):        "streams/live/cam/" + run + "/run.json",
		SegmentPrefix(s, run):      "streams/live/cam/" + run + "/seg/",
		SegmentKey(s, run, 1):      "streams/live/cam/" + run + "/seg/0000000001.ts",
		SegmentKey(s, run, MaxSeq): "streams/live/cam/" + run + "/seg/9999999999.ts",
		IndexPrefix(s, run):        "streams/live/cam/" + run + "/idx/",
		IndexChunkKey(s, run, 1):   "streams/live/cam/" + run + "/idx/000001.idx",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestParseNames(t *testing.T) {
	if n, err := ParseSegmentName("0000000042.ts"); err != nil || n != 42 {
		t.Fatalf("ParseSegmentName = %d, %v", n, err)
	}
	if n, err := ParseChunkName("000001.idx"); err != nil || n != 1 {
		t.Fatalf("ParseChunkName = %d, %v", n, err)
	}
	for _, bad := range []string{"", "42.ts", "00000000042.ts", "000000004a.ts", "+000000042.ts", "0000000042.TS", "0000000042.ts.tmp", "000001.idx"} {
		if _, err := ParseSegmentName(bad); err == nil {
			t.Errorf("ParseSegmentName(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "1.idx", "0000001.idx", "-00001.idx", "000001.ts", "000001.idx~"} {
		if _, err := ParseChunkName(bad); err == nil {
			t.Errorf("ParseChunkName(%q) accepted", bad)
		}
	}
	// Keys and parsers agree.
	s, run := Stream{"a", "b"}, "20261123T101500.123Z-node1-7f3a"
	for _, n := range []uint64{0, 7, 123456, MaxSeq} {
		key := SegmentKey(s, run, n)
		if got, err := ParseSegmentName(key[len(SegmentPrefix(s, run)):]); err != nil || got != n {
			t.Errorf("segment %d: %d, %v", n, got, err)
		}
	}
	for _, n := range []uint64{0, 42, MaxChunk} {
		key := IndexChunkKey(s, run, n)
		if got, err := ParseChunkName(key[len(IndexPrefix(s, run)):]); err != nil || got != n {
			t.Errorf("chunk %d: %d, %v", n, got, err)
		}
	}
}
