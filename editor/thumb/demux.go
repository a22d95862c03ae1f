package thumb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asticode/go-astiav"
)

const (
	ioBufferSize = 64 << 10
	// avio.h whence flags astiav does not export.
	avseekSize  = 0x10000
	avseekForce = 0x20000
)

// mpegts is looked up once; forcing it skips probing, and keeps random
// bytes away from every other demuxer.
var mpegts = sync.OnceValue(func() *astiav.InputFormat { return astiav.FindInputFormat("mpegts") })

// input is a segment opened for demuxing from memory.
type input struct {
	fc     *astiav.FormatContext
	pb     *astiav.IOContext
	opened bool
}

func openSegment(segment []byte) (*input, error) {
	f := mpegts()
	if f == nil {
		return nil, errors.New("thumb: libav has no mpegts demuxer")
	}
	in := &input{fc: astiav.AllocFormatContext()}
	if in.fc == nil {
		return nil, errors.New("thumb: alloc format context failed")
	}
	r := bytes.NewReader(segment)
	pb, err := astiav.AllocIOContext(ioBufferSize, false,
		func(b []byte) (int, error) {
			n, _ := r.Read(b)
			if n == 0 {
				// libav only knows its own codes; a Go io.EOF would become AVERROR_UNKNOWN.
				return 0, astiav.ErrEof
			}
			return n, nil
		},
		func(offset int64, whence int) (int64, error) {
			if whence&avseekSize != 0 {
				return r.Size(), nil
			}
			return r.Seek(offset, whence&^avseekForce)
		},
		nil)
	if err != nil {
		in.close()
		return nil, fmt.Errorf("thumb: alloc io context: %w", err)
	}
	in.pb = pb
	in.fc.SetPb(pb)
	if err := in.fc.OpenInput("", f, nil); err != nil {
		in.close()
		return nil, fmt.Errorf("thumb: open segment: %w", err)
	}
	in.opened = true
	return in, nil
}

// close frees in the order libav needs: the demuxer first (it does not own a
// custom pb), then the pb, then the context (a no-op after CloseInput).
func (in *input) close() {
	if in.opened {
		in.fc.CloseInput()
	}
	if in.pb != nil {
		in.pb.Free()
	}
	in.fc.Free()
}

// keyframe scans the segment for the last video keyframe whose DTS is at or
// before at (offset from the first video DTS) and returns a reference to it
// with its stream. The caller frees the packet.
func (in *input) keyframe(ctx context.Context, at time.Duration) (*astiav.Packet, *astiav.Stream, error) {
	pkt := astiav.AllocPacket()
	if pkt == nil {
		return nil, nil, errors.New("thumb: alloc packet failed")
	}
	defer pkt.Free()
	kf := astiav.AllocPacket()
	if kf == nil {
		return nil, nil, errors.New("thumb: alloc packet failed")
	}
	var (
		video           *astiav.Stream
		limit           int64
		first, last     = astiav.NoPtsValue, astiav.NoPtsValue
		found, sawVideo bool
	)
	fail := func(err error) (*astiav.Packet, *astiav.Stream, error) {
		kf.Free()
		return nil, nil, err
	}
	for {
		if err := ctxErr(ctx); err != nil {
			return fail(err)
		}
		if err := in.fc.ReadFrame(pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) || found {
				// A damaged tail does not spoil a keyframe already in hand.
				break
			}
			return fail(fmt.Errorf("thumb: read packet: %w", err))
		}
		if video == nil {
			if s := in.stream(pkt.StreamIndex()); s != nil && s.CodecParameters().MediaType() == astiav.MediaTypeVideo {
				video = s
				limit = toStreamTime(at, s.TimeBase())
			}
		}
		if video == nil || pkt.StreamIndex() != video.Index() {
			pkt.Unref()
			continue
		}
		sawVideo = true
		ts := pkt.Dts()
		if ts == astiav.NoPtsValue {
			ts = pkt.Pts()
		}
		if ts == astiav.NoPtsValue {
			ts = last
		}
		if ts != astiav.NoPtsValue {
			if first == astiav.NoPtsValue {
				first = ts
			}
			last = ts
			// DTS only grows, so nothing later can be at or before at.
			if ts-first > limit {
				pkt.Unref()
				break
			}
		}
		if pkt.Flags().Has(astiav.PacketFlagKey) {
			kf.Unref()
			if err := kf.Ref(pkt); err != nil {
				pkt.Unref()
				return fail(fmt.Errorf("thumb: ref packet: %w", err))
			}
			found = true
		}
		pkt.Unref()
	}
	switch {
	case !sawVideo:
		return fail(ErrNoVideo)
	case !found:
		return fail(fmt.Errorf("%w: no keyframe in the video stream", ErrNoVideo))
	}
	return kf, video, nil
}

// stream looks streams up lazily: MPEG-TS can announce them after the header.
func (in *input) stream(i int) *astiav.Stream {
	ss := in.fc.Streams()
	if i < 0 || i >= len(ss) {
		return nil
	}
	return ss[i]
}

// toStreamTime converts a non-negative offset to the stream time base.
func toStreamTime(d time.Duration, tb astiav.Rational) int64 {
	if d < 0 {
		d = 0
	}
	if tb.Num() <= 0 || tb.Den() <= 0 {
		tb = astiav.NewRational(1, 90000)
	}
	return astiav.RescaleQ(d.Microseconds(), astiav.NewRational(1, 1000000), tb)
}
