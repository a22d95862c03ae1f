package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/infra/store/s3store"
)

// storeOptions complete an s3:// store URL; they are ignored for file://.
type storeOptions struct {
	Endpoint  string // S3 endpoint URL; empty means AWS_ENDPOINT_URL or AWS
	Region    string // empty means the configured region, else us-east-1
	PathStyle bool   // path-style bucket addressing (most S3-compatible servers)
}

// openStore opens the store a URL names (the backends live apart, in
// infra/store/fsstore and infra/store/s3store, so that only cmd links the
// one it is not using):
//
//	file:///abs/path     a folder, absolute
//	file://rel/path      a folder relative to the working directory
//	                     (file://./data/store is ./data/store)
//	s3://bucket/prefix   an S3 bucket, keys under an optional prefix
//
// File paths are taken literally (no %-decoding).
func openStore(ctx context.Context, storeURL string, opts storeOptions) (store.Store, error) {
	scheme, rest, ok := strings.Cut(storeURL, "://")
	if !ok {
		return nil, fmt.Errorf("store url %q: missing scheme, want file:///path, file://rel/path or s3://bucket/prefix", storeURL)
	}
	switch strings.ToLower(scheme) {
	case "file":
		dir, err := filePath(rest)
		if err != nil {
			return nil, fmt.Errorf("store url %q: %w", storeURL, err)
		}
		return fsstore.New(dir)
	case "s3":
		bucket, prefix, err := parseS3(storeURL)
		if err != nil {
			return nil, fmt.Errorf("store url %q: %w", storeURL, err)
		}
		return s3store.New(ctx, s3store.Config{
			Bucket:    bucket,
			Prefix:    prefix,
			Endpoint:  opts.Endpoint,
			Region:    opts.Region,
			PathStyle: opts.PathStyle,
		})
	default:
		return nil, fmt.Errorf("store url %q: unknown scheme %q, want file or s3", storeURL, scheme)
	}
}

// filePath turns what follows "file://" (a store or queue URL) into a
// folder: "/abs" stays absolute, anything else is relative to the working
// directory.
func filePath(rest string) (string, error) {
	if strings.ContainsAny(rest, "?#") {
		return "", fmt.Errorf("query or fragment not supported in a file url")
	}
	if rest == "" {
		return "", fmt.Errorf("empty path")
	}
	return filepath.Clean(filepath.FromSlash(rest)), nil
}

// parseS3 splits s3://bucket/prefix.
func parseS3(storeURL string) (bucket, prefix string, err error) {
	u, err := url.Parse(storeURL)
	if err != nil {
		return "", "", err
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Port() != "" {
		return "", "", fmt.Errorf("want s3://bucket/prefix, with endpoint and region given as options")
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("missing bucket")
	}
	prefix = strings.TrimPrefix(u.Path, "/")
	if prefix != "" {
		if _, err := store.NormalizePrefix(prefix); err != nil {
			return "", "", err
		}
	}
	return u.Host, prefix, nil
}
