package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// skipAfterJoin: a player starts with the GOP cache, a burst of frames up to
// one GOP (2 s) old, so its first tags say nothing about live lag. Lag is
// taken from the first keyframe received at least this long after joining,
// i.e. after the cached GOP and the live GOP following it have gone by.
const skipAfterJoin = 2 * time.Second

// player is one HTTP-FLV viewer.
type player struct {
	rx    atomic.Int64 // bytes received
	tags  atomic.Int64
	media atomic.Int64 // audio and video tag body bytes received

	// Written by run only, read once it has returned.
	connected bool
	lags      []time.Duration // one per measured video tag
	ended     time.Time
	err       error
}

// run plays url until the stream ends or ctx is done. pubStart is the wall
// time the publisher paces media timestamp 0 at. joined is called once,
// when the response has started or the request failed.
func (p *player) run(ctx context.Context, c *http.Client, url string, pubStart time.Time, joined func()) {
	defer func() { p.ended = time.Now() }()
	resp, err := get(ctx, c, url)
	if err != nil {
		p.err = err
		joined()
		return
	}
	defer resp.Body.Close()
	// Before joined: the peer round reads it once all have joined.
	p.connected = true
	joined()
	joinedAt := time.Now()
	tr, err := newTagReader(countingReader{resp.Body, &p.rx})
	if err != nil {
		p.err = err
		return
	}
	measuring := false
	for {
		t, err := tr.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.err = err
			}
			return
		}
		p.tags.Add(1)
		if t.typ == 8 || t.typ == 9 {
			p.media.Add(int64(t.size))
		}
		if t.typ != 9 {
			continue
		}
		now := time.Now()
		if !measuring && t.keyframe && now.Sub(joinedAt) >= skipAfterJoin {
			measuring = true
		}
		if measuring {
			p.lags = append(p.lags, now.Sub(pubStart.Add(time.Duration(t.ts)*time.Millisecond)))
		}
	}
}

func get(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("play: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("play %s: %s", url, resp.Status)
	}
	return resp, nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// tagReader reads FLV tags from a live stream without keeping their
// bodies. internal/flvfile's Reader allocates every body: at 500 players
// that is ~160 MB/s of garbage collected on the same cores as the origin
// under test.
type tagReader struct{ r *bufio.Reader }

type tagInfo struct {
	typ      uint8
	ts       uint32 // ms
	size     int    // body bytes
	keyframe bool
}

func newTagReader(r io.Reader) (*tagReader, error) {
	br := bufio.NewReaderSize(r, 32<<10)
	var h [9]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, fmt.Errorf("flv header: %w", err)
	}
	if string(h[:3]) != "FLV" {
		return nil, errors.New("flv header: not FLV")
	}
	off := binary.BigEndian.Uint32(h[5:])
	if off < 9 || off > 1024 {
		return nil, fmt.Errorf("flv header: bad size %d", off)
	}
	if _, err := br.Discard(int(off-9) + 4); err != nil { // rest of header + PreviousTagSize0
		return nil, fmt.Errorf("flv header: %w", err)
	}
	return &tagReader{r: br}, nil
}

// next returns the next tag, io.EOF at a clean end.
func (r *tagReader) next() (tagInfo, error) {
	var h [11]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return tagInfo{}, io.EOF
		}
		return tagInfo{}, fmt.Errorf("flv tag header: %w", err)
	}
	t := tagInfo{
		typ: h[0] & 0x1f,
		ts:  uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]),
	}
	size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	t.size = size
	if size > 0 {
		first, err := r.r.ReadByte()
		if err != nil {
			return t, fmt.Errorf("flv tag body: %w", truncated(err))
		}
		t.keyframe = t.typ == 9 && first>>4 == 1
		size--
	}
	if _, err := r.r.Discard(size + 4); err != nil { // rest of body + PreviousTagSize
		return t, fmt.Errorf("flv tag body: %w", truncated(err))
	}
	return t, nil
}

// truncated makes an end of stream inside a tag an error, not a clean end.
func truncated(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
