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
// (fragDigest), the text's SHA-256, the text, the DEFLATE blocks and the
// zstd frame (each after a 32-bit length), and a CRC-32C of all of that.
// Fixed-width fields: every object has one encoding.
const (
	fragMagic   = "RWPF"
	fragVersion = 1
	fragHeader  = len(fragMagic) + 1 + 32 + 32
	// maxFragObject bounds a read: a chunk's 1024 lines with long CDN URIs
	// and both codings stay far below it.
	maxFragObject = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// storedFrag is a decoded object.
type storedFrag struct {
	digest, sum         [32]byte
	text, deflate, zstd []byte
}

func encodeFrag(f storedFrag) []byte {
	out := make([]byte, 0, fragHeader+12+len(f.text)+len(f.deflate)+len(f.zstd)+4)
	out = append(out, fragMagic...)
	out = append(out, fragVersion)
	out = append(out, f.digest[:]...)
	out = append(out, f.sum[:]...)
	for _, b := range [][]byte{f.text, f.deflate, f.zstd} {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(b)))
		out = append(out, b...)
	}
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

var errBadFrag = errors.New("not a stored playlist fragment")

// decodeFrag parses an object; the slices alias b.
func decodeFrag(b []byte) (storedFrag, error) {
	var f storedFrag
	if len(b) < fragHeader+12+4 || len(b) > maxFragObject || string(b[:len(fragMagic)]) != fragMagic {
		return f, errBadFrag
	}
	if v := b[len(fragMagic)]; v != fragVersion {
		return f, fmt.Errorf("%w: version %d", errBadFrag, v)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return f, fmt.Errorf("%w: checksum mismatch", errBadFrag)
	}
	copy(f.digest[:], body[len(fragMagic)+1:])
	copy(f.sum[:], body[len(fragMagic)+33:])
	rest := body[fragHeader:]
	for _, dst := range []*[]byte{&f.text, &f.deflate, &f.zstd} {
		if len(rest) < 4 {
			return f, fmt.Errorf("%w: truncated", errBadFrag)
		}
		n := binary.LittleEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return f, fmt.Errorf("%w: truncated", errBadFrag)
		}
		*dst, rest = rest[:n:n], rest[n:]
	}
	if len(rest) != 0 || len(f.text) == 0 || len(f.deflate) == 0 || len(f.zstd) == 0 {
		return f, fmt.Errorf("%w: bad lengths", errBadFrag)
	}
	return f, nil
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
// nil when there is none usable.
func (fs *fragStore) read(ctx context.Context, ff *fragForm, run string, k int, src []catalog.Entry) *part {
	key := catalog.FragmentKey(ff.st, run, uint64(k), ff.hash)
	b, err := readSized(ctx, fs.rd, key, maxFragObject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		fs.res.WithLabelValues("miss").Inc()
		return nil
	case err != nil:
		if ctx.Err() == nil {
			fs.res.WithLabelValues("read_error").Inc()
			fs.log.Warn("read a stored playlist fragment", "key", key, "err", err)
		}
		return nil
	}
	f, err := decodeFrag(b)
	if err == nil && f.digest != fragDigest(ff, run, src) {
		err = errors.New("rendered from other entries or for other URIs")
	}
	if err != nil {
		fs.res.WithLabelValues("rejected").Inc()
		fs.log.Warn("stored playlist fragment ignored", "key", key, "err", err)
		return nil
	}
	fs.res.WithLabelValues("hit").Inc()
	p := &part{text: f.text, sum: f.sum, shared: true, src: slices.Clone(src), gz: f.deflate, zst: f.zstd}
	p.gzOnce.Do(func() {})
	p.zstOnce.Do(func() {})
	return p
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
	obj := encodeFrag(storedFrag{digest: j.digest, sum: j.p.sum, text: j.p.text, deflate: j.p.deflate(), zstd: j.p.zstd()})
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
