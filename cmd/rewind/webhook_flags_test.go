package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/rewind-vod/rewind/infra/netguard"
)

// guardOrStrict is the guard vodapi and the editor end up with: nil is
// netguard.Strict (their Config defaults).
func guardOrStrict(g *netguard.Guard) *netguard.Guard {
	if g == nil {
		return netguard.Strict()
	}
	return g
}

// --webhook-allow reaches the API's submit check and the editor in dev,
// from the command line or the environment; a bad entry stops the start.
func TestWebhookAllowFlag(t *testing.T) {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	f, _ := newNodeSettings(fs, "dev")
	if err := parseFlags(fs, []string{"--webhook-allow", "10.0.0.0/8, hooks.internal"}); err != nil {
		t.Fatal(err)
	}
	for _, guard := range map[string]*netguard.Guard{"vodapi": f.Replay.WebhookGuard, "editor": f.Editor.WebhookGuard} {
		for _, u := range []string{"http://10.1.2.3/", "https://hooks.internal/x"} {
			if err := guard.CheckURL(u); err != nil {
				t.Errorf("dev guard refuses allowed %s: %v", u, err)
			}
		}
	}
	cfg := f.Replay
	for _, u := range []string{"http://10.1.2.3/", "https://hooks.internal/x"} {
		if err := cfg.WebhookGuard.CheckURL(u); err != nil {
			t.Errorf("vodapi guard refuses allowed %s: %v", u, err)
		}
	}
	if err := cfg.WebhookGuard.CheckURL("http://192.168.1.1/"); err == nil {
		t.Error("vodapi guard allows a private address the list does not name")
	}

	t.Setenv("REWIND_WEBHOOK_ALLOW", "fd00::/8")
	fs = flag.NewFlagSet("vodapi", flag.ContinueOnError)
	r, _ := newReplaySettings(fs)
	if err := parseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.API.WebhookGuard.CheckURL("http://[fd00::1]/"); err != nil {
		t.Errorf("allow-list from the environment not applied: %v", err)
	}

	// Without the flag, only public addresses.
	fs = flag.NewFlagSet("dev", flag.ContinueOnError)
	d, _ := newNodeSettings(fs, "dev")
	t.Setenv("REWIND_WEBHOOK_ALLOW", "")
	if err := parseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	if err := guardOrStrict(d.Replay.WebhookGuard).CheckURL("http://10.0.0.1/"); err == nil {
		t.Error("no allow-list, yet 10.0.0.1 is allowed")
	}

	var stderr bytes.Buffer
	err := serveEditor(context.Background(), []string{"--webhook-allow", "10.0.0.0/33", "--jobs", "file://" + t.TempDir()}, &stderr)
	if err == nil || !strings.Contains(err.Error()+stderr.String(), "webhook-allow") {
		t.Errorf("bad --webhook-allow: %v %s", err, stderr.String())
	}
}
