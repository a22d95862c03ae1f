package origin

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/rewind-vod/rewind/media"
)

// MaxPullTagSize bounds one FLV tag read from an upstream node: the origin's
// default MaxMessageSize, so anything a node accepts from a publisher (at
// the default) can be pulled, and a corrupt size field never makes us
// allocate more.
const MaxPullTagSize = DefaultMaxMessageSize

// maxFLVHeaderSkip bounds the extra header bytes an FLV header may declare
// (DataOffset - 9); real files have none.
const maxFLVHeaderSkip = 1 << 10

// errBadFLV marks a malformed FLV stream (as opposed to one that ended).
var errBadFLV = errors.New("malformed FLV stream")

// flvReader reads an FLV stream (the body of GET /{app}/{name}.flv) into
// frames, checking every field it relies on: a stream that lies about a
// size or a back pointer ends with an errBadFLV error, never a panic or an
// unbounded allocation.
type flvReader struct {
	r       *bufio.Reader
	maxTag  int
	hdr     [11]byte
	started bool
	// Video is the header's "has video" flag, known after readHeader.
	Video bool
}

func newFLVReader(r io.Reader, maxTag int) *flvReader {
	return &flvReader{r: bufio.NewReaderSize(r, 64<<10), maxTag: maxTag}
}

func badFLV(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadFLV, fmt.Sprintf(format, args...))
}

// readHeader reads the FLV header and PreviousTagSize0.
func (fr *flvReader) readHeader() error {
	var h [9]byte
	if _, err := io.ReadFull(fr.r, h[:]); err != nil {
		return fmt.Errorf("flv header: %w", unexpected(err))
	}
	if h[0] != 'F' || h[1] != 'L' || h[2] != 'V' {
		return badFLV("no FLV signature (starts with %q)", h[:3])
	}
	if h[3] != 1 {
		return badFLV("FLV version %d, want 1", h[3])
	}
	off := binary.BigEndian.Uint32(h[5:])
	if off < 9 || off-9 > maxFLVHeaderSkip {
		return badFLV("header size %d out of range", off)
	}
	if _, err := fr.r.Discard(int(off - 9)); err != nil {
		return fmt.Errorf("flv header: %w", unexpected(err))
	}
	var prev [4]byte
	if _, err := io.ReadFull(fr.r, prev[:]); err != nil {
		return fmt.Errorf("flv header: %w", unexpected(err))
	}
	if p := binary.BigEndian.Uint32(prev[:]); p != 0 {
		return badFLV("PreviousTagSize0 is %d, want 0", p)
	}
	fr.Video = h[4]&0x01 != 0
	fr.started = true
	return nil
}

// next reads one tag. Audio and video tags become frames as they are;
// script tags become the metadata frame when they are onMetaData (what a
// publisher's @setDataFrame carried) and are skipped otherwise. It returns
// io.EOF when the stream ends cleanly between tags.
func (fr *flvReader) next() (media.Frame, error) {
	if !fr.started {
		return media.Frame{}, errors.New("flv: next before readHeader")
	}
	for {
		f, keep, err := fr.tag()
		if err != nil || keep {
			return f, err
		}
	}
}

func (fr *flvReader) tag() (f media.Frame, keep bool, err error) {
	h := fr.hdr[:]
	if n, err := io.ReadFull(fr.r, h); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return f, false, io.EOF
		}
		return f, false, fmt.Errorf("flv tag header: %w", unexpected(err))
	}
	if h[0]&0x20 != 0 {
		return f, false, badFLV("encrypted (filtered) tag")
	}
	typ := media.FrameType(h[0] & 0x1f)
	if h[0]&0xc0 != 0 || (typ != media.FrameAudio && typ != media.FrameVideo && typ != media.FrameData) {
		return f, false, badFLV("tag type %d", h[0])
	}
	size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	if size > fr.maxTag {
		return f, false, badFLV("%s tag of %d bytes, at most %d", typ, size, fr.maxTag)
	}
	if sid := int(h[8])<<16 | int(h[9])<<8 | int(h[10]); sid != 0 {
		return f, false, badFLV("stream id %d, want 0", sid)
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(fr.r, payload); err != nil {
		return f, false, fmt.Errorf("flv %s tag body: %w", typ, unexpected(err))
	}
	var prev [4]byte
	if _, err := io.ReadFull(fr.r, prev[:]); err != nil {
		return f, false, fmt.Errorf("flv previous tag size: %w", unexpected(err))
	}
	if p := binary.BigEndian.Uint32(prev[:]); p != uint32(11+size) {
		return f, false, badFLV("PreviousTagSize %d after a %d-byte tag, want %d", p, size, 11+size)
	}
	f = media.Frame{
		Type:      typ,
		Timestamp: uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]),
		Payload:   payload,
	}
	if typ == media.FrameData {
		name, _, ok := media.SplitAMF0String(payload)
		return f, ok && name == "onMetaData", nil
	}
	if typ == media.FrameVideo {
		// What a publisher would be dropped for (another codec, a bad
		// enhanced RTMP header) ends a pull as well.
		if err := media.CheckVideoTag(payload); err != nil {
			return f, false, badFLV("%v", err)
		}
	}
	return f, true, nil
}

// unexpected turns an EOF inside a structure into io.ErrUnexpectedEOF, so
// that only an EOF between tags reads as a clean end.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
