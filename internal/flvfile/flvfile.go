// Package flvfile reads FLV files tag by tag, as the RTMP publisher sent
// them: used by tests and the load generator to replay pre-encoded media.
package flvfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Tag is one FLV tag: its type (8 audio, 9 video, 18 script), timestamp in
// ms and body.
type Tag struct {
	Type      uint8
	Timestamp uint32
	Body      []byte
}

// Reader reads tags from an FLV file.
type Reader struct {
	r *bufio.Reader
}

// NewReader checks the FLV header and returns a reader positioned at the first tag.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var h [9]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, fmt.Errorf("flv: header: %w", err)
	}
	if string(h[:3]) != "FLV" {
		return nil, errors.New("flv: not an FLV file")
	}
	off := binary.BigEndian.Uint32(h[5:])
	if off < 9 || off > 1024 {
		return nil, fmt.Errorf("flv: bad header size %d", off)
	}
	if _, err := br.Discard(int(off-9) + 4); err != nil { // rest of header + PreviousTagSize0
		return nil, fmt.Errorf("flv: header: %w", err)
	}
	return &Reader{r: br}, nil
}

// Next returns the next tag, or io.EOF at the end.
func (r *Reader) Next() (Tag, error) {
	var h [11]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Tag{}, fmt.Errorf("flv: truncated tag header: %w", err)
		}
		return Tag{}, err
	}
	size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	ts := uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
	body := make([]byte, size)
	if _, err := io.ReadFull(r.r, body); err != nil {
		return Tag{}, fmt.Errorf("flv: truncated tag body: %w", err)
	}
	if _, err := r.r.Discard(4); err != nil && !errors.Is(err, io.EOF) {
		return Tag{}, fmt.Errorf("flv: previous tag size: %w", err)
	}
	return Tag{Type: h[0] & 0x1f, Timestamp: ts, Body: body}, nil
}

// ReadAll reads every tag of an FLV stream.
func ReadAll(r io.Reader) ([]Tag, error) {
	fr, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	var tags []Tag
	for {
		t, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return tags, nil
		}
		if err != nil {
			return tags, err
		}
		tags = append(tags, t)
	}
}
