package s3test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/store"
)

// TestStopRestart: data survives a stop; requests fail while stopped.
func TestStopRestart(t *testing.T) {
	srv := Start(t)
	ctx := context.Background()
	st := srv.Store(t)
	if err := st.Put(ctx, "k", []byte("v"), ""); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if srv.Running() {
		t.Fatal("running after Stop")
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := st.Head(short, "k"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("head while stopped: %v, want a connection error", err)
	}
	srv.Restart()
	rc, _, err := st.Get(ctx, "k", nil)
	if err != nil {
		t.Fatalf("get after restart: %v\n%s", err, srv.Logs())
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "v" {
		t.Errorf("got %q", b)
	}
}

// TestStoresAreIsolated: each Store call gets its own prefix.
func TestStoresAreIsolated(t *testing.T) {
	srv := Start(t)
	ctx := context.Background()
	a, b := srv.Store(t), srv.Store(t)
	if err := a.Put(ctx, "x", []byte("a"), ""); err != nil {
		t.Fatal(err)
	}
	res, err := b.List(ctx, "", store.ListOptions{})
	if err != nil || len(res.Objects) != 0 {
		t.Errorf("second store sees %+v (%v)", res, err)
	}
}

func TestEnv(t *testing.T) {
	srv := Start(t)
	env := srv.Env()
	for _, want := range []string{
		"AWS_ACCESS_KEY_ID=" + srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"AWS_REGION=" + srv.Region,
		"AWS_ENDPOINT_URL=" + srv.Endpoint,
	} {
		if !slices.Contains(env, want) {
			t.Errorf("Env() = %q lacks %q", env, want)
		}
	}
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Errorf("Endpoint %q", srv.Endpoint)
	}
}

func TestBinaryOverride(t *testing.T) {
	t.Setenv(EnvBinary, "/nonexistent/versitygw")
	if _, err := binary(); err == nil {
		t.Error("a missing $REWIND_VERSITYGW must be an error")
	}
	t.Setenv(EnvBinary, "")
	if p, err := binary(); err != nil || !strings.HasSuffix(p, "/.tools/bin/versitygw") {
		t.Errorf("binary() = %q, %v", p, err)
	}
}
