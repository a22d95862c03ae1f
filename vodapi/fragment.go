package vodapi

// Playlist fragments: the lines of a sealed index chunk never change, so
// they are rendered and compressed once and shared by every playlist that
// holds the whole chunk; only the rest (header, first entry of each run,
// chunks a window cuts, the open chunk, ENDLIST) is rendered per request.
// See docs/design.md, "Playlist fragments".

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"log/slog"

	kflate "github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/rewind-vod/rewind/cache"
	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/vodapi/playlist"
)

// part is a piece of a playlist body with its compressed forms, each a
// piece of a valid stream when put after the previous parts' (see
// gzipParts, zstdParts, brotliParts). A part read from the store may come
// without its text (fragstore.go): load brings it when an answer needs it.
type part struct {
	text   []byte          // nil until loaded when lazy is set
	size   int             // of text
	crc    uint32          // CRC-32 (IEEE) of text: gzip's trailer combines them
	sum    [32]byte        // sha256 of text: the ETag is made of these
	shared bool            // a sealed chunk's fragment, from the fragment cache
	src    []catalog.Entry // shared: the entry before the chunk's lines, then the chunk's entries

	gzOnce, zstOnce sync.Once
	gz, zst         []byte

	lazy   func(context.Context) ([]byte, error) // reads the text; nil: text is set
	mu     sync.Mutex                            // one load at a time
	loaded atomic.Pointer[[]byte]                // what lazy gave
}

func newPart(text []byte, shared bool) *part {
	return &part{text: text, size: len(text), crc: crc32.ChecksumIEEE(text), sum: sha256.Sum256(text), shared: shared}
}

// body is p's text: nil if it is not loaded (see load).
func (p *part) body() []byte {
	if p.lazy == nil {
		return p.text
	}
	if t := p.loaded.Load(); t != nil {
		return *t
	}
	return nil
}

// load brings p's text in if it has not got it; a failed load is tried
// again by the next answer that needs it.
func (p *part) load(ctx context.Context) error {
	if p.lazy == nil || p.loaded.Load() != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loaded.Load() != nil {
		return nil
	}
	t, err := p.lazy(ctx)
	if err != nil {
		return err
	}
	p.loaded.Store(&t)
	return nil
}

// loadTexts loads the texts parts lack, a few at a time (each is a store
// read), before an answer that writes or compresses them in order.
func loadTexts(ctx context.Context, parts []*part) error {
	var todo []*part
	for _, p := range parts {
		if p.body() == nil && p.lazy != nil {
			todo = append(todo, p)
		}
	}
	switch len(todo) {
	case 0: // every warm answer: no group, no context
		return nil
	case 1:
		return todo[0].load(ctx)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(prefetchers)
	for _, p := range todo {
		g.Go(func() error { return p.load(gctx) })
	}
	return g.Wait()
}

// deflate is text as raw DEFLATE blocks ending with a sync flush: byte
// aligned and not final, so parts concatenate into one DEFLATE stream
// (one gzip member: every client reads it, unlike concatenated members).
// Shared parts are compressed once, the rest per request.
func (p *part) deflate() []byte {
	p.gzOnce.Do(func() {
		var buf bytes.Buffer
		buf.Grow(len(p.text)/8 + 64)
		w := partFlate.Get().(*kflate.Writer)
		w.Reset(&buf)
		_, _ = w.Write(p.text) // a bytes.Buffer does not fail
		_ = w.Flush()
		partFlate.Put(w)
		p.gz = buf.Bytes()
	})
	return p.gz
}

// zstd is text as one zstd frame; frames concatenate into a valid stream.
func (p *part) zstd() []byte {
	p.zstOnce.Do(func() {
		p.zst = zstdParts.EncodeAll(p.text, make([]byte, 0, len(p.text)/8+64))
	})
	return p.zst
}

var (
	partFlate = sync.Pool{New: func() any { w, _ := kflate.NewWriter(nil, gzipLevel); return w }}
	// SpeedDefault: on one chunk's 56 kB it compresses better than
	// SpeedBetterCompression, whose tables need more input to pay off.
	zstdParts, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
)

// fragments caches the shared parts and the brotli of sealed prefixes, and
// runs the background brotli builds (pickCoding).
type fragments struct {
	parts  *cache.Cache[*part]
	br     *cache.Cache[[]byte]
	stored *fragStore // parts stored beside the chunks (fragstore.go)

	ctx    context.Context // ends at close: a build stops between parts
	cancel context.CancelFunc
	builds sync.WaitGroup
	busy   chan struct{} // one build at a time: brotli is the costly one
}

func newFragments(budget int64, rd, wr store.Store, log *slog.Logger, reg prometheus.Registerer) (*fragments, error) {
	parts, err := cache.New[*part](cache.Config{Name: "playlist_fragments", MaxBytes: budget * 3 / 4}, reg)
	if err != nil {
		return nil, err
	}
	br, err := cache.New[[]byte](cache.Config{Name: "playlist_brotli_prefixes", MaxBytes: budget / 4}, reg)
	if err != nil {
		parts.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &fragments{parts: parts, br: br, stored: newFragStore(rd, wr, log, reg), ctx: ctx, cancel: cancel, busy: make(chan struct{}, 1)}, nil
}

func (f *fragments) close() {
	f.cancel()
	f.builds.Wait()
	f.stored.close()
	f.parts.Close()
	f.br.Close()
}

// bigBrotli is the body size above which brotli is not compressed while a
// client waits (quality 5 takes some 30-80 ms for a 24 h playlist on a shared machine).
const bigBrotli = 256 << 10

// pickCoding is the coding to answer r with: the client's best, except that
// a large playlist's brotli is not compressed while a client waits if it
// accepts another coding. It gets the next one (its own ETag; Vary covers
// the choice). When the brotli is a cached prefix and a short stored tail
// (brotliPlan) the prefix is built in the background, for the requests
// after it. Otherwise (a live playlist's open chunk, playback tokens) the
// body changes or serves one viewer: brotli is left to clients that take
// nothing else.
func (s *Server) pickCoding(key string, r *rendered, all []string) string {
	if len(all) == 0 {
		return ""
	}
	if all[0] != "br" || len(all) == 1 || r.parts == nil || r.size <= bigBrotli {
		return all[0]
	}
	if _, ok := s.playlists.Peek(key + "|" + r.etag + "|br"); ok {
		return "br"
	}
	if pkey, _, ok := brotliPlan(r.parts); ok {
		if _, hit := s.frags.br.Peek(pkey); hit {
			return "br" // the rest is copied: fast
		}
		s.buildBrotli(key, r)
	}
	return all[1]
}

// WaitBackground waits for the background brotli builds under way and the
// fragments queued for storing (for benchmarks and tests).
func (s *Server) WaitBackground() {
	s.frags.builds.Wait()
	s.frags.stored.wait()
}

// buildBrotli compresses r's brotli in the background, unless a build runs.
func (s *Server) buildBrotli(key string, r *rendered) {
	select {
	case s.frags.busy <- struct{}{}:
	default:
		return // a later request asks again
	}
	s.frags.builds.Add(1)
	go func() {
		defer s.frags.builds.Done()
		defer func() { <-s.frags.busy }()
		if _, err := s.encoded(s.frags.ctx, key, r, "br"); err != nil && s.frags.ctx.Err() == nil {
			s.log.Warn("background brotli of a playlist", "key", key, "err", err)
		}
	}()
}

// maxStoredTail bounds the text sent uncompressed after a brotli prefix:
// ENDLIST and a few segments, not an open chunk (up to 57 kB).
const maxStoredTail = 4 << 10

// brotliPlan: the brotli of parts can be a cached prefix (the text up to
// the last shared part, cached under key) and a stored tail (from part
// last+1) when some part is shared and the tail is short.
func brotliPlan(parts []*part) (key string, last int, ok bool) {
	last = -1
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i].shared {
			last = i
			break
		}
	}
	if last < 0 {
		return "", 0, false
	}
	tail := 0
	for _, p := range parts[last+1:] {
		tail += p.size
	}
	if tail > maxStoredTail {
		return "", 0, false
	}
	h := sha256.New()
	for _, p := range parts[:last+1] {
		h.Write(p.sum[:])
	}
	return hex.EncodeToString(h.Sum(nil)), last, true
}

// composer collects a playlist's parts: text rendered per request gathers
// in pending until a shared part comes.
type composer struct {
	parts   []*part
	pending []byte
}

func (c *composer) flush() {
	if len(c.pending) > 0 {
		c.parts = append(c.parts, newPart(c.pending, false))
		c.pending = nil
	}
}

func (c *composer) add(p *part) {
	c.flush()
	c.parts = append(c.parts, p)
}

// join puts parts together; their texts must be loaded (loadTexts).
func join(parts []*part) []byte {
	n := 0
	for _, p := range parts {
		n += p.size
	}
	body := make([]byte, 0, n)
	for _, p := range parts {
		body = append(body, p.body()...)
	}
	return body
}

// etag is strong: the parts' digests in order fix every byte of the body,
// and with which parts are shared, every byte of each coding.
func (c *composer) etag() string {
	h := sha256.New()
	for _, p := range c.parts {
		h.Write(p.sum[:])
		if p.shared {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{0})
		}
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:12]) + `"`
}

// writeRun appends the window entries[lo:hi] of run ri. Whole index chunks
// come from the fragment cache when shareable (sealed, or the last chunk of
// a finished run); a chunk holds entries
// [k*EntriesPerChunk, (k+1)*EntriesPerChunk) of the run, and its fragment
// is the lines of those entries after the first (whose lines depend on the
// window: it is written per request as lead); chunk 0's starts at entry 1.
func (s *Server) writeRun(ctx context.Context, c *composer, ri *runInfo, lo, hi int, lead playlist.Lead, uri func(string, uint64) string, ff *fragForm) error {
	all := ri.entries
	var err error
	if c.pending, err = playlist.WriteSegments(c.pending, ri.id, lead, catalog.Entry{}, all[lo:lo+1], uri); err != nil {
		return err
	}
	for i := lo + 1; i < hi; {
		k, cs, ce, whole := sharedSpan(ri, i, hi)
		if ff != nil && whole {
			p, err := s.fragment(ctx, ff, ri.id, k, all[cs-1:ce], uri)
			if err != nil {
				return err
			}
			c.add(p)
			i = ce
			continue
		}
		j := min(hi, ce)
		if c.pending, err = playlist.WriteSegments(c.pending, ri.id, playlist.LeadAfter, all[i-1], all[i:j], uri); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// fragment is the shared part of src[1:] following src[0], chunk k of
// run. The cached one is used only if it was rendered from the very same
// entries, so a part is always exactly what rendering would give. On a
// miss the stored one is read (checked the same way, by digest); else the
// part is rendered and queued for storing.
func (s *Server) fragment(ctx context.Context, ff *fragForm, run string, k int, src []catalog.Entry, uri func(string, uint64) string) (*part, error) {
	render := func(context.Context) (*part, int64, time.Duration, error) {
		p, err := renderFragment(run, src, uri)
		if err != nil {
			return nil, 0, 0, err
		}
		return p, partCost(p), 0, nil
	}
	// rerender runs when an answer loads a stored part's text and cannot
	// read it: later, maybe beside other renders, so with a URI function
	// of its own (one is not safe for concurrent use).
	rerender := func() (*part, error) { return renderFragment(run, src, s.segmentURI(ff.st, ff.dir, "")) }
	p, err := s.frags.parts.Get(ctx, fragCacheKey(ff, run, k), func(ctx context.Context) (*part, int64, time.Duration, error) {
		if p := s.frags.stored.read(ctx, ff, run, k, src, rerender); p != nil {
			return p, partCost(p), 0, nil
		}
		p, cost, ttl, err := render(ctx)
		if err == nil {
			s.frags.stored.write(ff, run, k, p)
		}
		return p, cost, ttl, err
	})
	if err != nil {
		return nil, err
	}
	if !slices.Equal(p.src, src) {
		p, cost, _, err := render(ctx)
		if err != nil {
			return nil, err
		}
		s.frags.parts.Set(fragCacheKey(ff, run, k), p, cost, 0)
		return p, nil
	}
	return p, nil
}

// renderFragment renders the shared part of src[1:] following src[0].
func renderFragment(run string, src []catalog.Entry, uri func(string, uint64) string) (*part, error) {
	text, err := playlist.WriteSegments(make([]byte, 0, len(src)*64), run, playlist.LeadAfter, src[0], src[1:], uri)
	if err != nil {
		return nil, err
	}
	p := newPart(text, true)
	p.src = slices.Clone(src)
	return p, nil
}

func fragCacheKey(ff *fragForm, run string, k int) string {
	return ff.key + "|" + run + "|" + strconv.Itoa(k)
}

// partCost is what a shared part holds: the text, its compressed forms
// (about a tenth of it, made later when rendered here) and its entries.
func partCost(p *part) int64 {
	return int64(p.size)*6/5 + int64(len(p.src))*32 + 256
}

// sharedSpan says how writeRun takes entry i of ri's window ending at hi:
// the whole chunk k, entries [cs, ce), as a shared part (ok), or the
// entries up to min(hi, ce) rendered per request.
func sharedSpan(ri *runInfo, i, hi int) (k, cs, ce int, ok bool) {
	const per = catalog.EntriesPerChunk
	k = i / per
	cs, ce = max(k*per, 1), (k+1)*per
	if ri.finished && ce > len(ri.entries) {
		ce = len(ri.entries) // a finished run's last chunk is final too
	}
	return k, cs, ce, i == cs && ce <= hi && (ce-k*per == per || ri.finished)
}

// prefetchParts brings the shared parts of wins that are not cached into
// the fragment cache, a few at a time: on a fresh process they are store
// reads (or renders), which writeRun would otherwise make one by one.
func (s *Server) prefetchParts(ctx context.Context, wins []window, ff *fragForm) error {
	if ff == nil {
		return nil
	}
	type job struct {
		ri        *runInfo
		k, cs, ce int
	}
	var jobs []job
	for _, w := range wins {
		for i := w.lo + 1; i < w.hi; {
			k, cs, ce, ok := sharedSpan(w.ri, i, w.hi)
			if !ok {
				i = min(w.hi, ce)
				continue
			}
			if _, hit := s.frags.parts.Peek(fragCacheKey(ff, w.ri.id, k)); !hit {
				jobs = append(jobs, job{w.ri, k, cs, ce})
			}
			i = ce
		}
	}
	if len(jobs) < 2 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(prefetchers)
	for _, j := range jobs {
		g.Go(func() error {
			uri := s.segmentURI(ff.st, ff.dir, "") // not safe for concurrent use: one each
			_, err := s.fragment(gctx, ff, j.ri.id, j.k, j.ri.entries[j.cs-1:j.ce], uri)
			return err
		})
	}
	return g.Wait()
}

// prefetchers bounds the concurrent reads of one playlist's parts (and of
// a run's index chunks): enough to hide a remote store's latency.
const prefetchers = 8

// encodeParts compresses the body of r from its parts.
func (s *Server) encodeParts(ctx context.Context, r *rendered, coding string) ([]byte, error) {
	switch coding {
	case "gzip":
		return gzipParts(r.parts), nil
	case "zstd":
		n := 0
		for _, p := range r.parts {
			n += len(p.zstd())
		}
		out := make([]byte, 0, n)
		for _, p := range r.parts {
			out = append(out, p.zstd()...)
		}
		return out, nil
	case "br":
		return s.brotliParts(ctx, r.parts)
	}
	if err := loadTexts(ctx, r.parts); err != nil {
		return nil, err
	}
	return compress(coding, join(r.parts))
}

// gzipParts is one gzip member: header, the parts' DEFLATE blocks, a final
// empty block, the CRC-32 and size of the text.
func gzipParts(parts []*part) []byte {
	n := 10 + 2 + 8
	var crc uint32
	var size int
	for _, p := range parts {
		n += len(p.deflate())
		crc = crc32Combine(crc, p.crc, int64(p.size))
		size += p.size
	}
	out := make([]byte, 0, n)
	out = append(out, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255) // deflate, no flags, no mtime, unknown OS
	for _, p := range parts {
		out = append(out, p.deflate()...)
	}
	out = append(out, 0x03, 0x00) // BFINAL, fixed Huffman, end of block
	out = binary.LittleEndian.AppendUint32(out, crc)
	return binary.LittleEndian.AppendUint32(out, uint32(size))
}

// brotliParts: brotli streams do not concatenate (the encoder's state runs
// across meta-blocks), so the text up to the last shared part (header and
// sealed chunks) is compressed as one flushed, non-final stream, cached by
// those parts' digests, and the short rest follows as uncompressed
// meta-blocks: another URL over the same prefix only copies. Otherwise
// (brotliPlan) the whole body is compressed, as one stream is smallest.
func (s *Server) brotliParts(ctx context.Context, parts []*part) ([]byte, error) {
	key, last, ok := brotliPlan(parts)
	if !ok {
		if err := loadTexts(ctx, parts); err != nil {
			return nil, err
		}
		return compress("br", join(parts))
	}
	pre, err := s.frags.br.Get(ctx, key, func(ctx context.Context) ([]byte, int64, time.Duration, error) {
		if err := loadTexts(ctx, parts[:last+1]); err != nil {
			return nil, 0, 0, err
		}
		var buf bytes.Buffer
		w := getBrotli(&buf)
		for _, p := range parts[:last+1] {
			if err := s.frags.ctx.Err(); err != nil {
				return nil, 0, 0, err // closing
			}
			if _, err := w.Write(p.body()); err != nil {
				return nil, 0, 0, fmt.Errorf("brotli: %w", err)
			}
		}
		// Flush ends on a byte boundary after a complete meta-block.
		if err := w.Flush(); err != nil {
			return nil, 0, 0, fmt.Errorf("brotli: %w", err)
		}
		putBrotli(w) // the prefix is flushed: the stream is left unfinished on purpose
		return buf.Bytes(), int64(buf.Len()) + 256, 0, nil
	})
	if err != nil {
		return nil, err
	}
	n := len(pre) + 1
	for _, p := range parts[last+1:] {
		n += p.size + (p.size/maxStored+1)*3
	}
	out := append(make([]byte, 0, n), pre...)
	for _, p := range parts[last+1:] {
		out = appendStored(out, p.body())
	}
	return append(out, 0x03), nil // ISLAST, ISLASTEMPTY
}

// maxStored is the largest uncompressed meta-block with a 4-nibble length.
const maxStored = 1 << 16

// appendStored appends text as uncompressed brotli meta-blocks (RFC 7932
// 9.2): ISLAST 0, MNIBBLES 4, MLEN-1 in 16 bits, ISUNCOMPRESSED 1, zero
// padding to the byte, then the bytes.
func appendStored(out, text []byte) []byte {
	for len(text) > 0 {
		n := min(len(text), maxStored)
		hdr := uint32(n-1)<<3 | 1<<19 // bit 0 ISLAST=0, bits 1-2 MNIBBLES-4=0
		out = append(out, byte(hdr), byte(hdr>>8), byte(hdr>>16))
		out = append(out, text[:n]...)
		text = text[n:]
	}
	return out
}
