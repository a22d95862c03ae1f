package catalog

import (
	"fmt"
	"time"
)

// EntriesPerChunk is the fixed number of entries of a full index chunk.
// Chunks are by position: chunk k holds entries k*1024 .. k*1024+1023 of the
// run, so a 24 h run of 2 s segments takes 43 chunks.
const EntriesPerChunk = 1024

// TicksPerSecond is the clock of Entry.Duration (the MPEG-TS 90 kHz clock).
const TicksPerSecond = 90000

// Flags describe a segment.
type Flags uint8

const (
	// FlagDiscontinuity: the segment does not follow the previous one
	// (timestamps or codec parameters jump); the playlist marks it.
	FlagDiscontinuity Flags = 1 << iota
	// FlagIndependent: the segment starts with a keyframe (IDR).
	FlagIndependent
	// FlagGap: media is missing just before this segment (segments lost to a
	// full spool or a crash); the segment itself is whole and playable.
	FlagGap

	knownFlags = FlagDiscontinuity | FlagIndependent | FlagGap
)

// Has reports whether all bits of g are set in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

// Entry indexes one segment.
type Entry struct {
	Seq      uint64 // segment sequence number, strictly increasing within a run
	StartMS  int64  // wall-clock start, Unix milliseconds
	Duration uint32 // media duration in 90 kHz ticks
	Size     uint32 // bytes
	Flags    Flags
}

// Start is the wall-clock start.
func (e Entry) Start() time.Time { return time.UnixMilli(e.StartMS).UTC() }

// Dur is the media duration.
func (e Entry) Dur() time.Duration {
	return time.Duration(e.Duration) * time.Second / TicksPerSecond
}

// EndMS is the wall-clock end, start plus the media duration rounded to the
// nearest millisecond.
func (e Entry) EndMS() int64 {
	return e.StartMS + int64((uint64(e.Duration)+TicksPerSecond/2000)/(TicksPerSecond/1000))
}

// Chunk is one decoded index chunk.
type Chunk struct {
	Number  uint64
	Sealed  bool // full and never rewritten again: cacheable forever
	Entries []Entry
}

// ChunkWrite is an encoded chunk to put at IndexChunkKey(s, run, Number).
type ChunkWrite struct {
	Number uint64
	Sealed bool
	Data   []byte
}

// IndexWriter builds the index chunks of one run as segments are stored. It
// is not safe for concurrent use.
type IndexWriter struct {
	n    uint64  // entries indexed so far
	tail []Entry // entries of the current, unsealed chunk
	last Entry
}

// NewIndexWriter resumes after the entries already indexed for the run
// (e.g. from ReadIndex, which validated them); pass nil for a new run.
func NewIndexWriter(existing []Entry) *IndexWriter {
	w := &IndexWriter{n: uint64(len(existing))}
	if len(existing) > 0 {
		w.last = existing[len(existing)-1]
		start := len(existing) / EntriesPerChunk * EntriesPerChunk
		w.tail = append(make([]Entry, 0, EntriesPerChunk), existing[start:]...)
	}
	return w
}

// Len is the number of entries indexed.
func (w *IndexWriter) Len() int { return int(w.n) }

// Last is the last entry indexed, if any.
func (w *IndexWriter) Last() (Entry, bool) { return w.last, w.n > 0 }

// Append adds entries (whose segments must already be durably stored) and
// returns every chunk they touched, in order: chunks that became full,
// sealed, then the new tail chunk if it holds any entry. Put them in that
// order: a sealed chunk is never returned again, so if a Put fails, retry the
// same ChunkWrite before appending more. Append adds all entries or, on
// error, none.
func (w *IndexWriter) Append(entries ...Entry) ([]ChunkWrite, error) {
	prev, have := w.last, w.n > 0
	for i, e := range entries {
		if have && e.Seq <= prev.Seq {
			return nil, fmt.Errorf("index append: seq %d is not after %d", e.Seq, prev.Seq)
		}
		if e.Seq > MaxSeq {
			return nil, fmt.Errorf("index append: seq %d is above %d", e.Seq, MaxSeq)
		}
		if e.Flags&^knownFlags != 0 {
			return nil, fmt.Errorf("index append: entry %d has unknown flags %#x", i, uint8(e.Flags))
		}
		prev, have = e, true
	}
	if len(entries) == 0 {
		return nil, nil
	}
	if (w.n+uint64(len(entries))-1)/EntriesPerChunk > MaxChunk {
		return nil, fmt.Errorf("index append: more than %d chunks", MaxChunk+1)
	}

	var out []ChunkWrite
	emit := func(sealed bool) error {
		c := Chunk{Number: (w.n - 1) / EntriesPerChunk, Sealed: sealed, Entries: w.tail}
		data, err := EncodeChunk(c)
		if err != nil {
			return fmt.Errorf("index append: %w", err)
		}
		out = append(out, ChunkWrite{Number: c.Number, Sealed: sealed, Data: data})
		return nil
	}
	// Appending writes only past len(tail) and a sealed chunk's slice is
	// dropped, so restoring n and tail undoes a failed Append.
	n, tail := w.n, w.tail
	for _, e := range entries {
		w.tail = append(w.tail, e)
		w.n++
		if len(w.tail) == EntriesPerChunk {
			if err := emit(true); err != nil {
				w.n, w.tail = n, tail
				return nil, err
			}
			w.tail = w.tail[:0:0]
		}
	}
	if len(w.tail) > 0 {
		if err := emit(false); err != nil {
			w.n, w.tail = n, tail
			return nil, err
		}
	}
	w.last = entries[len(entries)-1]
	return out, nil
}
