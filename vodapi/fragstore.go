package vodapi

// Stored fragments: a shared part (a sealed chunk's playlist lines, its
// DEFLATE blocks and its zstd frame) is written beside
// the chunk once, so that a later process reads it instead of rendering and
// compressing again. See docs/design.md, "Playlist fragments".

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/vodapi/playlist"
)

// The object: magic, version, the digest of what it was rendered from
// (fragDigest), the text's SHA-256 and CRC-32, the lengths of the text,
// the DEFLATE blocks and the zstd frame; then the DEFLATE blocks, the zstd
// frame, a CRC-32C of all before it, and last the text. The compressed
// forms come first so that a gzip or zstd answer reads a short prefix (a
// chunk's text is some 56 kB, its forms 4 kB): the text is read only when
// an answer needs it, and is checked by its CRC-32 (which gzip needs
// anyway: gzipParts combines the parts' CRCs). Fixed-width fields: every
// object has one encoding.
const (
	fragMagic   = "RWPF"
	fragVersion = 2
	fragHeader  = len(fragMagic) + 1 + 32 + 32 + 4 + 3*4
	// maxFragObject bounds a read: a chunk's 1024 lines with long CDN URIs
	// and both codings stay far below it.
	maxFragObject = 4 << 20
	// fragPrefixRead is the first read of an object: the header and both
	// compressed forms of a chunk fit it (a longer prefix takes a second
	// read), and a short final chunk comes whole.
	fragPrefixRead = 16 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// storedFrag is a decoded object; text is nil when only the prefix was
// read (textLen and textCRC say what it is).
type storedFrag struct {
	digest, sum   [32]byte
	textCRC       uint32 // CRC-32 (IEEE) of the text
	textLen       int
	deflate, zstd []byte
	text          []byte
}

func encodeFrag(f storedFrag) []byte {
	out := make([]byte, 0, fragHeader+len(f.deflate)+len(f.zstd)+4+len(f.text))
	out = append(out, fragMagic...)
	out = append(out, fragVersion)
	out = append(out, f.digest[:]...)
	out = append(out, f.sum[:]...)
	out = binary.LittleEndian.AppendUint32(out, f.textCRC)
	for _, n := range []int{len(f.text), len(f.deflate), len(f.zstd)} {
		out = binary.LittleEndian.AppendUint32(out, uint32(n))
	}
	out = append(out, f.deflate...)
	out = append(out, f.zstd...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
	return append(out, f.text...)
}

var errBadFrag = errors.New("not a stored playlist fragment")

// fragPrefixLen is how many bytes of an object the header b (at least
// fragHeader bytes) says come before the text, and the object's length.
func fragPrefixLen(b []byte) (prefix, total int64, err error) {
	if len(b) < fragHeader || string(b[:len(fragMagic)]) != fragMagic {
		return 0, 0, errBadFrag
	}
	if v := b[len(fragMagic)]; v != fragVersion {
		return 0, 0, fmt.Errorf("%w: version %d", errBadFrag, v)
	}
	lens := b[fragHeader-12:]
	text := int64(binary.LittleEndian.Uint32(lens))
	prefix = int64(fragHeader) + int64(binary.LittleEndian.Uint32(lens[4:])) + int64(binary.LittleEndian.Uint32(lens[8:])) + 4
	if prefix+text > maxFragObject {
		return 0, 0, fmt.Errorf("%w: %d bytes", errBadFrag, prefix+text)
	}
	return prefix, prefix + text, nil
}

// decodeFragPrefix parses an object's first bytes, at least up to the
// text (fragPrefixLen); it takes the text too if b holds it whole, and
// refuses bytes past it. The slices alias b.
func decodeFragPrefix(b []byte) (storedFrag, error) {
	var f storedFrag
	prefix, total, err := fragPrefixLen(b)
	if err != nil {
		return f, err
	}
	if int64(len(b)) < prefix {
		return f, fmt.Errorf("%w: truncated", errBadFrag)
	}
	if int64(len(b)) > total {
		return f, fmt.Errorf("%w: %d bytes after the text", errBadFrag, int64(len(b))-total)
	}
	body := b[:prefix-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[prefix-4:]) {
		return f, fmt.Errorf("%w: checksum mismatch", errBadFrag)
	}
	o := len(fragMagic) + 1
	copy(f.digest[:], body[o:])
	copy(f.sum[:], body[o+32:])
	f.textCRC = binary.LittleEndian.Uint32(body[o+64:])
	f.textLen = int(total - prefix)
	nd := int(binary.LittleEndian.Uint32(body[o+72:]))
	rest := body[fragHeader:]
	f.deflate, f.zstd = rest[:nd:nd], rest[nd:len(rest):len(rest)]
	if f.textLen == 0 || len(f.deflate) == 0 || len(f.zstd) == 0 {
		return f, fmt.Errorf("%w: bad lengths", errBadFrag)
	}
	if int64(len(b)) == total {
		if f.text, err = checkFragText(f, b[prefix:]); err != nil {
			return storedFrag{}, err
		}
	}
	return f, nil
}

// prefixLen is how many bytes of f's object come before the text.
func (f storedFrag) prefixLen() int { return fragHeader + len(f.deflate) + len(f.zstd) + 4 }

// checkFragText is text if it is f's.
func checkFragText(f storedFrag, text []byte) ([]byte, error) {
	if len(text) != f.textLen || crc32.ChecksumIEEE(text) != f.textCRC {
		return nil, fmt.Errorf("%w: text checksum mismatch", errBadFrag)
	}
	return text[:len(text):len(text)], nil
}

// decodeFrag parses a whole object.
func decodeFrag(b []byte) (storedFrag, error) {
	f, err := decodeFragPrefix(b)
	if err == nil && f.text == nil {
		err = fmt.Errorf("%w: truncated", errBadFrag)
	}
	return f, err
}

// renderPrint fingerprints playlist.WriteSegments' output on a fixed probe,
// so objects written by a build that renders lines otherwise are never used.
var renderPrint = sync.OnceValue(func() [32]byte {
	probe := []catalog.Entry{
		{Seq: 7, StartMS: 1_796_191_200_123, Duration: 180_090, Size: 1000, Flags: catalog.FlagIndependent},
		{Seq: 8, StartMS: 1_796_191_202_124, Duration: 179_910, Size: 1000, Flags: 0},
		{Seq: 10, StartMS: 1_796_191_204_123, Duration: 180_000, Size: 1000, Flags: catalog.FlagIndependent | catalog.FlagDiscontinuity},
		{Seq: 11, StartMS: 1_796_191_207_000, Duration: 180_000, Size: 1000, Flags: catalog.FlagIndependent},
	}
	text, err := playlist.WriteSegments(nil, "20261202T060000.000Z-n1-ab12", playlist.LeadAfter, probe[0], probe[1:],
		func(run string, seq uint64) string { return fmt.Sprintf("%s/%d.ts", run, seq) })
	if err != nil {
		panic(fmt.Sprintf("vodapi: rendering the fragment probe: %v", err)) // fixed input: a bug
	}
	return sha256.Sum256(text)
})

// fragForm is what a playlist's shared parts depend on besides the run and
// its entries: the stream and the segment URI form.
type fragForm struct {
	key  string // fragment cache key prefix
	st   catalog.Stream
	dir  string // segment URI folder (playlistSpec.uriDir)
	form string // everything the URIs depend on, in full
	hash string // short hash of form: part of the object's key
}

func (s *Server) newFragForm(st catalog.Stream, dir string) *fragForm {
	form := "dir\x00" + dir
	if s.cfg.SegmentBaseURL != "" {
		form = "base\x00" + s.cfg.SegmentBaseURL
	}
	form += "\x00" + st.String()
	h := sha256.Sum256([]byte(form))
	return &fragForm{key: "frag|" + st.String() + "|" + dir, st: st, dir: dir, form: form,
		hash: hex.EncodeToString(h[:catalog.FragmentFormLen/2])}
}

// fragDigest names exactly what a fragment is rendered from: the renderer,
// the URI form, the run and the entries (the one before the lines, then
// theirs).
func fragDigest(ff *fragForm, run string, src []catalog.Entry) [32]byte {
	h := sha256.New()
	pr := renderPrint()
	// Written in batches from one small buffer: no garbage per chunk.
	var buf [4096]byte
	b := append(buf[:0], "rewind playlist fragment\x00"...)
	b = append(b, pr[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ff.form)))
	h.Write(b)
	h.Write([]byte(ff.form))
	b = binary.LittleEndian.AppendUint32(buf[:0], uint32(len(run)))
	h.Write(b)
	h.Write([]byte(run))
	b = buf[:0]
	for _, e := range src {
		if len(b)+25 > len(buf) {
			h.Write(b)
			b = buf[:0]
		}
		b = binary.LittleEndian.AppendUint64(b, e.Seq)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.StartMS))
		b = binary.LittleEndian.AppendUint32(b, e.Duration)
		b = binary.LittleEndian.AppendUint32(b, e.Size)
		b = append(b, byte(e.Flags))
	}
	h.Write(b)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// fragStore reads stored fragments and writes new ones in the background:
// one writer goroutine and a bounded queue; a fragment that finds the queue
// full is not written (a later process renders it and tries again).
type fragStore struct {
	rd  store.Store // counted, like every read of the API
	wr  store.Store // the writes are the writer's own, counted in results
	log *slog.Logger
	res *prometheus.CounterVec

	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex // orders enqueue against close
	closed  bool
	queue   chan fragJob
	pending sync.WaitGroup // queued or being written
	done    chan struct{}
}

type fragJob struct {
	key, manifest string
	digest        [32]byte
	p             *part
}

// fragQueue is how many fragments may wait for the writer: three 24 h
// windows' worth.
const fragQueue = 128

func newFragStore(rd, wr store.Store, log *slog.Logger, reg prometheus.Registerer) *fragStore {
	ctx, cancel := context.WithCancel(context.Background())
	fs := &fragStore{rd: rd, wr: wr, log: log, ctx: ctx, cancel: cancel, queue: make(chan fragJob, fragQueue), done: make(chan struct{}),
		res: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "rewind_vodapi_stored_fragments_total",
			Help: "Stored playlist fragments, by result: hit, miss (none stored), rejected (corrupt, stale or foreign: rendered again), read_error; written, write_error, dropped (queue full, closing, or the run is gone).",
		}, []string{"result"}),
	}
	go fs.run()
	return fs
}

// close stops the writer: a write under way is cancelled, queued ones are
// dropped.
func (fs *fragStore) close() {
	fs.mu.Lock()
	fs.closed = true
	fs.mu.Unlock()
	fs.cancel()
	<-fs.done
	for {
		select {
		case <-fs.queue:
			fs.res.WithLabelValues("dropped").Inc()
			fs.pending.Done()
		default:
			return
		}
	}
}

// wait waits until the queued fragments are written (tests, benchmarks).
func (fs *fragStore) wait() { fs.pending.Wait() }

// read is the stored part of src rendered with ff in chunk k of run, or
// nil when there is none usable. It reads the object's prefix (the
// compressed forms); the text is read when an answer needs it (part.load),
// and if it cannot be read or is damaged, rerender makes it and the object
// is stored again.
func (fs *fragStore) read(ctx context.Context, ff *fragForm, run string, k int, src []catalog.Entry, rerender func() (*part, error)) *part {
	key := catalog.FragmentKey(ff.st, run, uint64(k), ff.hash)
	var b []byte
	var err error
	if ctx.Value(textsKey{}) != nil {
		b, err = readSized(ctx, fs.rd, key, maxFragObject)
	} else {
		b, err = fs.readPrefix(ctx, key)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		fs.res.WithLabelValues("miss").Inc()
		return nil
	case errors.Is(err, errBadFrag) || errors.Is(err, store.ErrInvalidRange): // an empty object too
	case err != nil:
		if ctx.Err() == nil {
			fs.res.WithLabelValues("read_error").Inc()
			fs.log.Warn("read a stored playlist fragment", "key", key, "err", err)
		}
		return nil
	}
	var f storedFrag
	if err == nil {
		f, err = decodeFragPrefix(b)
	}
	if err == nil && f.digest != fragDigest(ff, run, src) {
		err = errors.New("rendered from other entries or for other URIs")
	}
	if err != nil {
		fs.res.WithLabelValues("rejected").Inc()
		fs.log.Warn("stored playlist fragment ignored", "key", key, "err", err)
		return nil
	}
	fs.res.WithLabelValues("hit").Inc()
	p := &part{text: f.text, size: f.textLen, crc: f.textCRC, sum: f.sum, shared: true, src: slices.Clone(src), gz: f.deflate, zst: f.zstd}
	p.gzOnce.Do(func() {})
	p.zstOnce.Do(func() {})
	if p.text == nil {
		// The text's first bytes may have come with the prefix (b is
		// kept anyway: the forms alias it).
		head := b[f.prefixLen():]
		p.lazy = func(ctx context.Context) ([]byte, error) {
			return fs.readText(ctx, ff, run, k, key, f, head, rerender)
		}
	}
	return p
}

// textsKey marks a request whose answer writes or compresses the texts
// (identity, or brotli alone): its stored fragments are read whole, in one
// read each rather than a prefix now and the text later.
type textsKey struct{}

func wantTexts(ctx context.Context) context.Context { return context.WithValue(ctx, textsKey{}, true) }

// needsTexts says if an answer to a client accepting codings all
// (accepted) needs the texts: unless it takes gzip or zstd, made from the
// stored forms.
func needsTexts(all []string) bool {
	return !slices.Contains(all, "gzip") && !slices.Contains(all, "zstd")
}

// readPrefix reads an object up to its text (or whole, if short).
func (fs *fragStore) readPrefix(ctx context.Context, key string) ([]byte, error) {
	b, size, err := readRange(ctx, fs.rd, key, 0, fragPrefixRead)
	if err != nil {
		return nil, err
	}
	if size > maxFragObject {
		return nil, fmt.Errorf("%w: %d bytes", errBadFrag, size)
	}
	prefix, total, err := fragPrefixLen(b)
	if err != nil {
		return nil, err
	}
	if size > 0 && size != total {
		return nil, fmt.Errorf("%w: %d bytes, its header says %d", errBadFrag, size, total)
	}
	if n := int64(len(b)); n < prefix {
		more, _, err := readRange(ctx, fs.rd, key, n, prefix-n)
		if err != nil {
			return nil, err
		}
		b = append(b, more...)
	}
	return b, nil
}

// readText is the text of a stored part (object key, prefix f): head, its
// first bytes, read with the prefix, then the rest. It is rendered again by
// rerender if it cannot be read or is damaged.
func (fs *fragStore) readText(ctx context.Context, ff *fragForm, run string, k int, key string, f storedFrag, head []byte, rerender func() (*part, error)) ([]byte, error) {
	rest, _, err := readRange(ctx, fs.rd, key, int64(f.prefixLen()+len(head)), int64(f.textLen-len(head)))
	if err == nil {
		var text []byte
		if text, err = checkFragText(f, append(append(make([]byte, 0, f.textLen), head...), rest...)); err == nil {
			return text, nil
		}
	}
	if ctx.Err() != nil {
		return nil, err
	}
	result := "rejected"
	if !errors.Is(err, errBadFrag) {
		result = "read_error"
	}
	fs.res.WithLabelValues(result).Inc()
	fs.log.Warn("the text of a stored playlist fragment: rendered again", "key", key, "err", err)
	r, err := rerender()
	if err != nil {
		return nil, err
	}
	if r.sum != f.sum {
		return nil, fmt.Errorf("playlist fragment %s: a render differs from the stored text's digest", key)
	}
	fs.write(ff, run, k, r)
	return r.text, nil
}

// write queues p, just rendered, for storing.
func (fs *fragStore) write(ff *fragForm, run string, k int, p *part) {
	j := fragJob{key: catalog.FragmentKey(ff.st, run, uint64(k), ff.hash), manifest: catalog.ManifestKey(ff.st, run),
		digest: fragDigest(ff, run, p.src), p: p}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return
	}
	fs.pending.Add(1)
	select {
	case fs.queue <- j:
	default:
		fs.pending.Done()
		fs.res.WithLabelValues("dropped").Inc()
	}
}

func (fs *fragStore) run() {
	defer close(fs.done)
	for {
		select {
		case <-fs.ctx.Done():
			return
		case j := <-fs.queue:
			fs.store(j)
			fs.pending.Done()
		}
	}
}

// store compresses and puts one fragment, unless its run is gone: a
// fragment put after a delete would outlive its run.
func (fs *fragStore) store(j fragJob) {
	obj := encodeFrag(storedFrag{digest: j.digest, sum: j.p.sum, textCRC: j.p.crc, text: j.p.text, deflate: j.p.deflate(), zstd: j.p.zstd()})
	if _, err := fs.wr.Head(fs.ctx, j.manifest); err != nil {
		fs.res.WithLabelValues("dropped").Inc()
		if !errors.Is(err, store.ErrNotFound) && fs.ctx.Err() == nil {
			fs.log.Warn("store a playlist fragment", "key", j.key, "err", err)
		}
		return
	}
	if err := fs.wr.Put(fs.ctx, j.key, obj, "application/octet-stream"); err != nil {
		if fs.ctx.Err() != nil {
			fs.res.WithLabelValues("dropped").Inc() // closing
			return
		}
		fs.res.WithLabelValues("write_error").Inc()
		fs.log.Warn("store a playlist fragment", "key", j.key, "err", err)
		return
	}
	fs.res.WithLabelValues("written").Inc()
}

// readRange reads n bytes of an object from off (fewer at its end), with
// the object's size.
func readRange(ctx context.Context, st store.Store, key string, off, n int64) ([]byte, int64, error) {
	rc, info, err := st.Get(ctx, key, &store.Range{Offset: off, Length: n})
	if err != nil {
		return nil, 0, fmt.Errorf("get %s: %w", key, err)
	}
	defer rc.Close()
	if info.Size > 0 {
		n = max(0, min(n, info.Size-off))
	}
	b := make([]byte, n)
	got, err := io.ReadFull(rc, b)
	if err == io.ErrUnexpectedEOF && info.Size <= 0 {
		err = nil // size unknown: the object ended
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get %s: %w", key, err)
	}
	return b[:got], info.Size, nil
}

// readSized reads a whole object of at most limit bytes into a buffer of
// the size the store gives: io.ReadAll's doubling would copy and allocate
// about twice as much, which a fresh process pays in page faults and GC.
func readSized(ctx context.Context, st store.Store, key string, limit int64) ([]byte, error) {
	rc, info, err := st.Get(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer rc.Close()
	if info.Size > limit {
		return nil, fmt.Errorf("get %s: object larger than %d bytes", key, limit)
	}
	if info.Size <= 0 { // size unknown
		b, err := io.ReadAll(io.LimitReader(rc, limit+1))
		if err == nil && int64(len(b)) > limit {
			err = fmt.Errorf("object larger than %d bytes", limit)
		}
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", key, err)
		}
		return b, nil
	}
	b := make([]byte, info.Size)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return b, nil
}
