package recorder

import (
	"errors"
	"fmt"
	"io"
	"os"
)

const tsPacketSize = 188

// tsSpan is the time span of the PES packets found in a TS file.
type tsSpan struct {
	first, end int64 // 90 kHz, with the TS offset; end includes one frame
	packets    int
	pes        int
	lastPES    int64 // byte offset of the last PES start
}

// scanTS reads the PTS of every PES start in whole 188-byte packets and
// estimates where the media ends (last PTS plus one frame interval).
func scanTS(r io.Reader) (tsSpan, error) {
	var span tsSpan
	type track struct {
		first, last, prev int64
		n                 int
	}
	tracks := map[uint16]*track{}
	buf := make([]byte, tsPacketSize)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return span, fmt.Errorf("ts scan: %w", err)
		}
		span.packets++
		if buf[0] != 0x47 {
			return span, fmt.Errorf("ts scan: lost sync at packet %d", span.packets)
		}
		pusi := buf[1]&0x40 != 0
		pid := uint16(buf[1]&0x1f)<<8 | uint16(buf[2])
		if !pusi || pid == 0 || pid == 0x1000 {
			continue
		}
		p := buf[4:]
		if buf[3]&0x20 != 0 { // adaptation field
			if len(p) < 1 || int(p[0])+1 > len(p) {
				continue
			}
			p = p[int(p[0])+1:]
		}
		pts, ok := pesDTS(p)
		if !ok {
			continue
		}
		span.pes++
		span.lastPES = int64(span.packets-1) * tsPacketSize
		t := tracks[pid]
		if t == nil {
			t = &track{first: pts, last: pts}
			tracks[pid] = t
		}
		t.first = min(t.first, pts)
		t.last = max(t.last, pts)
		t.n++
	}
	if len(tracks) == 0 {
		return span, nil
	}
	first := true
	for _, t := range tracks {
		step := int64(0)
		if t.n > 1 {
			step = (t.last - t.first) / int64(t.n-1)
		}
		if first || t.first < span.first {
			span.first = t.first
		}
		if first || t.last+step > span.end {
			span.end = t.last + step
		}
		first = false
	}
	return span, nil
}

// pesDTS reads the decode time of a PES header: its DTS, else its PTS.
// Decode order is what a torn file keeps, and the recorder cuts and times
// segments on DTS too.
func pesDTS(p []byte) (int64, bool) {
	if len(p) < 14 || p[0] != 0 || p[1] != 0 || p[2] != 1 {
		return 0, false
	}
	flags := p[7] >> 6 // PTS_DTS_flags
	if flags&2 == 0 {
		return 0, false
	}
	b := p[9:14]
	if flags == 3 && len(p) >= 19 {
		b = p[14:19]
	}
	ts := int64(b[0]>>1&0x07)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 | int64(b[3])<<7 | int64(b[4]>>1)
	return ts, true
}

// repairTorn cuts a segment that was being written when the process died
// back to its last whole access unit and returns its new size and media
// span (see tornCut).
func repairTorn(path string) (int64, tsSpan, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, tsSpan{}, fmt.Errorf("repair %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, tsSpan{}, fmt.Errorf("repair %s: %w", path, err)
	}
	size, span, err := tornCut(f, st.Size())
	if err != nil {
		return 0, tsSpan{}, fmt.Errorf("repair %s: %w", path, err)
	}
	if size != st.Size() {
		if err := f.Truncate(size); err != nil {
			return 0, tsSpan{}, fmt.Errorf("repair %s: truncate: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		return 0, tsSpan{}, fmt.Errorf("repair %s: sync: %w", path, err)
	}
	return size, span, nil
}

// tornCut decides where a torn segment of size bytes ends: our muxer writes
// each PES contiguously, so only the last PES of the file can be torn, and
// the cut drops it, losing at most one frame. It returns the size to keep
// and the media span of what is kept.
func tornCut(r io.ReaderAt, size int64) (int64, tsSpan, error) {
	whole := size / tsPacketSize * tsPacketSize
	span, err := scanTS(io.NewSectionReader(r, 0, whole))
	if err != nil {
		return 0, tsSpan{}, err
	}
	keep := span.lastPES
	span, err = scanTS(io.NewSectionReader(r, 0, keep))
	if err != nil {
		return 0, tsSpan{}, err
	}
	return keep, span, nil
}
