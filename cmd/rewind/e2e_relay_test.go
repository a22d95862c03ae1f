package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// A relays to B, a second rewind standing in for a CDN. B is killed -9
// mid-stream and started again: A records the whole publish regardless,
// and B records a playable copy before the kill and a new run after the
// relay reconnects.
func TestRelayToSecondNode(t *testing.T) {
	t.Parallel()
	src, want := source(t, 20)
	dirA, dirB := t.TempDir(), t.TempDir()
	b := startNode(t, nil, "--store", "file://"+filepath.Join(dirB, "store"), "--spool", filepath.Join(dirB, "spool"), "--node", "cdn")
	a := startNode(t, nil, "--store", "file://"+filepath.Join(dirA, "store"), "--spool", filepath.Join(dirA, "spool"),
		"--relay", "live=rtmp://"+b.rtmpAddr+"/cdn/{name}", "--relay-timeout", "3s")
	p := publish(t, src, a.url("live/cam"))
	time.Sleep(8 * time.Second)
	b.kill()
	time.Sleep(3 * time.Second)
	b.start() // same flags and spool: it recovers its first run
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}
	if d := p.finish.Sub(p.start); d > 24*time.Second {
		t.Errorf("a 20 s publish took %v: the relay outage slowed ingest", d)
	}

	stA := fsStore(t, filepath.Join(dirA, "store"))
	runs := waitRuns(t, stA, camStream, 1, 20*time.Second)
	if got := checkRun(t, fetchRun(t, stA, camStream, runs[0])); got != want {
		t.Errorf("A recorded %+v, published %+v", got, want)
	}

	copyStream := catalog.Stream{App: "cdn", Name: "cam"}
	stB := fsStore(t, filepath.Join(dirB, "store"))
	runsB := waitRuns(t, stB, copyStream, 2, 30*time.Second)
	var total time.Duration
	for _, run := range runsB {
		sr := fetchRun(t, stB, copyStream, run)
		got := checkRun(t, sr) // decodes, every segment starts on a keyframe
		if got.Video == 0 || got.Audio == 0 {
			t.Errorf("B run %s: %+v", run, got)
		}
		for _, e := range sr.entries {
			total += e.Dur()
		}
	}
	// Before the kill about 8 s, after the reconnect about 8 s.
	if total < 10*time.Second || total > 20*time.Second {
		t.Errorf("B recorded %v in its two runs", total)
	}
	a.stop()
	b.stop()
}
