package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/benchkit"
	"github.com/rewind-vod/rewind/sched/steer"
)

// The origin relays a live stream to two CDNs' ingests: cdn-b's is a real
// RTMP server (nginx-rtmp), cdn-a's refuses every connection. The relay's
// faults count against cdn-a, so the address API moves cdn-a's push
// address (first in the static order) behind cdn-b's, and its pull URLs
// too: a CDN the origin cannot push to has no live stream.
func TestSchedRelayFaultDropsPushAddress(t *testing.T) {
	t.Parallel()
	src, _ := source(t, 12)
	ingestB := startNginx(t, func(addr string) string {
		return fmt.Sprintf("  server {\n    listen %s;\n    application live { live on; }\n  }\n", addr)
	})
	refusing := freeAddr(t) // nothing listens there
	dir := t.TempDir()
	cdns := fmt.Sprintf("cdn-a;hls=http://a.example;push=rtmp://%s/{app}/{name} cdn-b;hls=http://b.example;push=rtmp://%s/{app}/{name}", refusing, ingestB)
	n := startNode(t, nil, "--store", "file://"+filepath.Join(dir, "store"), "--spool", filepath.Join(dir, "spool"),
		"--relay", fmt.Sprintf("live=rtmp://%s/live/{name},live=rtmp://%s/live/{name}", refusing, ingestB), "--relay-timeout", "2s",
		"--cdns", cdns, "--steer-public-url", "http://sched.example", "--sched-interval", "1s", "--sched-span", "30s")

	addresses := func() (pull, push []string) {
		var a steer.Addresses
		if err := json.Unmarshal([]byte(httpGet(t, "http://"+n.httpAddr+"/v1/addresses/live/cam")), &a); err != nil {
			t.Fatal(err)
		}
		for _, p := range a.Pull {
			pull = append(pull, p.CDN)
		}
		for _, p := range a.Push {
			push = append(push, p.CDN)
		}
		return pull, push
	}
	if _, push := addresses(); !slices.Equal(push, []string{"cdn-a", "cdn-b"}) {
		t.Fatalf("before any fault: push order %v, want the static order", push)
	}

	p := publish(t, src, n.url("live/cam"))
	deadline := time.Now().Add(15 * time.Second)
	var pull, push []string
	for {
		if pull, push = addresses(); slices.Equal(push, []string{"cdn-b", "cdn-a"}) && slices.Equal(pull, push) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("push order %v, pull order %v: cdn-a's refusing ingest did not move it last\n%s", push, pull, n.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	m, err := benchkit.Scrape(t.Context(), "http://"+n.httpAddr+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if m[`rewind_qos_relay_connect_failures_total{cdn="cdn-a"}`] < 1 || m[`rewind_qos_relay_connect_failures_total{cdn="cdn-b"}`] != 0 {
		t.Errorf("relay faults counted: cdn-a %v, cdn-b %v", m[`rewind_qos_relay_connect_failures_total{cdn="cdn-a"}`], m[`rewind_qos_relay_connect_failures_total{cdn="cdn-b"}`])
	}
	if err := p.wait(t); err != nil {
		t.Fatal(err)
	}
	n.stop()
}

// `rewind vodapi --cdns ...` collects the CMCD on the replay requests that
// reach it (a CDN's cache misses), per the CDN the X-Rewind-CDN header
// names, into rewind_qos_* for Prometheus; the answer itself is the
// API's.
func TestVodapiCollectsCMCD(t *testing.T) {
	t.Parallel()
	api := &proc{t: t, httpAddr: freeAddr(t)}
	api.args = []string{"vodapi", "--http-addr", api.httpAddr, "--store", "file://" + t.TempDir(),
		"--cdns", "cdn-a;hls=http://a.example cdn-b;hls=http://b.example"}
	api.start()
	t.Cleanup(api.kill)
	req, err := http.NewRequest("GET", "http://"+api.httpAddr+"/hls/live/cam/index.m3u8?from=2026-12-01T00:00:00Z&to=2026-12-01T00:01:00Z&CMCD="+
		url.QueryEscape(`bs,br=3200,d=4000,ot=v,sid="s1"`), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Rewind-CDN", "cdn-b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound { // nothing was recorded: the API's own answer
		t.Errorf("playlist of an empty store: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := benchkit.Scrape(t.Context(), "http://"+api.httpAddr+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		if m[`rewind_qos_stalls_total{cdn="cdn-b",region="other"}`] == 1 && m[`rewind_qos_watched_seconds_total{cdn="cdn-b",region="other"}`] == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CMCD was not collected for cdn-b: stalls %v, watched %v", m[`rewind_qos_stalls_total{cdn="cdn-b",region="other"}`],
				m[`rewind_qos_watched_seconds_total{cdn="cdn-b",region="other"}`])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
