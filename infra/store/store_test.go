package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/s3test"
)

// backend opens a fresh, empty store for one subtest.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

// backends gives the FS store and an S3 store on one shared versitygw.
func backends(t *testing.T) []backend {
	srv := s3test.Start(t)
	return []backend{
		{"fs", func(t *testing.T) store.Store {
			s, err := fsstore.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"s3", func(t *testing.T) store.Store { return srv.Store(t) }},
	}
}

// TestConformance runs the same behaviour checks against every backend.
func TestConformance(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Range", testRange},
		{"Head", testHead},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"ListExamples", testListExamples},
		{"ListModel", testListModel},
		{"ListPaging", testListPaging},
		{"InvalidKeys", testInvalidKeys},
		{"OddValidKeys", testOddValidKeys},
		{"ConcurrentPuts", testConcurrentPuts},
		{"PutFile", testPutFile},
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.fn(t, b.open(t))
				})
			}
		})
	}
}

var ctx = context.Background()

func put(t *testing.T, s store.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(ctx, key, data, ""); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

func get(t *testing.T, s store.Store, key string, rng *store.Range) ([]byte, store.Info) {
	t.Helper()
	rc, info, err := s.Get(ctx, key, rng)
	if err != nil {
		t.Fatalf("get %q %+v: %v", key, rng, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b, info
}

func testPutGet(t *testing.T, s store.Store) {
	const key = "streams/live/cam/20261123T101500.123Z-node1-7f3a/seg/0000000001.ts"
	data := bytes.Repeat([]byte{0x47, 1, 2, 3}, 1000)
	before := time.Now().Add(-2 * time.Second) // S3 times have 1 s resolution
	if err := s.Put(ctx, key, data, "video/mp2t"); err != nil {
		t.Fatal(err)
	}
	got, info := get(t, s, key, nil)
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want %d", len(got), len(data))
	}
	if info.Key != key || info.Size != int64(len(data)) || info.ETag == "" || info.ContentType != "video/mp2t" {
		t.Errorf("info = %+v", info)
	}
	if info.LastModified.Before(before) || info.LastModified.After(time.Now().Add(2*time.Second)) {
		t.Errorf("LastModified %v not about now", info.LastModified)
	}
	// Empty objects are objects too.
	put(t, s, "empty", nil)
	if got, info := get(t, s, "empty", nil); len(got) != 0 || info.Size != 0 {
		t.Errorf("empty object: %q %+v", got, info)
	}
}

func testOverwrite(t *testing.T, s store.Store) {
	put(t, s, "k.json", []byte(`{"v":1}`))
	h1, err := s.Head(ctx, "k.json")
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "k.json", []byte(`{"v":2}`)) // same size, new content
	got, info := get(t, s, "k.json", nil)
	if string(got) != `{"v":2}` {
		t.Fatalf("got %q", got)
	}
	if info.ETag == h1.ETag {
		t.Errorf("ETag unchanged after overwrite: %s", info.ETag)
	}
	h2, err := s.Head(ctx, "k.json")
	if err != nil || h2.ETag != info.ETag {
		t.Errorf("head after overwrite: %+v %v, get etag %s", h2, err, info.ETag)
	}
}

func testRange(t *testing.T, s store.Store) {
	data := []byte("0123456789")
	put(t, s, "r", data)
	for _, c := range []struct {
		rng  store.Range
		want string
	}{
		{store.Range{Offset: 0, Length: -1}, "0123456789"},
		{store.Range{Offset: 0, Length: 1}, "0"},
		{store.Range{Offset: 2, Length: 3}, "234"},
		{store.Range{Offset: 5, Length: -1}, "56789"},
		{store.Range{Offset: 9, Length: -1}, "9"},
		{store.Range{Offset: 7, Length: 100}, "789"}, // clamped, like S3
	} {
		got, info := get(t, s, "r", &c.rng)
		if string(got) != c.want {
			t.Errorf("range %+v = %q, want %q", c.rng, got, c.want)
		}
		if info.Size != int64(len(data)) {
			t.Errorf("range %+v: Info.Size %d, want the whole size %d", c.rng, info.Size, len(data))
		}
	}
	put(t, s, "empty", nil)
	for _, c := range []struct {
		key string
		rng store.Range
	}{
		{"r", store.Range{Offset: 10, Length: -1}},
		{"r", store.Range{Offset: 11, Length: 1}},
		{"r", store.Range{Offset: -1, Length: 1}},
		{"r", store.Range{Offset: 0, Length: 0}},
		{"empty", store.Range{Offset: 0, Length: -1}},
	} {
		rc, _, err := s.Get(ctx, c.key, &c.rng)
		if err == nil {
			rc.Close()
		}
		if !errors.Is(err, store.ErrInvalidRange) {
			t.Errorf("get %s range %+v: err = %v, want ErrInvalidRange", c.key, c.rng, err)
		}
	}
}

func testHead(t *testing.T, s store.Store) {
	put(t, s, "a/run.json", []byte(`{}`))
	if err := s.Put(ctx, "a/p.m3u8", []byte("#EXTM3U\n"), "application/vnd.apple.mpegurl"); err != nil {
		t.Fatal(err)
	}
	h, err := s.Head(ctx, "a/run.json")
	if err != nil {
		t.Fatal(err)
	}
	_, g := get(t, s, "a/run.json", nil)
	if h.Key != "a/run.json" || h.Size != 2 || h.ETag != g.ETag || h.ContentType != "application/json" ||
		!h.LastModified.Equal(g.LastModified) {
		t.Errorf("head %+v, get %+v", h, g)
	}
	if h, err := s.Head(ctx, "a/p.m3u8"); err != nil || h.ContentType != "application/vnd.apple.mpegurl" {
		t.Errorf("head m3u8: %+v %v", h, err)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	put(t, s, "dir/obj", []byte("x"))
	for _, key := range []string{"nope", "dir", "dir/nope", "dir/obj/below", "nope/deeper/still"} {
		if _, err := s.Head(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("head %q: %v, want ErrNotFound", key, err)
		}
		rc, _, err := s.Get(ctx, key, nil)
		if err == nil {
			rc.Close()
		}
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get %q: %v, want ErrNotFound", key, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("delete missing %q: %v", key, err)
		}
	}
	if _, err := s.Head(ctx, "dir/obj"); err != nil {
		t.Errorf("deleting missing keys touched dir/obj: %v", err)
	}
}

func testDelete(t *testing.T, s store.Store) {
	put(t, s, "x/y/z", []byte("1"))
	put(t, s, "x/keep", []byte("2"))
	if err := s.Delete(ctx, "x/y/z"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head(ctx, "x/y/z"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("head after delete: %v", err)
	}
	// No common prefix may survive for a folder with nothing left in it.
	checkList(t, s, "x/", store.ListOptions{Delimiter: "/"}, []string{"x/keep"}, nil, false)
	if err := s.Delete(ctx, "x/keep"); err != nil {
		t.Fatal(err)
	}
	checkList(t, s, "", store.ListOptions{Delimiter: "/"}, nil, nil, false)
	// The key is usable again.
	put(t, s, "x/y/z", []byte("3"))
	if got, _ := get(t, s, "x/y/z", nil); string(got) != "3" {
		t.Errorf("got %q", got)
	}
}

// listFixture mixes folders, look-alike names ('-' sorts before '/') and
// non-ASCII keys, which S3 orders by UTF-8 bytes.
var listFixture = []string{
	"a-x",
	"a/a",
	"a/b",
	"a/c/d",
	"a/c/e",
	"ab",
	"b",
	"c/d/e",
	"streams/live/cam/r1/seg/0000000001.ts",
	"streams/live/cam/r1/seg/0000000002.ts",
	"streams/live/cam/r1/run.json",
	"streams/live/cam/r2/run.json",
	"streams/live/cam2/r1/run.json",
	"zz%2e%2e/q",
	"é/x",
	"éa",
}

func putFixture(t *testing.T, s store.Store) {
	var wg sync.WaitGroup
	for _, k := range listFixture {
		wg.Go(func() {
			if err := s.Put(ctx, k, []byte("v:"+k), ""); err != nil {
				t.Errorf("put %q: %v", k, err)
			}
		})
	}
	wg.Wait()
}

func checkList(t *testing.T, s store.Store, prefix string, o store.ListOptions, objs, cps []string, truncated bool) {
	t.Helper()
	res, err := s.List(ctx, prefix, o)
	if err != nil {
		t.Errorf("list %q %+v: %v", prefix, o, err) // not Fatal: may run in a goroutine
		return
	}
	if got := keysOf(res); !slices.Equal(got, objs) || !slices.Equal(res.CommonPrefixes, cps) || res.Truncated != truncated {
		t.Errorf("list %q %+v\n got  %q %q truncated=%v\n want %q %q truncated=%v",
			prefix, o, got, res.CommonPrefixes, res.Truncated, objs, cps, truncated)
	}
}

func keysOf(res store.ListResult) []string {
	var keys []string
	for _, o := range res.Objects {
		keys = append(keys, o.Key)
	}
	return keys
}

func testListExamples(t *testing.T, s store.Store) {
	putFixture(t, s)
	slash := store.ListOptions{Delimiter: "/"}
	checkList(t, s, "", slash, []string{"a-x", "ab", "b", "éa"}, []string{"a/", "c/", "streams/", "zz%2e%2e/", "é/"}, false)
	checkList(t, s, "a", slash, []string{"a-x", "ab"}, []string{"a/"}, false)
	checkList(t, s, "a/", slash, []string{"a/a", "a/b"}, []string{"a/c/"}, false)
	checkList(t, s, "a/", store.ListOptions{}, []string{"a/a", "a/b", "a/c/d", "a/c/e"}, nil, false)
	checkList(t, s, "streams/live/", slash, nil, []string{"streams/live/cam/", "streams/live/cam2/"}, false)
	checkList(t, s, "streams/live/cam/r1/seg/", slash,
		[]string{"streams/live/cam/r1/seg/0000000001.ts", "streams/live/cam/r1/seg/0000000002.ts"}, nil, false)
	checkList(t, s, "streams/live/cam/r1/seg/", store.ListOptions{StartAfter: "streams/live/cam/r1/seg/0000000001.ts"},
		[]string{"streams/live/cam/r1/seg/0000000002.ts"}, nil, false)
	checkList(t, s, "nothing/", slash, nil, nil, false)
	checkList(t, s, "a/b/", slash, nil, nil, false) // below an object
	checkList(t, s, "", store.ListOptions{Delimiter: "/", MaxKeys: 2}, []string{"a-x"}, []string{"a/"}, true)
	checkList(t, s, "", store.ListOptions{MaxKeys: 3}, []string{"a-x", "a/a", "a/b"}, nil, true)
	checkList(t, s, "a/", store.ListOptions{MaxKeys: 4}, []string{"a/a", "a/b", "a/c/d", "a/c/e"}, nil, false)
	// A common prefix not after StartAfter counts as listed already.
	checkList(t, s, "", store.ListOptions{Delimiter: "/", StartAfter: "a/b"}, []string{"ab", "b", "éa"},
		[]string{"c/", "streams/", "zz%2e%2e/", "é/"}, false)
	checkList(t, s, "", store.ListOptions{Delimiter: "/", StartAfter: "a"}, []string{"a-x", "ab", "b", "éa"},
		[]string{"a/", "c/", "streams/", "zz%2e%2e/", "é/"}, false)
	// Infos carry sizes and ETags.
	res, err := s.List(ctx, "b", store.ListOptions{})
	if err != nil || len(res.Objects) != 1 {
		t.Fatalf("list b: %+v %v", res, err)
	}
	h, _ := s.Head(ctx, "b")
	if o := res.Objects[0]; o.Size != int64(len("v:b")) || o.ETag != h.ETag || o.LastModified.IsZero() {
		t.Errorf("listed %+v, head %+v", o, h)
	}
}

// modelList is S3's ListObjectsV2 over a key set, by brute force.
func modelList(keys []string, prefix string, o store.ListOptions) (objs, cps []string, truncated bool) {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	n := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) || k <= o.StartAfter {
			continue
		}
		cp := ""
		if o.Delimiter != "" {
			if i := strings.Index(k[len(prefix):], o.Delimiter); i >= 0 {
				cp = k[:len(prefix)+i+len(o.Delimiter)]
				if cp <= o.StartAfter || (len(cps) > 0 && cps[len(cps)-1] == cp) {
					continue
				}
			}
		}
		if o.MaxKeys > 0 && n == o.MaxKeys {
			return objs, cps, true
		}
		n++
		if cp != "" {
			cps = append(cps, cp)
		} else {
			objs = append(objs, k)
		}
	}
	return objs, cps, false
}

func testListModel(t *testing.T, s store.Store) {
	putFixture(t, s)
	prefixes := []string{"", "a", "a/", "a/c", "a/c/", "ab", "c/", "s", "streams/live/cam", "streams/live/cam/",
		"streams/live/cam/r1/", "é", "zz%2e", "nope"}
	afters := []string{"", "a", "a/", "a/b", "a/c/d", "b", "streams/live/cam/", "streams/live/cam/r1/seg/0000000001.ts", "é"}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, prefix := range prefixes {
		for _, delim := range []string{"", "/"} {
			for _, after := range afters {
				for _, max := range []int{0, 1, 2} {
					o := store.ListOptions{Delimiter: delim, StartAfter: after, MaxKeys: max}
					objs, cps, tr := modelList(listFixture, prefix, o)
					sem <- struct{}{}
					wg.Go(func() {
						defer func() { <-sem }()
						checkList(t, s, prefix, o, objs, cps, tr)
					})
				}
			}
		}
	}
	wg.Wait()
}

// testListPaging pages with StartAfter = the last entry of the previous page,
// which must neither repeat nor lose anything.
func testListPaging(t *testing.T, s store.Store) {
	putFixture(t, s)
	for _, delim := range []string{"", "/"} {
		all, err := s.List(ctx, "", store.ListOptions{Delimiter: delim})
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Sorted(slices.Values(append(keysOf(all), all.CommonPrefixes...)))
		var got []string
		after := ""
		for page := 0; ; page++ {
			if page > len(listFixture) {
				t.Fatalf("delimiter %q: paging does not end", delim)
			}
			res, err := s.List(ctx, "", store.ListOptions{Delimiter: delim, StartAfter: after, MaxKeys: 2})
			if err != nil {
				t.Fatal(err)
			}
			entries := slices.Sorted(slices.Values(append(keysOf(res), res.CommonPrefixes...)))
			got = append(got, entries...)
			if !res.Truncated {
				break
			}
			after = entries[len(entries)-1]
		}
		if !slices.Equal(got, want) {
			t.Errorf("delimiter %q: pages %q, want %q", delim, got, want)
		}
	}
}

func testInvalidKeys(t *testing.T, s store.Store) {
	bad := []string{
		"", "/abs", "a/", "a//b", "../x", "a/../b", "..", ".", "a/./b", "a/..",
		"a\\b", "a\x00b", "a\x1fb", "a\nb", "a\x7fb", "a\u0085b", "\xff\xfe", strings.Repeat("k", 1025),
	}
	for _, key := range bad {
		errs := map[string]error{"put": s.Put(ctx, key, []byte("x"), ""), "delete": s.Delete(ctx, key)}
		_, errs["head"] = s.Head(ctx, key)
		var rc io.ReadCloser
		rc, _, errs["get"] = s.Get(ctx, key, nil)
		if rc != nil {
			rc.Close()
		}
		for op, err := range errs {
			if !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("%s %q: err = %v, want ErrInvalidKey", op, key, err)
			}
		}
		if store.ValidateKey(key) == nil {
			t.Errorf("ValidateKey(%q) = nil", key)
		}
	}
	for _, prefix := range []string{"/", "/a", "a//", "a//b", "../", "a/../", "./", "a\\", "a\x00", "\xff"} {
		if _, err := s.List(ctx, prefix, store.ListOptions{}); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("list %q: err = %v, want ErrInvalidKey", prefix, err)
		}
	}
	if _, err := s.List(ctx, "", store.ListOptions{StartAfter: "\xff"}); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("list StartAfter \\xff: err = %v", err)
	}
	// Partial last parts are fine in a prefix: "a/." may match "a/.hidden".
	for _, prefix := range []string{"", "a", "a/", "a/.", "a/..", "a/b/."} {
		if _, err := s.List(ctx, prefix, store.ListOptions{Delimiter: "/"}); err != nil {
			t.Errorf("list %q: %v", prefix, err)
		}
	}
}

func testOddValidKeys(t *testing.T, s store.Store) {
	long := strings.Repeat(strings.Repeat("l", 200)+"/", 4) + "end" // 807 bytes, parts within NAME_MAX
	keys := []string{"%2e%2e/x", "..x", ".hidden", "a.", "a b/c+d&e=f", "ü/ß€", "~tilde", "a:b@c", long}
	for _, key := range keys {
		if err := store.ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q): %v", key, err)
		}
		put(t, s, key, []byte(key))
		if got, info := get(t, s, key, nil); string(got) != key || info.Key != key {
			t.Errorf("get %q: %q %+v", key, got, info)
		}
	}
	objs, _, _ := modelList(keys, "", store.ListOptions{})
	checkList(t, s, "", store.ListOptions{}, objs, nil, false)
	checkList(t, s, "%2e%2e/", store.ListOptions{}, []string{"%2e%2e/x"}, nil, false)
	checkList(t, s, ".", store.ListOptions{}, []string{"..x", ".hidden"}, nil, false)
}

// testConcurrentPuts overwrites one key from several goroutines while others
// read it: every read must be one whole version (each version is a single
// repeated byte), never a mix or a short object.
func testConcurrentPuts(t *testing.T, s store.Store) {
	const (
		key     = "race/obj.ts"
		size    = 64 << 10
		writers = 4
		puts    = 8
	)
	put(t, s, key, bytes.Repeat([]byte{0xff}, size))
	stop := make(chan struct{})
	errc := make(chan error, 64)
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var rng *store.Range
				if r%2 == 1 {
					rng = &store.Range{Offset: size / 2, Length: -1}
				}
				rc, _, err := s.Get(ctx, key, rng)
				if err != nil {
					errc <- err
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err == nil {
					err = uniform(b, size-int(rngOffset(rng)))
				}
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Go(func() {
			for i := range puts {
				if err := s.Put(ctx, key, bytes.Repeat([]byte{byte(w*puts + i)}, size), ""); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	writersWG.Wait()
	close(stop)
	readers.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	got, _ := get(t, s, key, nil)
	if err := uniform(got, size); err != nil {
		t.Errorf("final read: %v", err)
	}
}

func rngOffset(r *store.Range) int64 {
	if r == nil {
		return 0
	}
	return r.Offset
}

func uniform(b []byte, size int) error {
	if len(b) != size {
		return fmt.Errorf("torn read: %d bytes, want %d", len(b), size)
	}
	for i := range b {
		if b[i] != b[0] {
			return fmt.Errorf("torn read: byte %d is %#x, byte 0 is %#x", i, b[i], b[0])
		}
	}
	return nil
}

// testPutFile stores local files, through the backend's own PutFile: the
// object is the file's bytes, an overwrite replaces it, removing the
// source afterwards leaves the object whole, and a missing source or an
// invalid key is an error that stores nothing.
func testPutFile(t *testing.T, s store.Store) {
	if _, ok := s.(store.FilePutter); !ok {
		t.Fatalf("%T has no PutFile", s)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "0000000001.ts")
	data := bytes.Repeat([]byte{0x47, 1, 2, 3}, 5000)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	const key = "streams/live/cam/RUN/seg/0000000001.ts"
	if err := store.PutFile(ctx, s, key, src, "video/mp2t"); err != nil {
		t.Fatal(err)
	}
	got, info := get(t, s, key, nil)
	if !bytes.Equal(got, data) || info.Size != int64(len(data)) || info.ContentType != "video/mp2t" {
		t.Fatalf("got %d bytes, info %+v; want %d bytes", len(got), info, len(data))
	}
	src2 := filepath.Join(dir, "other.ts")
	if err := os.WriteFile(src2, []byte("second"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := store.PutFile(ctx, s, key, src2, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(src2); err != nil {
		t.Fatal(err)
	}
	if got, info2 := get(t, s, key, nil); string(got) != "second" || info2.ETag == info.ETag {
		t.Errorf("after overwrite and removing the source: %q %+v", got, info2)
	}
	if err := store.PutFile(ctx, s, "missing.ts", filepath.Join(dir, "nope.ts"), ""); err == nil {
		t.Error("a missing source was stored")
	}
	if _, err := s.Head(ctx, "missing.ts"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("head after a failed PutFile: %v", err)
	}
	if err := store.PutFile(ctx, s, "../escape.ts", src, ""); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("invalid key: %v", err)
	}
}
