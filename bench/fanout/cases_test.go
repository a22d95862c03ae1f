package main

import (
	"slices"
	"testing"
)

func TestParseCases(t *testing.T) {
	all, err := parseCases("")
	if err != nil || !slices.Equal(all, peerCases) {
		t.Errorf("empty: %v, %v; want every case", all, err)
	}
	got, err := parseCases("nginx/dump, rewind/go,nginx/dump")
	if want := []peerCase{{serverRewind, clientGo}, {serverNginx, clientRtmpdump}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v (peerCases' order, once each)", got, err, want)
	}
	for _, bad := range []string{"nginx/flv", "rewind", "mediamtx/go", ",", "rewind/go,"} {
		if got, err := parseCases(bad); err == nil {
			t.Errorf("%q: %v, want an error", bad, got)
		}
	}
}

// FuzzParseCases: whatever -peer-cases says, the answer is an error or
// known cases, each once, in peerCases' order.
func FuzzParseCases(f *testing.F) {
	for _, s := range []string{"", "rewind/go", "nginx/dump,rewind/flv", "nginx/flv", "a/b/c", " rewind/dump , nginx/go "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseCases(s)
		if err != nil {
			return
		}
		last := -1
		for _, pc := range got {
			i := slices.Index(peerCases, pc)
			if i <= last {
				t.Fatalf("%q: %v is unknown, repeated or out of order", s, got)
			}
			last = i
		}
		if len(got) == 0 {
			t.Fatalf("%q: no case and no error", s)
		}
	})
}
