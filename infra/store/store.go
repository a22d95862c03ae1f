// Package store is the object-store adapter: one interface, with a local
// filesystem implementation (the embedded default) and an S3 implementation.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrNotFound is returned (wrapped) by Get and Head when the key does not exist.
var ErrNotFound = errors.New("store: object not found")

// ErrInvalidKey is returned (wrapped) for a key that could escape the store
// or is otherwise not a plain relative object key.
var ErrInvalidKey = errors.New("store: invalid key")

// Info describes one stored object.
type Info struct {
	Key          string
	Size         int64
	ETag         string // quoted or bare, as the backend gives it; stable for unchanged content
	LastModified time.Time
	ContentType  string
}

// Range selects bytes [Offset, Offset+Length) of an object; Length < 0 means to the end.
type Range struct {
	Offset int64
	Length int64
}

// ListOptions narrows a List call.
type ListOptions struct {
	// Delimiter groups keys sharing the part of the key after the prefix up to
	// the first delimiter into CommonPrefixes (S3 semantics). Usually "/".
	Delimiter string
	// StartAfter lists only keys (and common prefixes) sorting after this key.
	StartAfter string
	// MaxKeys stops after this many objects + prefixes; 0 means no limit.
	MaxKeys int
}

// ListResult is what List returns, keys sorted ascending (byte order).
type ListResult struct {
	Objects        []Info
	CommonPrefixes []string // each ends with the delimiter
	Truncated      bool     // MaxKeys was reached and more exist
}

// Store is an object store. Keys are slash-separated relative paths made of
// validated parts; implementations reject anything else with ErrInvalidKey.
// Every method is safe for concurrent use.
type Store interface {
	// Put writes the whole object atomically: readers see the old object or the
	// new one, never a part. It returns only once the object is durable.
	Put(ctx context.Context, key string, data []byte, contentType string) error
	// Get opens the object, or the given byte range of it (rng may be nil).
	Get(ctx context.Context, key string, rng *Range) (io.ReadCloser, Info, error)
	// Head describes the object without reading it.
	Head(ctx context.Context, key string) (Info, error)
	// List lists the keys under prefix (a prefix, not necessarily a folder).
	List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Presigner is a store that can hand out time-limited read URLs (S3).
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// FilePutter is a Store that can store a local file without the caller
// reading it into memory: the filesystem store hard-links it into place
// (no second write of the bytes), S3 streams it.
type FilePutter interface {
	// PutFile stores the file at path under key, with Put's guarantees
	// (atomic, durable on return). The file must not change once handed
	// over: a backend may keep it as the object itself (a hard link), so
	// the caller may remove it afterwards but never write to it.
	PutFile(ctx context.Context, key, path, contentType string) error
}

// PutFile stores the file at path under key: through st's PutFile when it
// has one, else by reading the file and calling Put.
func PutFile(ctx context.Context, st Store, key, path, contentType string) error {
	if fp, ok := st.(FilePutter); ok {
		return fp.PutFile(ctx, key, path, contentType)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("put file %s: %w", key, err)
	}
	return st.Put(ctx, key, data, contentType)
}
