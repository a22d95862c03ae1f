package fsstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rewind-vod/rewind/infra/store"

	"github.com/rewind-vod/rewind/internal/durable"
)

// tempPrefix starts the name of an object being written. The backslash makes
// it an invalid key part, so a temp file can never collide with a key and
// List skips it like any other name no key maps to.
const tempPrefix = ".tmp\\"

// putRetries bounds how often Put retries when a concurrent Delete prunes
// the directory it has just created.
const putRetries = 10

// FS is a store.Store on the local filesystem: the object KEY lives at ROOT/KEY.
//
// It stores nothing besides the bytes: Put ignores contentType and
// store.Info.ContentType is inferred from the key (store.ContentTypeFor). Unlike S3, a
// key cannot be both an object and a folder: putting "a/b" while "a" is an
// object (or the reverse) fails.
type FS struct {
	root string
}

var _ store.Store = (*FS)(nil)

// NewFS opens (creating it if needed) a filesystem store rooted at root.
func New(root string) (*FS, error) {
	if root == "" {
		return nil, errors.New("fs store: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fs store %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("fs store: %w", err)
	}
	return &FS{root: abs}, nil
}

// Root is the absolute directory holding the objects.
func (s *FS) Root() string { return s.root }

// path maps a key to its file, refusing invalid keys.
func (s *FS) path(key string) (string, error) {
	if err := store.ValidateKey(key); err != nil {
		return "", err
	}
	p := filepath.Join(s.root, filepath.FromSlash(key))
	// ValidateKey already rules out escapes; this is the belt to its braces.
	rel, err := filepath.Rel(s.root, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%w %q: outside the store root", store.ErrInvalidKey, key)
	}
	return p, nil
}

// Put writes to a temp file beside the object, syncs it, renames it over the
// object and syncs the directory, so the object is whole and durable.
func (s *FS) Put(ctx context.Context, key string, data []byte, contentType string) error {
	return s.put(ctx, key, func(dir string) (string, error) {
		f, err := createTemp(dir)
		if err != nil {
			return "", err
		}
		if err := writeDurably(f, data); err != nil {
			_ = os.Remove(f.Name())
			return "", errWritten{err}
		}
		return f.Name(), nil
	})
}

var _ store.FilePutter = (*FS)(nil)

// PutFile stores the file at path as the object by hard-linking it into
// place: the bytes are not written a second time. The object then shares
// the file's inode, which is why the caller must never write to the file
// again (removing it is fine). Across filesystems, or where links are not
// supported, the file is copied instead. Either way the object is synced
// before it is renamed into place, as with Put.
func (s *FS) PutFile(ctx context.Context, key, path, contentType string) error {
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("fs put %s: %w", key, err)
	}
	defer src.Close()
	if p, err := s.path(key); err == nil {
		// Already this file (put again after a crash before the caller
		// removed it): renaming a link over its twin would do nothing and
		// leave the temp name behind.
		a, aerr := os.Stat(p)
		b, berr := src.Stat()
		if aerr == nil && berr == nil && os.SameFile(a, b) {
			if err := durable.SyncDir(filepath.Dir(p)); err != nil {
				return fmt.Errorf("fs put %s: %w", key, err)
			}
			return nil
		}
	}
	return s.put(ctx, key, func(dir string) (string, error) {
		tmp, err := linkTemp(dir, path)
		if err == nil {
			err = syncLinked(tmp)
			if err != nil {
				_ = os.Remove(tmp)
				return "", errWritten{err}
			}
			return tmp, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return "", err // the folder was pruned: put retries
		}
		// EXDEV (another filesystem), EPERM or ENOTSUP (no hard links).
		f, err := createTemp(dir)
		if err != nil {
			return "", err
		}
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			return "", errWritten{err}
		}
		if err := copyDurably(f, src); err != nil {
			_ = os.Remove(f.Name())
			return "", errWritten{err}
		}
		return f.Name(), nil
	})
}

// errWritten marks a failure after the temp file existed: put must not
// retry it as a pruned folder.
type errWritten struct{ err error }

func (e errWritten) Error() string { return e.err.Error() }
func (e errWritten) Unwrap() error { return e.err }

// put makes the object's folder, has write fill a temp file in it (whose
// name it returns), renames that over the object and syncs the folder.
func (s *FS) put(ctx context.Context, key string, write func(dir string) (string, error)) error {
	p, err := s.path(key)
	if err != nil {
		return fmt.Errorf("fs put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs put %s: %w", key, err)
	}
	dir := filepath.Dir(p)
	var tmp string
	for attempt := 0; ; attempt++ {
		if err = s.mkdirs(dir); err == nil {
			if tmp, err = write(dir); err == nil {
				break
			}
		}
		// A concurrent Delete may have pruned a directory we just made.
		var done errWritten
		if errors.As(err, &done) || !errors.Is(err, fs.ErrNotExist) || attempt >= putRetries {
			return fmt.Errorf("fs put %s: %w", key, err)
		}
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("fs put %s: %w", key, err)
	}
	if err := durable.SyncDir(dir); err != nil {
		return fmt.Errorf("fs put %s: %w", key, err)
	}
	return nil
}

// linkTemp hard-links path to a fresh temp name in dir.
func linkTemp(dir, path string) (string, error) {
	for {
		name := tempName(dir)
		err := os.Link(path, name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			// The source gone is not a pruned folder: say which.
			if _, serr := os.Stat(path); serr != nil {
				return "", errWritten{serr}
			}
			return "", err
		}
		return name, nil
	}
}

// syncLinked stamps a linked object's mtime (its ETag) and syncs it: the
// source is normally synced already, which makes this cheap, but the
// object's durability must not depend on the caller.
func syncLinked(name string) error {
	now := time.Now()
	if err := os.Chtimes(name, now, now); err != nil {
		return err
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyDurably writes what r holds into f, stamps a nanosecond mtime (the
// ETag is derived from it, and some filesystems keep only coarse clock
// ticks otherwise), syncs and closes f.
func copyDurably(f *os.File, r io.Reader) error {
	_, err := io.Copy(f, r)
	if err == nil {
		now := time.Now()
		err = os.Chtimes(f.Name(), now, now)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeDurably is copyDurably of data.
func writeDurably(f *os.File, data []byte) error { return copyDurably(f, bytes.NewReader(data)) }

// createTemp creates a fresh temp file in dir.
func createTemp(dir string) (*os.File, error) {
	for {
		f, err := os.OpenFile(tempName(dir), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
}

// tempName is a random temp file name in dir.
func tempName(dir string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return filepath.Join(dir, tempPrefix+hex.EncodeToString(b[:]))
}

// mkdirs is MkdirAll that also syncs the parent of every directory it makes,
// so a durable object is never left in a directory that vanishes on a crash.
func (s *FS) mkdirs(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) || dir == s.root {
		return err
	}
	parent := filepath.Dir(dir)
	if err := s.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return durable.SyncDir(parent)
}

// Get opens the object; the reader holds the file open, so a concurrent
// overwrite or delete does not disturb it.
func (s *FS) Get(ctx context.Context, key string, rng *store.Range) (io.ReadCloser, store.Info, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, store.Info{}, fmt.Errorf("fs get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, store.Info{}, fmt.Errorf("fs get %s: %w", key, err)
	}
	if err := store.CheckRange(rng); err != nil {
		return nil, store.Info{}, fmt.Errorf("fs get %s: %w", key, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, store.Info{}, fsErr("get", key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist // a folder is not an object
	}
	if err != nil {
		_ = f.Close()
		return nil, store.Info{}, fsErr("get", key, err)
	}
	info := fileInfo(key, fi)
	off, n := int64(0), info.Size
	if rng != nil {
		if rng.Offset >= info.Size {
			_ = f.Close()
			return nil, store.Info{}, fmt.Errorf("fs get %s: %w: offset %d, size %d", key, store.ErrInvalidRange, rng.Offset, info.Size)
		}
		off, n = rng.Offset, info.Size-rng.Offset
		if rng.Length >= 0 && rng.Length < n {
			n = rng.Length
		}
	}
	return &fileSection{SectionReader: io.NewSectionReader(f, off, n), f: f}, info, nil
}

type fileSection struct {
	*io.SectionReader
	f *os.File
}

func (r *fileSection) Close() error { return r.f.Close() }

// Head describes the object.
func (s *FS) Head(ctx context.Context, key string) (store.Info, error) {
	p, err := s.path(key)
	if err != nil {
		return store.Info{}, fmt.Errorf("fs head: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return store.Info{}, fmt.Errorf("fs head %s: %w", key, err)
	}
	fi, err := os.Stat(p)
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return store.Info{}, fsErr("head", key, err)
	}
	return fileInfo(key, fi), nil
}

// Delete removes the object and then the folders it leaves empty, so that
// List never reports a common prefix with nothing under it.
func (s *FS) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return fmt.Errorf("fs delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fs delete %s: %w", key, err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("fs delete %s: %w", key, err)
	}
	if fi.IsDir() {
		return nil // a folder is not an object: nothing to delete
	}
	if err := os.Remove(p); err != nil && !isNotExist(err) {
		return fmt.Errorf("fs delete %s: %w", key, err)
	}
	// Best effort: a folder still in use (non-empty) simply stays.
	for dir := filepath.Dir(p); dir != s.root && strings.HasPrefix(dir, s.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// List walks only the folder the prefix points into, children in key order,
// and skips the rest of a folder once it is rolled into a common prefix or
// sorts before StartAfter.
func (s *FS) List(ctx context.Context, prefix string, opts store.ListOptions) (store.ListResult, error) {
	if err := store.ValidateList(prefix, opts); err != nil {
		return store.ListResult{}, fmt.Errorf("fs list %q: %w", prefix, err)
	}
	dirKey, rest := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dirKey, rest = prefix[:i+1], prefix[i+1:]
	}
	l := &lister{ctx: ctx, prefix: prefix, opts: opts}
	err := l.walk(dirKey, filepath.Join(s.root, filepath.FromSlash(dirKey)), rest)
	if err != nil && !errors.Is(err, errListFull) {
		return store.ListResult{}, fmt.Errorf("fs list %q: %w", prefix, err)
	}
	return l.res, nil
}

var errListFull = errors.New("list full")

type lister struct {
	ctx    context.Context
	prefix string
	opts   store.ListOptions
	skip   string // keys with this prefix are rolled into the last common prefix
	res    store.ListResult
}

type child struct {
	name    string
	sortKey string // name, plus "/" for a folder: its place in key order
	dir     bool
	ent     fs.DirEntry
}

// walk lists the folder dirPath (whose keys start with dirKey), visiting only
// children whose name starts with namePrefix.
func (l *lister) walk(dirKey, dirPath, namePrefix string) error {
	if err := l.ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(dirPath)
	if err != nil {
		if isNotExist(err) {
			return nil // no such folder (or a concurrent Delete pruned it)
		}
		return err
	}
	kids := make([]child, 0, len(ents))
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, namePrefix) || !store.ValidPart(name) {
			continue // temp files and names no key maps to
		}
		switch t := e.Type(); {
		case t.IsDir():
			kids = append(kids, child{name, name + "/", true, e})
		case t.IsRegular():
			kids = append(kids, child{name, name, false, e})
		}
	}
	// Sorting "x/" (not "x") keeps a depth-first walk in global key order:
	// "a-b" < "a/c" because '-' < '/'.
	slices.SortFunc(kids, func(a, b child) int { return strings.Compare(a.sortKey, b.sortKey) })

	after := l.opts.StartAfter
	for _, c := range kids {
		p := dirKey + c.sortKey // the key, or the folder's key prefix
		if l.skip != "" && strings.HasPrefix(p, l.skip) {
			continue
		}
		if c.dir {
			// Every key under p sorts before StartAfter, or is too long.
			if (p <= after && !strings.HasPrefix(after, p)) || len(p) >= store.MaxKeyLen {
				continue
			}
			if err := l.walk(p, filepath.Join(dirPath, c.name), ""); err != nil {
				return err
			}
			continue
		}
		if p <= after || len(p) > store.MaxKeyLen {
			continue
		}
		if err := l.add(p, c.ent); err != nil {
			return err
		}
	}
	return nil
}

// add takes one key (> StartAfter, in key order) as an object or rolls it
// into a common prefix.
func (l *lister) add(key string, ent fs.DirEntry) error {
	if d := l.opts.Delimiter; d != "" {
		if i := strings.Index(key[len(l.prefix):], d); i >= 0 {
			cp := key[:len(l.prefix)+i+len(d)]
			l.skip = cp // the rest of cp's keys follow contiguously
			if cp <= l.opts.StartAfter {
				// Like S3 (and what makes paging by the last entry work): a
				// common prefix not after StartAfter was listed already.
				return nil
			}
			if err := l.room(); err != nil {
				return err
			}
			l.res.CommonPrefixes = append(l.res.CommonPrefixes, cp)
			return nil
		}
	}
	fi, err := ent.Info()
	if err != nil || !fi.Mode().IsRegular() {
		return nil // deleted or replaced since ReadDir: not there any more
	}
	if err := l.room(); err != nil {
		return err
	}
	l.res.Objects = append(l.res.Objects, fileInfo(key, fi))
	return nil
}

// room stops the walk when MaxKeys entries are already taken.
func (l *lister) room() error {
	if m := l.opts.MaxKeys; m > 0 && len(l.res.Objects)+len(l.res.CommonPrefixes) >= m {
		l.res.Truncated = true
		return errListFull
	}
	return nil
}

func fileInfo(key string, fi fs.FileInfo) store.Info {
	mt := fi.ModTime()
	return store.Info{
		Key:          key,
		Size:         fi.Size(),
		ETag:         fmt.Sprintf("\"%x-%x\"", fi.Size(), mt.UnixNano()),
		LastModified: mt.UTC(),
		ContentType:  store.ContentTypeFor(key),
	}
}

func isNotExist(err error) bool {
	// ENOTDIR: a parent of the key is an object, so the key cannot exist.
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func fsErr(op, key string, err error) error {
	if isNotExist(err) {
		return fmt.Errorf("fs %s %s: %w", op, key, store.ErrNotFound)
	}
	return fmt.Errorf("fs %s %s: %w", op, key, err)
}
