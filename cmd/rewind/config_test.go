package main

import (
	"bytes"
	"flag"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/origin"
	"github.com/rewind-vod/rewind/vodapi"
)

func TestFlagPrecedence(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "rewind.yaml")
	os.WriteFile(cfg, []byte("segment-duration: 6s\nspool: /from/file\nrtmp-addr: 127.0.0.1:1\npublish-secrets: [a, b]\n"), 0o644)
	t.Setenv("REWIND_SPOOL", "/from/env")
	t.Setenv("REWIND_RTMP_ADDR", "127.0.0.1:2")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f, _ := newNodeSettings(fs, "origin")
	if err := parseFlags(fs, []string{"--config", cfg, "--rtmp-addr", "127.0.0.1:3"}); err != nil {
		t.Fatal(err)
	}
	if f.Recorder.SegmentDuration != 6*time.Second {
		t.Errorf("file value not applied: %v", f.Recorder.SegmentDuration)
	}
	if f.Recorder.Spool != "/from/env" {
		t.Errorf("env should beat the file: %q", f.Recorder.Spool)
	}
	if f.Origin.Addr != "127.0.0.1:3" {
		t.Errorf("the command line should beat env: %q", f.Origin.Addr)
	}
	if strings.Join(f.Origin.Auth.Secrets, ",") != "a,b" {
		t.Errorf("YAML list: %v", f.Origin.Auth.Secrets)
	}
	if f.HTTPAddr != "127.0.0.1:8080" || f.Store != "file://./data/store" {
		t.Errorf("defaults: %q %q", f.HTTPAddr, f.Store)
	}
}

func TestConfigErrors(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "rewind.yaml")
	os.WriteFile(cfg, []byte("no-such-flag: 1\n"), 0o644)
	for name, args := range map[string][]string{
		"unknown key":  {"--config", cfg},
		"missing file": {"--config", "/nonexistent/rewind.yaml"},
		"bad duration": {"--segment-duration", "soon"},
		"stray arg":    {"extra"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		newNodeSettings(fs, "origin")
		if err := parseFlags(fs, args); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	t.Setenv("REWIND_MAX_CONNS", "many")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	newNodeSettings(fs, "origin")
	if err := parseFlags(fs, nil); err == nil || !strings.Contains(err.Error(), "REWIND_MAX_CONNS") {
		t.Errorf("bad env value: %v", err)
	}
}

func TestSignCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"sign", "--secret", "s3cret", "--stream", "live/cam", "--ttl", "1h"}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	q, err := url.ParseQuery(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := origin.VerifySignature([]string{"s3cret"}, catalog.Stream{App: "live", Name: "cam"}, q, time.Now()); err != nil {
		t.Errorf("printed query does not verify: %v (%s)", err, out.String())
	}
	if err := origin.VerifySignature([]string{"other"}, catalog.Stream{App: "live", Name: "cam"}, q, time.Now()); err == nil {
		t.Error("verifies with another secret")
	}
	out.Reset()
	if err := run(t.Context(), []string{"sign", "--play", "--secret", "s3cret", "--stream", "live/cam"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	pq, _ := url.ParseQuery(strings.TrimSpace(out.String()))
	exp, _ := strconv.ParseInt(pq.Get("exp"), 10, 64)
	if d := time.Until(time.Unix(exp, 0)); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("--play exp is %v away, want 1h", d)
	}
	if want := vodapi.SignPlayback("s3cret", catalog.Stream{App: "live", Name: "cam"}, time.Unix(exp, 0)); strings.TrimSpace(out.String()) != want {
		t.Errorf("--play printed %q, want %q", out.String(), want)
	}
	for _, args := range [][]string{
		{"sign", "--stream", "live/cam"},
		{"sign", "--secret", "x", "--stream", "live/../cam"},
		{"sign", "--secret", "x", "--stream", "live/cam", "--ttl", "-1h"},
	} {
		if err := run(t.Context(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run(t.Context(), []string{"nope"}, io.Discard, io.Discard); err == nil {
		t.Error("unknown command accepted")
	}
}
