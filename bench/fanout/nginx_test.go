package main

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/loadgen"
)

// TestPlayersOnNginx publishes into the bench's nginx-rtmp and plays it
// with the Go RTMP player and rtmpdump: both join (a video message came)
// and each gets most of what was published after it joined, and nginx's
// CPU is read from its master and worker; with either config (-nginx).
func TestPlayersOnNginx(t *testing.T) {
	if _, err := os.Stat(rtmpModule); err != nil {
		t.Skip("nginx RTMP module not installed (make deps installs libnginx-mod-rtmp)")
	}
	if _, err := exec.LookPath("rtmpdump"); err != nil {
		t.Skip("rtmpdump not installed (make bench installs it)")
	}
	for _, tuning := range []nginxTuning{nginxDefault, nginxFair} {
		t.Run(string(tuning), func(t *testing.T) { playOnNginx(t, tuning) })
	}
}

func playOnNginx(t *testing.T, tuning nginxTuning) {
	ng, err := startNginxRTMP(tuning)
	if err != nil {
		t.Fatal(err)
	}
	defer ng.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A synthetic stream (keyframe every 10 frames, 25 fps, 4 KiB frames)
	// keeps the test short and off the source media.
	tags := syntheticTags(50, 4096)
	const dur = 4 * time.Second
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var pub loadgen.Stats
	var pubErr error
	wg.Go(func() { pub, pubErr = loadgen.Publish(ctx, ng.rtmpAddr, app, streamName, tags, dur) })
	if err := waitLive(ctx, ng.rtmpAddr, streamName, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	viewers := []viewer{
		&rtmpViewer{addr: ng.rtmpAddr, name: streamName},
		&rtmpdumpViewer{url: "rtmp://" + ng.rtmpAddr + "/" + app + "/" + streamName},
	}
	playCtx, stopPlayers := context.WithCancel(ctx)
	var joined, playing sync.WaitGroup
	joinedAt := make([]time.Time, len(viewers))
	for i, v := range viewers {
		joined.Add(1)
		playing.Add(1)
		wg.Go(func() {
			defer playing.Done()
			v.run(playCtx, func() { joinedAt[i] = time.Now(); joined.Done() })
		})
	}
	joined.Wait()
	start := time.Now()
	cpu0, err := ng.cpu()
	if err != nil {
		t.Fatal(err)
	}
	for time.Since(start) < dur-time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	cpu1, err := ng.cpu()
	if err != nil {
		t.Fatal(err)
	}
	if cpu1 < cpu0 {
		t.Errorf("nginx CPU went back: %v -> %v", cpu0, cpu1)
	}
	stopPlayers()
	playing.Wait()
	wg.Wait()
	if pubErr != nil {
		t.Fatal(pubErr)
	}
	perSec := float64(pub.Bytes) / dur.Seconds()
	for i, v := range viewers {
		ok, err := v.result()
		if !ok || err != nil {
			t.Errorf("viewer %d: connected %v, err %v", i, ok, err)
		}
		// It played from joining to when it was stopped, at least as long
		// as the wait above.
		want := 0.8 * perSec * (dur - time.Second).Seconds()
		if got := float64(v.mediaBytes()); got < want {
			t.Errorf("viewer %d got %.0f media bytes, want at least %.0f (published %d in %s)", i, got, want, pub.Bytes, dur)
		}
	}
}

// syntheticTags is an AVC stream of n frames at 25 fps, each of size
// bytes, a keyframe every 10, after its sequence header.
func syntheticTags(n, size int) []flvfile.Tag {
	avcC := []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 4, 0x68, 0xee, 0x3c, 0x80}
	tags := []flvfile.Tag{{Type: 9, Body: avcC}}
	for i := range n {
		body := make([]byte, size)
		body[0], body[1] = 0x27, 1
		if i%10 == 0 {
			body[0] = 0x17
		}
		binary.BigEndian.PutUint32(body[5:], uint32(size-9)) // one NALU, length-prefixed
		tags = append(tags, flvfile.Tag{Type: 9, Timestamp: uint32(i * 40), Body: body})
	}
	return tags
}
