package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/rewind-vod/rewind/internal/flvfile"
)

// flvStream builds an FLV stream of the tags, PreviousTagSize after each.
func flvStream(tags ...flvfile.Tag) []byte {
	b := []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}
	for _, t := range tags {
		n := len(t.Body)
		b = append(b, t.Type, byte(n>>16), byte(n>>8), byte(n),
			byte(t.Timestamp>>16), byte(t.Timestamp>>8), byte(t.Timestamp), byte(t.Timestamp>>24), 0, 0, 0)
		b = append(b, t.Body...)
		b = binary.BigEndian.AppendUint32(b, uint32(11+n))
	}
	return b
}

var sampleTags = []flvfile.Tag{
	{Type: 18, Timestamp: 0, Body: []byte("\x02\x00\x0aonMetaData")},
	{Type: 9, Timestamp: 0, Body: []byte{0x17, 0, 0, 0, 0, 1, 2}}, // AVC sequence header
	{Type: 8, Timestamp: 0, Body: []byte{0xaf, 0, 0x12, 0x10}},
	{Type: 9, Timestamp: 33, Body: []byte{0x17, 1, 0, 0, 0, 9, 9, 9, 9}},
	{Type: 8, Timestamp: 0x01000010, Body: []byte{0xaf, 1, 7, 7}}, // extended timestamp byte
	{Type: 9, Timestamp: 0x01000021, Body: []byte{0x27, 1, 0, 0, 0, 5}},
}

// TestTagReader reads back what flvStream wrote: types, timestamps
// (extended byte included), body sizes and keyframes, then a clean end.
func TestTagReader(t *testing.T) {
	tr, err := newTagReader(bytes.NewReader(flvStream(sampleTags...)))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range sampleTags {
		got, err := tr.next()
		if err != nil {
			t.Fatalf("tag %d: %v", i, err)
		}
		key := want.Type == 9 && want.Body[0]>>4 == 1
		if got.typ != want.Type || got.ts != want.Timestamp || got.size != len(want.Body) || got.keyframe != key {
			t.Errorf("tag %d = %+v, want type %d ts %d size %d keyframe %v", i, got, want.Type, want.Timestamp, len(want.Body), key)
		}
	}
	if _, err := tr.next(); err != io.EOF {
		t.Errorf("after the last tag: %v, want io.EOF", err)
	}
}

// TestTagReaderTruncated: a stream cut inside a tag is an error, never a
// clean end that would let a broken player pass for one that finished.
func TestTagReaderTruncated(t *testing.T) {
	b := flvStream(sampleTags...)
	tr, err := newTagReader(bytes.NewReader(b[:len(b)-6]))
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err := tr.next()
		if err == nil {
			continue
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut stream ended with %v, want io.ErrUnexpectedEOF", err)
		}
		return
	}
}

// TestRtmpdumpRead: what an rtmpdump player counts is the audio and video
// bodies of its FLV output (not the script tag, not the framing), and it
// is watching from the first video tag on.
func TestRtmpdumpRead(t *testing.T) {
	v := &rtmpdumpViewer{}
	var firstAt int64 = -1
	if err := v.read(bytes.NewReader(flvStream(sampleTags...)), func() {
		if firstAt < 0 {
			firstAt = v.media.Load()
		}
	}); err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, tg := range sampleTags {
		if tg.Type == 8 || tg.Type == 9 {
			want += int64(len(tg.Body))
		}
	}
	if got := v.mediaBytes(); got != want {
		t.Errorf("media bytes = %d, want %d", got, want)
	}
	if firstAt != 0 {
		t.Errorf("first called after %d media bytes, want at the first video tag (0)", firstAt)
	}
	if err := v.read(bytes.NewReader(nil), func() {}); err == nil {
		t.Error("no output: no error")
	}
}

// FuzzTagReader checks the bench's tag reader against internal/flvfile's,
// which keeps the bodies: every tag it returns is the same tag, and it
// stops no earlier than one tag before (flvfile forgives a last tag
// without its PreviousTagSize).
func FuzzTagReader(f *testing.F) {
	f.Add(flvStream(sampleTags...))
	f.Add(flvStream(sampleTags[:2]...)[:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := newTagReader(bytes.NewReader(b))
		fr, ferr := flvfile.NewReader(bytes.NewReader(b))
		if (err == nil) != (ferr == nil) {
			t.Fatalf("header: %v, flvfile: %v", err, ferr)
		}
		if err != nil {
			return
		}
		var ours, theirs int
		for {
			got, err := tr.next()
			if err != nil {
				break
			}
			ours++
			want, ferr := fr.Next()
			if ferr != nil {
				t.Fatalf("tag %d: flvfile: %v, ours: %+v", ours, ferr, got)
			}
			theirs++
			key := want.Type == 9 && len(want.Body) > 0 && want.Body[0]>>4 == 1
			if got.typ != want.Type || got.ts != want.Timestamp || got.size != len(want.Body) || got.keyframe != key {
				t.Fatalf("tag %d: %+v, flvfile: type %d ts %d size %d", ours, got, want.Type, want.Timestamp, len(want.Body))
			}
		}
		for {
			if _, err := fr.Next(); err != nil {
				break
			}
			theirs++
		}
		if theirs > ours+1 {
			t.Fatalf("stopped after %d tags, flvfile read %d", ours, theirs)
		}
	})
}
