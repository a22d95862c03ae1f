package catalog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Index chunk format, version 1 (all varints are minimal, as encoding/binary
// writes them; a decoder rejects any other form so that a chunk has exactly
// one encoding):
//
//	"RWIX" magic
//	version byte (1)
//	flags byte: bit 0 = sealed
//	chunk number        uvarint
//	entry count         uvarint (<= EntriesPerChunk; sealed means full)
//	first entry:        seq uvarint, startMS varint (zigzag), duration uvarint,
//	                    size uvarint, flags byte
//	each later entry:   seq delta uvarint (>= 1),
//	                    startMS delta from the previous start, zigzag varint,
//	                    duration delta from the previous duration, zigzag varint,
//	                    size uvarint, flags byte
//	CRC-32C (Castagnoli) of all the bytes above, 4 bytes big-endian
//
// Durations are delta coded because segments of a constant target duration
// repeat the same value: the delta takes 1-2 bytes where 2 s (180000 ticks)
// takes 3. A typical entry is 8-9 bytes.

// ErrCorruptIndex is wrapped by every error about undecodable index data.
var ErrCorruptIndex = errors.New("corrupt index chunk")

const (
	chunkMagic   = "RWIX"
	chunkVersion = 1

	chunkFlagSealed = 1

	crcLen = 4
	// minEntryLen is the smallest encoded entry: four 1-byte varints and the
	// flags byte. It bounds the entry count a chunk of a given size can claim.
	minEntryLen = 5
	// MaxChunkSize bounds an encoded chunk: header, 1024 entries of at most
	// 10+10+5+5+1 bytes, CRC, with room to spare.
	MaxChunkSize = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeChunk encodes c. It refuses what DecodeChunk would refuse: more than
// EntriesPerChunk entries, a sealed chunk that is not full, seqs not strictly
// increasing, unknown entry flags.
func EncodeChunk(c Chunk) ([]byte, error) {
	if err := checkChunk(c); err != nil {
		return nil, fmt.Errorf("encode index chunk %d: %w", c.Number, err)
	}
	b := make([]byte, 0, 32+len(c.Entries)*10)
	b = append(b, chunkMagic...)
	b = append(b, chunkVersion)
	var flags byte
	if c.Sealed {
		flags |= chunkFlagSealed
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, c.Number)
	b = binary.AppendUvarint(b, uint64(len(c.Entries)))
	for i, e := range c.Entries {
		if i == 0 {
			b = binary.AppendUvarint(b, e.Seq)
			b = binary.AppendVarint(b, e.StartMS)
			b = binary.AppendUvarint(b, uint64(e.Duration))
		} else {
			p := c.Entries[i-1]
			b = binary.AppendUvarint(b, e.Seq-p.Seq)
			b = binary.AppendVarint(b, e.StartMS-p.StartMS) // wraps; decoding wraps back
			b = binary.AppendVarint(b, int64(e.Duration)-int64(p.Duration))
		}
		b = binary.AppendUvarint(b, uint64(e.Size))
		b = append(b, byte(e.Flags))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

func checkChunk(c Chunk) error {
	if len(c.Entries) > EntriesPerChunk {
		return fmt.Errorf("%d entries, more than %d", len(c.Entries), EntriesPerChunk)
	}
	if c.Sealed && len(c.Entries) != EntriesPerChunk {
		return fmt.Errorf("sealed with %d entries, not %d", len(c.Entries), EntriesPerChunk)
	}
	for i, e := range c.Entries {
		if i > 0 && e.Seq <= c.Entries[i-1].Seq {
			return fmt.Errorf("entry %d: seq %d is not after %d", i, e.Seq, c.Entries[i-1].Seq)
		}
		if e.Flags&^knownFlags != 0 {
			return fmt.Errorf("entry %d: unknown flags %#x", i, uint8(e.Flags))
		}
	}
	return nil
}

// DecodeChunk decodes and verifies an index chunk. Any malformed input gives
// an error wrapping ErrCorruptIndex; it never panics and allocates at most in
// proportion to len(data).
func DecodeChunk(data []byte) (Chunk, error) {
	c, err := decodeChunk(data)
	if err != nil {
		return Chunk{}, fmt.Errorf("%w: %s", ErrCorruptIndex, err)
	}
	return c, nil
}

func decodeChunk(data []byte) (Chunk, error) {
	if len(data) < len(chunkMagic)+2+crcLen {
		return Chunk{}, fmt.Errorf("%d bytes is too short", len(data))
	}
	if string(data[:len(chunkMagic)]) != chunkMagic {
		return Chunk{}, errors.New("bad magic")
	}
	if v := data[len(chunkMagic)]; v != chunkVersion {
		return Chunk{}, fmt.Errorf("unknown version %d", v)
	}
	body := data[:len(data)-crcLen]
	if sum, stored := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(data[len(body):]); sum != stored {
		return Chunk{}, fmt.Errorf("bad checksum: stored %08x, computed %08x", stored, sum)
	}
	r := chunkReader{b: body, off: len(chunkMagic) + 1}
	flags := r.byte("chunk flags")
	if flags&^chunkFlagSealed != 0 {
		return Chunk{}, fmt.Errorf("unknown chunk flags %#x", flags)
	}
	c := Chunk{Sealed: flags&chunkFlagSealed != 0}
	c.Number = r.uvarint("chunk number")
	count := r.uvarint("entry count")
	if r.err != nil {
		return Chunk{}, r.err
	}
	if count > EntriesPerChunk {
		return Chunk{}, fmt.Errorf("%d entries, more than %d", count, EntriesPerChunk)
	}
	if c.Sealed && count != EntriesPerChunk {
		return Chunk{}, fmt.Errorf("sealed with %d entries, not %d", count, EntriesPerChunk)
	}
	// Check the claim against the bytes left before allocating for it.
	if rest := uint64(len(body) - r.off); count*minEntryLen > rest {
		return Chunk{}, fmt.Errorf("%d entries cannot fit in %d bytes", count, rest)
	}
	if count > 0 {
		c.Entries = make([]Entry, 0, count)
	}
	var prev Entry
	for i := uint64(0); i < count; i++ {
		var e Entry
		if i == 0 {
			e.Seq = r.uvarint("seq")
			e.StartMS = r.varint("start")
			d := r.uvarint("duration")
			if d > 1<<32-1 {
				return Chunk{}, fmt.Errorf("entry 0: duration %d overflows", d)
			}
			e.Duration = uint32(d)
		} else {
			ds := r.uvarint("seq delta")
			if r.err == nil && (ds == 0 || prev.Seq+ds < prev.Seq) {
				return Chunk{}, fmt.Errorf("entry %d: seq does not increase", i)
			}
			e.Seq = prev.Seq + ds
			e.StartMS = prev.StartMS + r.varint("start delta")
			d := int64(prev.Duration) + r.varint("duration delta")
			if d < 0 || d > 1<<32-1 {
				return Chunk{}, fmt.Errorf("entry %d: duration %d out of range", i, d)
			}
			e.Duration = uint32(d)
		}
		size := r.uvarint("size")
		if size > 1<<32-1 {
			return Chunk{}, fmt.Errorf("entry %d: size %d overflows", i, size)
		}
		e.Size = uint32(size)
		e.Flags = Flags(r.byte("entry flags"))
		if r.err != nil {
			return Chunk{}, fmt.Errorf("entry %d: %w", i, r.err)
		}
		if e.Flags&^knownFlags != 0 {
			return Chunk{}, fmt.Errorf("entry %d: unknown flags %#x", i, uint8(e.Flags))
		}
		c.Entries = append(c.Entries, e)
		prev = e
	}
	if r.off != len(body) {
		return Chunk{}, fmt.Errorf("%d trailing bytes", len(body)-r.off)
	}
	return c, nil
}

// chunkReader reads fields from b, remembering the first error so that a
// sequence of reads needs one check.
type chunkReader struct {
	b   []byte
	off int
	err error
}

func (r *chunkReader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.err = fmt.Errorf("truncated at %s", what)
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

// uvarint reads a minimal uvarint: binary.Uvarint also accepts padded forms
// (0x80 0x00 for 0), which would give one chunk several encodings.
func (r *chunkReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	switch {
	case n == 0:
		r.err = fmt.Errorf("truncated at %s", what)
		return 0
	case n < 0:
		r.err = fmt.Errorf("%s overflows 64 bits", what)
		return 0
	case n > 1 && r.b[r.off+n-1] == 0:
		r.err = fmt.Errorf("%s is not minimally encoded", what)
		return 0
	}
	r.off += n
	return v
}

// varint reads a minimal zigzag varint.
func (r *chunkReader) varint(what string) int64 {
	u := r.uvarint(what)
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}
