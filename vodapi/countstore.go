package vodapi

import (
	"context"
	"io"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/infra/store"
)

// countingStore counts the store requests the API makes: the caches are
// judged by it (a warm hit must make none).
type countingStore struct {
	store.Store
	reqs *prometheus.CounterVec
}

func (c countingStore) Get(ctx context.Context, key string, rng *store.Range) (io.ReadCloser, store.Info, error) {
	c.reqs.WithLabelValues("get").Inc()
	return c.Store.Get(ctx, key, rng)
}

func (c countingStore) Head(ctx context.Context, key string) (store.Info, error) {
	c.reqs.WithLabelValues("head").Inc()
	return c.Store.Head(ctx, key)
}

func (c countingStore) List(ctx context.Context, prefix string, opts store.ListOptions) (store.ListResult, error) {
	c.reqs.WithLabelValues("list").Inc()
	return c.Store.List(ctx, prefix, opts)
}
