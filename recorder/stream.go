package recorder

import (
	"log/slog"
	"math"
	"os"
	"sync/atomic"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
)

// Stream records one publish (one run) into the spool. WriteFrame, Flush
// and Close are called from one goroutine; they do only local disk work.
type Stream struct {
	r         *Recorder
	stream    catalog.Stream
	run       string
	dir       string
	lock      *dirLock         // on dir, while live: tells the uploader the slicer lives
	up        *runUpload       // the in-process agent's side of the run; nil with AgentExternal
	manifest  catalog.Manifest // run.json as last written
	segTarget time.Duration    // this stream's (Config.segmentsFor)
	segMax    time.Duration
	lastCut   atomic.Int64 // unix ns of the last finished segment (or the start)
	unsynced  []segMeta    // finished segments whose rename awaits syncCut
	log       *slog.Logger

	vcfg     media.VideoConfig // H.264 or H.265, from the sequence header
	asc      *media.AudioSpecificConfig
	width    int
	height   int
	started  bool // the first segment has been opened (media decided)
	hasVideo bool
	hasAudio bool
	tw       *tsWriter

	// Timing. RTMP gives 32-bit millisecond timestamps; tl is the run's own
	// continuous timeline in ms, which absorbs the 32-bit wrap and turns
	// jumps into discontinuities instead of broken timing.
	haveTS      bool
	lastRaw     uint32
	tl          int64
	lastStep    int64 // last positive timestamp step, ms (a frame interval)
	anchorWall  int64 // wall clock (unix ms) at anchorTL
	anchorTL    int64
	pendingDisc bool

	// The segment being written; seg == nil while dropping (spool full).
	seq         uint64
	seg         *spoolSeg
	segStart    int64 // 90 kHz timeline of the first frame
	segEnd      int64 // 90 kHz end of the last frame so far
	dropping    bool
	pendingGap  bool
	lastVideoTS int64 // 90 kHz DTS of the previous video frame
	videoStep   int64 // 90 kHz, last video frame interval
	fpsFrames   int
	fpsDone     bool

	// Frames held at the start of the run while the other track's sequence
	// header may still come (see waitForTracks).
	held      []media.Frame
	heldBytes int
	holdFrom  uint32 // RTMP timestamp of the first held frame
	holdWall  int64  // wall clock (unix ms) when it arrived
	holdDone  bool
	meta      *media.Tracks // what onMetaData declared, if it came first

	buf     []byte
	warned  map[string]time.Time
	closing bool

	spoolW *spoolWriter // the spool writer, reused segment after segment
}

// The origin hands a Stream its frames in batches, at most flushEvery
// apart, and calls Flush after each (BatchDelay): what a kill -9 can take
// is then the frames received in the last flushEvery, and never more than
// spoolBuf bytes of TS (a full buffer is written out at once). A write per
// frame would bound it to the frame being written, at a write syscall and
// a goroutine wake-up per frame. spoolBuf holds a batch of up to ~5 Mbit/s
// in one write; the buffers are pooled (spoolWriter), so a stream holds
// one only while it writes a batch.
const (
	flushEvery = 100 * time.Millisecond
	spoolBuf   = 64 << 10
)

// BatchDelay is how long the origin may gather frames before it hands them
// over (then Flush): see flushEvery.
func (s *Stream) BatchDelay() time.Duration { return flushEvery }

// Flush writes the open segment's buffered TS to its file (the page
// cache; the segment is synced when finished).
func (s *Stream) Flush() {
	if s.seg == nil || s.closing {
		return
	}
	if err := s.seg.w.Flush(); err != nil {
		s.spoolFailed(err)
	}
}

// A run's tracks are fixed when it starts. Relays such as nginx-rtmp send
// each codec's sequence header just before that codec's first frame, and
// start video only at a keyframe, so the AVC header may come a GOP after the
// audio (or the AAC header after the first keyframe). The run's first
// frames are therefore held, not dropped, while a track may still come,
// and then recorded in order: up to the hard maximum segment duration for a
// track that onMetaData declares (its header comes with its first frame,
// at the latest a GOP later), trackWait when there was no metadata, and
// never beyond maxHeldBytes.
const (
	trackWait    = 1000 // ms of RTMP time
	maxHeldBytes = 8 << 20
)

// trackWaitMS says whether a track may still come and how long, in RTMP
// milliseconds from the first held frame, to wait for it.
func (s *Stream) trackWaitMS() (uint32, bool) {
	switch {
	case s.vcfg != nil && s.asc != nil:
		return 0, false
	case s.meta == nil:
		return trackWait, true
	case s.meta.Video && s.vcfg == nil, s.meta.Audio && s.asc == nil:
		return uint32(s.segMax.Milliseconds()), true
	default:
		return 0, false // the declared tracks are all here
	}
}

// waitForTracks holds f, which would start the run (startsRun) or follows a
// held frame, while a track may still come. It reports whether it took the
// frame; when it did not, the held frames (if any) went first.
func (s *Stream) waitForTracks(f media.Frame, startsRun bool) bool {
	if s.started || s.holdDone {
		return false
	}
	limit, wait := s.trackWaitMS()
	if !wait || (len(s.held) == 0 && !startsRun) {
		if len(s.held) > 0 {
			s.releaseHeld()
		}
		return false
	}
	if len(s.held) == 0 {
		s.holdFrom, s.holdWall = f.Timestamp, time.Now().UnixMilli()
	}
	s.held = append(s.held, f)
	s.heldBytes += len(f.Payload)
	if f.Timestamp-s.holdFrom >= limit || s.heldBytes >= maxHeldBytes {
		s.releaseHeld()
	}
	return true
}

// releaseHeld records the held frames: the run starts with the tracks whose
// headers are known now.
func (s *Stream) releaseHeld() {
	held := s.held
	s.held, s.heldBytes, s.holdDone = nil, 0, true
	for _, f := range held {
		s.WriteFrame(f)
	}
}

// gotHeader releases the held frames once no track is still awaited (both
// sequence headers, or all the declared ones, are known).
func (s *Stream) gotHeader() {
	if _, wait := s.trackWaitMS(); len(s.held) > 0 && !wait {
		s.releaseHeld()
	}
}

type spoolSeg struct {
	meta segMeta
	f    *os.File
	w    *spoolWriter
	size int64
}

func dirFile(dir, name string) string { return dir + string(os.PathSeparator) + name }

// warn logs at most once a minute per kind of problem: a broken publisher
// must not flood the log.
func (s *Stream) warn(kind string, args ...any) {
	if t, ok := s.warned[kind]; ok && time.Since(t) < time.Minute {
		return
	}
	s.warned[kind] = time.Now()
	s.log.Warn(kind, args...)
}

// WriteFrame muxes one FLV frame.
func (s *Stream) WriteFrame(f media.Frame) {
	if s.closing {
		return
	}
	s.r.m.bytesIngested.Add(float64(len(f.Payload)))
	switch f.Type {
	case media.FrameVideo:
		s.video(f)
	case media.FrameAudio:
		s.audio(f)
	case media.FrameData:
		if t, ok := media.ParseMetadataTracks(f.Payload); ok && !s.started {
			s.meta = &t
			s.gotHeader()
		}
	}
}

func (s *Stream) video(f media.Frame) {
	t, err := media.ParseVideoTag(f.Payload)
	if err != nil {
		s.warn("video frame ignored", "err", err)
		s.r.m.framesDropped.WithLabelValues("unsupported").Inc()
		return
	}
	switch t.PacketType {
	case media.AVCSeqHeader:
		if s.videoHeader(t) {
			s.gotHeader()
		}
		return
	case media.AVCEndOfSeq:
		return
	}
	if t.Codec == media.CodecHEVC && t.PacketType != media.AVCNALU {
		return // enhanced RTMP metadata (colorInfo): not a picture
	}
	if s.vcfg == nil || !sameCodec(s.vcfg, t.Codec) {
		s.r.m.framesDropped.WithLabelValues("no_config").Inc()
		return
	}
	if s.waitForTracks(f, t.Keyframe) {
		return
	}
	if !s.startIfReady(true, t.Keyframe) || !s.hasVideo {
		s.r.m.framesDropped.WithLabelValues("before_keyframe").Inc()
		return
	}
	dts := s.timeline(f.Timestamp) * 90
	pts := dts + int64(t.CTS)*90
	s.buf, t.Keyframe, err = s.vcfg.AnnexB(s.buf[:0], t.Data)
	if err != nil {
		s.warn("bad video frame", "err", err)
		s.r.m.framesDropped.WithLabelValues("malformed").Inc()
		return
	}
	if s.lastVideoTS != 0 && dts > s.lastVideoTS {
		s.videoStep = dts - s.lastVideoTS
	}
	s.lastVideoTS = dts
	elapsed := dts - s.segStart
	switch {
	case s.seg == nil && !s.dropping:
		s.openSegment(dts, t.Keyframe)
	case t.Keyframe && (elapsed >= s.target() || s.pendingDisc):
		s.cut(dts, true)
	case elapsed >= s.hardMax():
		s.cut(dts, false)
	}
	if s.seg == nil {
		s.r.m.framesDropped.WithLabelValues("spool").Inc()
		return
	}
	if err := s.tw.writeVideo(dts, pts, t.Keyframe, s.buf); err != nil {
		s.spoolFailed(err)
		return
	}
	if !s.fpsDone {
		s.fpsFrames++
	}
	s.segEnd = max(s.segEnd, dts+max(s.videoStep, 1))
	s.r.m.videoFrames.Inc()
}

func (s *Stream) audio(f media.Frame) {
	t, err := media.ParseAudioTag(f.Payload)
	if err != nil {
		s.warn("audio frame ignored", "err", err)
		s.r.m.framesDropped.WithLabelValues("unsupported").Inc()
		return
	}
	if t.PacketType == media.AACSeqHeader {
		c, err := media.ParseAudioSpecificConfig(t.Data)
		if err != nil {
			s.warn("bad AAC sequence header", "err", err)
			return
		}
		s.asc = &c
		s.gotHeader()
		return
	}
	if s.asc == nil {
		s.r.m.framesDropped.WithLabelValues("no_config").Inc()
		return
	}
	if len(t.Data) == 0 || len(t.Data)+7 > 0x1fff {
		s.r.m.framesDropped.WithLabelValues("malformed").Inc()
		return
	}
	if s.waitForTracks(f, true) {
		return
	}
	if !s.startIfReady(false, false) || !s.hasAudio {
		s.r.m.framesDropped.WithLabelValues("before_keyframe").Inc()
		return
	}
	pts := s.timeline(f.Timestamp) * 90
	step := int64(1024 * 90000 / s.asc.SampleRate)
	if !s.hasVideo {
		elapsed := pts - s.segStart
		switch {
		case s.seg == nil && !s.dropping:
			s.openSegment(pts, true)
		case elapsed >= s.target() || s.pendingDisc:
			s.cut(pts, true)
		}
	}
	if s.seg == nil {
		s.r.m.framesDropped.WithLabelValues("spool").Inc()
		return
	}
	s.buf = s.asc.AppendADTS(s.buf[:0], len(t.Data))
	s.buf = append(s.buf, t.Data...)
	if err := s.tw.writeAudio(pts, s.buf); err != nil {
		s.spoolFailed(err)
		return
	}
	s.segEnd = max(s.segEnd, pts+step)
	s.r.m.audioFrames.Inc()
}

// startIfReady decides, at the first media frame, which tracks the run has:
// the ones whose sequence headers came first. With video, recording starts
// at the first keyframe.
func (s *Stream) startIfReady(isVideo, key bool) bool {
	if s.started {
		return true
	}
	if s.vcfg != nil && (!isVideo || !key) {
		return false
	}
	s.hasVideo, s.hasAudio = s.vcfg != nil, s.asc != nil
	tw, err := newTSWriter(s.hasVideo, s.hasAudio, videoStreamType(s.vcfg))
	if err != nil {
		s.warn("ts writer", "err", err)
		return false
	}
	s.tw = tw
	s.started = true
	if s.hasVideo {
		s.manifest.Video = &catalog.VideoInfo{Codec: s.vcfg.CodecString(), Width: s.width, Height: s.height}
	}
	if s.hasAudio {
		s.manifest.Audio = &catalog.AudioInfo{Codec: s.asc.CodecString(), SampleRate: s.asc.SampleRate, Channels: s.asc.Channels}
	}
	s.writeManifest()
	return true
}

func (s *Stream) target() int64  { return s.segTarget.Milliseconds() * 90 }
func (s *Stream) hardMax() int64 { return s.segMax.Milliseconds() * 90 }

// timeline maps an RTMP timestamp onto the run's continuous timeline (ms).
func (s *Stream) timeline(raw uint32) int64 {
	now := time.Now().UnixMilli()
	if !s.haveTS {
		if s.holdWall != 0 {
			now = s.holdWall // held frames keep the wall clock they came at
		}
		s.haveTS = true
		s.lastRaw = raw
		s.anchorWall, s.anchorTL = now, 0
		return 0
	}
	// The signed difference of two uint32s is right across the 2^32 wrap.
	d := int64(int32(raw - s.lastRaw))
	s.lastRaw = raw
	if limit := s.r.cfg.JumpThreshold.Milliseconds(); d > limit || d < -limit {
		// Keep media time continuous (one frame on) and re-anchor the wall
		// clock: the index marks the jump, the TS timing stays sound.
		d = max(s.lastStep, 1)
		s.tl += d
		// Wall clock never goes back: a publisher running ahead of real time
		// (a burst after a stall) keeps its lead.
		s.anchorWall, s.anchorTL = max(now, s.anchorWall+(s.tl-s.anchorTL)), s.tl
		s.pendingDisc = true
		s.r.m.discontinuities.Inc()
		s.warn("timestamp jump", "raw", raw)
		return s.tl
	}
	if d > 0 {
		s.lastStep = d
	}
	s.tl += d
	return s.tl
}

// wallMS is the wall clock of a 90 kHz timeline position.
func (s *Stream) wallMS(ts90 int64) int64 {
	return s.anchorWall + (ts90/90 - s.anchorTL)
}

// cut finishes the current segment at ts90 and opens the next one there.
func (s *Stream) cut(ts90 int64, independent bool) {
	if s.seg != nil {
		s.finishSegment(ts90)
	}
	s.dropping = false
	s.openSegment(ts90, independent)
}

func (s *Stream) openSegment(ts90 int64, independent bool) {
	flags := catalog.Flags(0)
	if independent {
		flags |= catalog.FlagIndependent
	}
	if s.pendingDisc {
		flags |= catalog.FlagDiscontinuity
		s.pendingDisc = false
	}
	if s.pendingGap {
		flags |= catalog.FlagGap | catalog.FlagDiscontinuity
	}
	s.segStart, s.segEnd = ts90, ts90
	if limit := s.r.cfg.SpoolLimit; limit > 0 && s.r.spoolBytes.get() >= limit {
		s.r.m.spoolLimitHits.Inc()
		s.r.m.segmentsDropped.Inc()
		s.warn("spool full: dropping segments until it drains", "spool_bytes", s.r.spoolBytes.get(), "limit", limit)
		s.dropping, s.pendingGap = true, true
		s.syncCut()
		return
	}
	seq := s.seq + 1
	meta := segMeta{Seq: seq, StartMS: s.wallMS(ts90), FirstDTS: ts90, Flags: flags}
	base := segBase(s.dir, seq)
	err := writeJSONRenamed(base+extMeta, meta)
	// One fsync of the run directory for the whole cut: the finished
	// segment's descriptor and rename and this one's descriptor, before
	// this segment's .ts.part exists (a .ts.part never outlives a crash
	// without its descriptor).
	if serr := s.syncCut(); err == nil {
		err = serr
	}
	var f *os.File
	if err == nil {
		f, err = os.OpenFile(base+extPart, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	}
	if err != nil {
		s.r.m.segmentsDropped.Inc()
		s.warn("spool write failed: dropping segment", "err", err)
		os.Remove(base + extMeta)
		s.dropping, s.pendingGap = true, true
		return
	}
	s.seq = seq
	s.pendingGap = false
	s.dropping = false
	s.seg = &spoolSeg{meta: meta, f: f}
	cw := countingWriter{f, &s.seg.size}
	if s.spoolW == nil {
		s.spoolW = &spoolWriter{}
	}
	s.spoolW.Reset(cw) // drops what a failed segment left unwritten
	s.seg.w = s.spoolW
	s.tw.startSegment(s.seg.w)
}

type countingWriter struct {
	f *os.File
	n *int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	*c.n += int64(n)
	return n, err
}

// finishSegment makes the segment durable (flush, fsync, rename) and hands
// it to the uploader. Once renamed, the segment is the uploader's: it is
// never touched here again.
func (s *Stream) finishSegment(end90 int64) {
	seg := s.seg
	s.seg = nil
	base := segBase(s.dir, seg.meta.Seq)
	err := seg.w.Flush()
	if err == nil {
		err = seg.f.Sync()
	}
	if cerr := seg.f.Close(); err == nil {
		err = cerr
	}
	d := end90 - seg.meta.FirstDTS
	seg.meta.Duration = uint32(min(max(d, 1), math.MaxUint32))
	seg.meta.Size = uint32(seg.size)
	seg.meta.Done = true
	if err == nil {
		err = writeJSONRenamed(base+extMeta, seg.meta)
	}
	if err == nil && !s.fpsDone && s.hasVideo && d > 0 {
		// The frame rate goes into run.json before the first segment is
		// the uploader's: its live run.json is put with that segment.
		s.fpsDone = true
		if s.manifest.Video != nil {
			s.manifest.Video.FPS = math.Round(float64(s.fpsFrames)*90000/float64(d)*100) / 100
			s.writeManifest()
		}
	}
	if err == nil {
		err = os.Rename(base+extPart, base+extTS)
	}
	if err != nil {
		s.warn("spool write failed: dropping segment", "err", err)
		s.r.m.segmentsDropped.Inc()
		os.Remove(base + extPart)
		os.Remove(base + extMeta)
		s.pendingGap = true
		return
	}
	s.r.m.segments.Inc()
	s.r.spoolBytes.add(int64(seg.meta.Size))
	s.lastCut.Store(time.Now().UnixNano())
	// Renamed: the directory's fsync is left to syncCut, which the next
	// segment's start (or Close) calls, so a cut costs one.
	s.unsynced = append(s.unsynced, seg.meta)
}

// syncCut fsyncs the run directory, making the renames and descriptors
// written since the last call durable, then hands the segments finished
// since then to the uploader. It reports the sync's error (which drops no
// segment already renamed: the uploader may have it already).
func (s *Stream) syncCut() error {
	err := syncDir(s.dir)
	if err != nil {
		s.warn("spool sync failed", "err", err)
	}
	now := time.Now()
	for _, m := range s.unsynced {
		if s.up != nil {
			s.r.agent.enqueue(s.up, m, now)
		}
	}
	s.unsynced = s.unsynced[:0]
	return err
}

// spoolFailed drops the segment being written after a write error; the
// next segment carries a gap flag.
func (s *Stream) spoolFailed(err error) {
	s.warn("spool write failed: dropping segment", "err", err)
	s.r.m.segmentsDropped.Inc()
	if s.seg != nil {
		s.seg.w.Reset(nil)
		s.seg.f.Close()
		base := segBase(s.dir, s.seg.meta.Seq)
		os.Remove(base + extPart)
		os.Remove(base + extMeta)
		s.seg = nil
		s.seq-- // the number is reused: the index has no holes in seq
	}
	s.dropping, s.pendingGap = true, true
}

// Close finishes the last segment and ends the run.
func (s *Stream) Close() {
	if s.closing {
		return
	}
	if len(s.held) > 0 {
		s.releaseHeld() // a publish shorter than trackWait
	}
	s.closing = true
	if s.seg != nil {
		s.finishSegment(s.segEnd)
		s.syncCut() // before the end marker
	}
	end := time.UnixMilli(s.wallMS(s.segEnd)).UTC()
	if s.seq == 0 {
		end = time.Now().UTC()
	}
	// The end marker, after the last segment's rename; then the lock goes.
	s.manifest.State = catalog.StateEnded
	s.manifest.EndedAt = &end
	s.writeManifest()
	s.r.dropLive(s)
	s.lock.release()
	s.log.Info("publish ended", "segments", s.seq)
	if s.up != nil {
		s.r.agent.endRun(s.up)
	}
}

// writeManifest rewrites the run's run.json in the spool.
func (s *Stream) writeManifest() {
	if err := writeJSONAtomic(dirFile(s.dir, spoolManifest), s.manifest); err != nil {
		s.warn("spool manifest", "err", err)
	}
}
