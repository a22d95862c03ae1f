package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/infra/store/s3store"
	"github.com/rewind-vod/rewind/internal/s3test"
)

func TestOpenStoreFile(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "abs")
	cwd := t.TempDir()
	t.Chdir(cwd)
	for url, want := range map[string]string{
		"file://" + abs:         abs,
		"file://./data/store":   filepath.Join(cwd, "data", "store"),
		"file://rel/path":       filepath.Join(cwd, "rel", "path"),
		"file://rel/../other/":  filepath.Join(cwd, "other"),
		"FILE://./data/caps":    filepath.Join(cwd, "data", "caps"),
		"file://" + abs + "/%2": abs + "/%2", // taken literally
	} {
		s, err := openStore(context.Background(), url, storeOptions{})
		if err != nil {
			t.Errorf("Open(%q): %v", url, err)
			continue
		}
		fs, ok := s.(*fsstore.FS)
		if !ok {
			t.Errorf("Open(%q) = %T, want *fsstore.FS", url, s)
			continue
		}
		if fs.Root() != want {
			t.Errorf("Open(%q) root = %q, want %q", url, fs.Root(), want)
		}
	}
}

func TestOpenS3URL(t *testing.T) {
	// No network: NewS3 only builds a client.
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	for url, want := range map[string][2]string{
		"s3://bucket":           {"bucket", ""},
		"s3://bucket/":          {"bucket", ""},
		"s3://bucket/prefix":    {"bucket", "prefix/"},
		"s3://bucket/a/b/":      {"bucket", "a/b/"},
		"s3://my.bucket-1/rec/": {"my.bucket-1", "rec/"},
	} {
		s, err := openStore(context.Background(), url, storeOptions{Region: "eu-west-1"})
		if err != nil {
			t.Errorf("Open(%q): %v", url, err)
			continue
		}
		s3, ok := s.(*s3store.S3)
		if !ok {
			t.Errorf("Open(%q) = %T, want *s3store.S3", url, s)
			continue
		}
		if s3.Bucket() != want[0] || s3.Prefix() != want[1] {
			t.Errorf("Open(%q) = bucket %q prefix %q, want %q", url, s3.Bucket(), s3.Prefix(), want)
		}
		if r := s3.Client().Options().Region; r != "eu-west-1" {
			t.Errorf("Open(%q) region %q", url, r)
		}
	}
}

func TestOpenBad(t *testing.T) {
	for url, wantMsg := range map[string]string{
		"ftp://host/x":          "unknown scheme",
		"memory://":             "unknown scheme",
		"/abs/path":             "missing scheme",
		"./data":                "missing scheme",
		"":                      "missing scheme",
		"file://":               "empty path",
		"file:///x?y=1":         "query",
		"s3://":                 "missing bucket",
		"s3:///prefix":          "missing bucket",
		"s3://bucket/../x":      "invalid key",
		"s3://bucket/a//b":      "invalid key",
		"s3://bucket/p?region=": "options",
		"s3://user@bucket/p":    "options",
	} {
		_, err := openStore(context.Background(), url, storeOptions{})
		if err == nil || !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("Open(%q) = %v, want an error about %q", url, err, wantMsg)
		}
	}
}

// TestOpenS3Live goes through the standard AWS chain (environment, with
// AWS_ENDPOINT_URL) as a subprocess given Server.Env would, and checks keys
// land under the URL's prefix.
func TestOpenS3Live(t *testing.T) {
	srv := s3test.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	s, err := openStore(context.Background(), "s3://"+srv.Bucket+"/live/pfx", storeOptions{PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "k/obj.json", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	rc, info, err := s.Get(context.Background(), "k/obj.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "{}" || info.ContentType != "application/json" {
		t.Errorf("get: %q %+v", got, info)
	}
	// The prefix of the URL is where the keys are in the bucket.
	raw, err := s3store.New(context.Background(), s3store.Config{Bucket: srv.Bucket, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := raw.List(context.Background(), "live/", store.ListOptions{})
	if err != nil || len(res.Objects) != 1 || res.Objects[0].Key != "live/pfx/k/obj.json" {
		t.Errorf("bucket under live/: %+v %v", res, err)
	}
	res, err = s.List(context.Background(), "", store.ListOptions{Delimiter: "/"})
	if err != nil || len(res.CommonPrefixes) != 1 || res.CommonPrefixes[0] != "k/" {
		t.Errorf("store root: %+v %v", res, err)
	}
}
