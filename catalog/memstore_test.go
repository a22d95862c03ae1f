package catalog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/infra/store"
)

// memStore is a map-backed store.Store for catalog's unit tests; the real
// stores are tested in infra/store.
type memStore struct {
	mu      sync.Mutex
	objs    map[string]memObj
	getErr  map[string]error // injected Get failures by key
	listErr error
	gets    int
}

type memObj struct {
	data []byte
	ct   string
	mod  time.Time
}

var _ store.Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{objs: map[string]memObj{}, getErr: map[string]error{}}
}

func (m *memStore) Put(ctx context.Context, key string, data []byte, ct string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "..") {
		return fmt.Errorf("%w: %q", store.ErrInvalidKey, key)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = memObj{data: bytes.Clone(data), ct: ct, mod: time.Now()}
	return nil
}

func (m *memStore) info(key string, o memObj) store.Info {
	return store.Info{Key: key, Size: int64(len(o.data)), ETag: fmt.Sprintf("%x", len(o.data)), LastModified: o.mod, ContentType: o.ct}
}

func (m *memStore) Get(ctx context.Context, key string, rng *store.Range) (io.ReadCloser, store.Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, store.Info{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	if err := m.getErr[key]; err != nil {
		return nil, store.Info{}, err
	}
	o, ok := m.objs[key]
	if !ok {
		return nil, store.Info{}, fmt.Errorf("%w: %s", store.ErrNotFound, key)
	}
	data := o.data
	if rng != nil {
		end := int64(len(data))
		if rng.Length >= 0 && rng.Offset+rng.Length < end {
			end = rng.Offset + rng.Length
		}
		data = data[min(rng.Offset, int64(len(data))):end]
	}
	return io.NopCloser(bytes.NewReader(data)), m.info(key, o), nil
}

func (m *memStore) Head(ctx context.Context, key string) (store.Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return store.Info{}, fmt.Errorf("%w: %s", store.ErrNotFound, key)
	}
	return m.info(key, o), nil
}

func (m *memStore) List(ctx context.Context, prefix string, opts store.ListOptions) (store.ListResult, error) {
	if err := ctx.Err(); err != nil {
		return store.ListResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.listErr != nil {
		return store.ListResult{}, m.listErr
	}
	keys := make([]string, 0, len(m.objs))
	for k := range m.objs {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var res store.ListResult
	seen := map[string]bool{}
	for _, k := range keys {
		if opts.Delimiter != "" {
			if i := strings.Index(k[len(prefix):], opts.Delimiter); i >= 0 {
				p := k[:len(prefix)+i+len(opts.Delimiter)]
				if p <= opts.StartAfter || seen[p] {
					continue
				}
				if opts.MaxKeys > 0 && len(res.Objects)+len(res.CommonPrefixes) == opts.MaxKeys {
					res.Truncated = true
					break
				}
				seen[p] = true
				res.CommonPrefixes = append(res.CommonPrefixes, p)
				continue
			}
		}
		if k <= opts.StartAfter {
			continue
		}
		if opts.MaxKeys > 0 && len(res.Objects)+len(res.CommonPrefixes) == opts.MaxKeys {
			res.Truncated = true
			break
		}
		res.Objects = append(res.Objects, m.info(k, m.objs[k]))
	}
	return res, nil
}

func (m *memStore) Delete(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

// truncStore reports every listing as truncated, to check that readers do
// not take a partial listing as complete.
type truncStore struct{ *memStore }

func (t truncStore) List(ctx context.Context, prefix string, opts store.ListOptions) (store.ListResult, error) {
	res, err := t.memStore.List(ctx, prefix, opts)
	res.Truncated = true
	return res, err
}
