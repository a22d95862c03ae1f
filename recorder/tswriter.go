package recorder

import (
	"context"
	"fmt"
	"io"

	"github.com/asticode/go-astits"
)

const (
	videoPID uint16 = 0x100
	audioPID uint16 = 0x101

	// tsOffset keeps PTS - composition offsets and PCR - delay positive.
	tsOffset = 90000 * 2
	// pcrDelay puts the PCR a little ahead of the DTS it goes with, the
	// decoder buffering time players expect.
	pcrDelay = 9000
	tsMask   = 1<<33 - 1
)

// switchWriter lets one muxer (and so one set of continuity counters)
// write a run's segments one file after the other.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// tsWriter muxes a run's H.264 or H.265 and AAC access units into MPEG-TS
// segments.
type tsWriter struct {
	out      switchWriter
	mux      *astits.Muxer
	hasVideo bool
	hasAudio bool
	pcrPID   uint16
	// tablesDue: PAT/PMT still owed at the start of the current segment.
	tablesDue bool
	// The elementary streams' continuity counters (astits keeps PAT's and
	// PMT's), and scratch for write.
	videoCC, audioCC byte
	started          bool // an access unit was written
	pesHdr           []byte
	pkts             []byte
}

func newTSWriter(hasVideo, hasAudio bool, videoType astits.StreamType) (*tsWriter, error) {
	w := &tsWriter{hasVideo: hasVideo, hasAudio: hasAudio}
	w.out.w = io.Discard
	// Tables are written at each segment start and on each video keyframe
	// (astits forces them on random-access points of the PCR PID); the
	// periodic retransmission is not needed on top.
	w.mux = astits.NewMuxer(context.Background(), &w.out, astits.MuxerOptTablesRetransmitPeriod(1<<30))
	if hasVideo {
		if err := w.mux.AddElementaryStream(astits.PMTElementaryStream{ElementaryPID: videoPID, StreamType: videoType}); err != nil {
			return nil, fmt.Errorf("ts: add video stream: %w", err)
		}
		w.pcrPID = videoPID
	}
	if hasAudio {
		if err := w.mux.AddElementaryStream(astits.PMTElementaryStream{ElementaryPID: audioPID, StreamType: astits.StreamTypeAACAudio}); err != nil {
			return nil, fmt.Errorf("ts: add audio stream: %w", err)
		}
		if !hasVideo {
			w.pcrPID = audioPID
		}
	}
	w.mux.SetPCRPID(w.pcrPID)
	return w, nil
}

// startSegment directs output to w; the next access unit starts with PAT/PMT.
func (w *tsWriter) startSegment(out io.Writer) {
	w.out.w = out
	w.tablesDue = true
}

// writeVideo writes one Annex B access unit; dts and pts in 90 kHz.
func (w *tsWriter) writeVideo(dts, pts int64, key bool, au []byte) error {
	return w.write(videoPID, dts, pts, key, au, 0xe0)
}

// writeAudio writes one ADTS frame (or several); pts in 90 kHz.
func (w *tsWriter) writeAudio(pts int64, adts []byte) error {
	// In an audio-only stream every AAC frame is a random access point.
	return w.write(audioPID, pts, pts, !w.hasVideo, adts, 0xc0)
}

// write muxes one access unit as a PES packet in 188-byte TS packets,
// built in w.pkts and written at once. It writes what astits' Muxer.WriteData
// wrote for the same input, byte for byte (TestTSWriterMatchesAstits),
// without its bit writer and its allocations per packet, which were ~12 %
// of the origin's CPU per stream; astits still writes PAT/PMT.
func (w *tsWriter) write(pid uint16, dts, pts int64, rap bool, data []byte, streamID uint8) error {
	// PAT/PMT at a segment's start and before each random access point of
	// the PCR's PID; astits also wrote them on the run's first access unit
	// on top of the segment's, which is kept so that the bytes stay its own.
	forced, tables := rap && pid == w.pcrPID, 0
	if w.tablesDue && !forced {
		tables++
	}
	if forced || !w.started {
		tables++
	}
	w.started = true
	for range tables {
		if _, err := w.mux.WriteTables(); err != nil {
			return fmt.Errorf("ts: write tables: %w", err)
		}
	}
	w.tablesDue = false
	dts += tsOffset
	pts += tsOffset

	// PES header: start code, stream id, length, the optional header
	// (data aligned) and PTS, or PTS and DTS.
	both := pid == videoPID && dts != pts
	h := append(w.pesHdr[:0], 0, 0, 1, streamID, 0, 0, 0x84, 0x80, 5)
	if both {
		h[7], h[8] = 0xc0, 10
		h = appendPTS(h, 0b0011, pts)
		h = appendPTS(h, 0b0001, dts)
	} else {
		h = appendPTS(h, 0b0010, pts)
	}
	if streamID != 0xe0 { // a video PES leaves its length unset
		if l := len(h) - 6 + len(data); l <= 0xffff {
			h[4], h[5] = byte(l>>8), byte(l)
		}
	}
	w.pesHdr = h

	out := w.pkts[:0]
	cc := w.cc(pid)
	for first := true; len(data) > 0; first = false {
		var pkt [tsPacketSize]byte
		pkt[0] = 0x47
		pkt[1] = byte(pid>>8) & 0x1f
		if first {
			pkt[1] |= 0x40 // payload unit start
		}
		pkt[2] = byte(pid)
		pkt[3] = 0x10 | *cc // has payload
		*cc = (*cc + 1) & 0x0f
		// The adaptation field, from pkt[4] (its length) on: the PCR on
		// the first packet of the PCR's PID, then stuffing if the payload
		// does not fill the packet.
		var af [8]byte
		afLen := 0 // bytes of af in use, its length byte included
		if first && pid == w.pcrPID {
			af[1] = 0x10 // PCR
			if rap {
				af[1] |= 0x40 // random access
			}
			pcr := uint64((dts - pcrDelay) & tsMask)
			af[2], af[3], af[4], af[5] = byte(pcr>>25), byte(pcr>>17), byte(pcr>>9), byte(pcr>>1)
			af[6] = byte(pcr<<7) | 0x7e // 6 reserved bits; extension 0
			afLen = 8
		}
		space := tsPacketSize - 4 - afLen
		if first {
			space -= len(h)
		}
		k := min(space, len(data))
		stuff := space - k
		switch {
		case stuff == 0:
		case afLen > 0:
		case stuff == 1:
			afLen, stuff = 1, 0 // a length byte of 0
		default:
			afLen, stuff = 2, stuff-2 // length, no flags
		}
		n := 4
		if afLen > 0 {
			pkt[3] |= 0x20
			af[0] = byte(afLen - 1 + stuff)
			n += copy(pkt[n:], af[:afLen])
			for range stuff {
				pkt[n] = 0xff
				n++
			}
		}
		if first {
			n += copy(pkt[n:], h)
		}
		copy(pkt[n:], data[:k])
		data = data[k:]
		out = append(out, pkt[:]...)
	}
	w.pkts = out
	if _, err := w.out.Write(out); err != nil {
		return fmt.Errorf("ts: write pes: %w", err)
	}
	return nil
}

// cc is the continuity counter of an elementary stream's PID.
func (w *tsWriter) cc(pid uint16) *byte {
	if pid == videoPID {
		return &w.videoCC
	}
	return &w.audioCC
}

// appendPTS appends a 33-bit PTS or DTS with its 4-bit prefix and marker
// bits (ISO 13818-1 2.4.3.7).
func appendPTS(b []byte, prefix byte, ts int64) []byte {
	v := uint64(ts) & tsMask
	return append(b,
		prefix<<4|byte(v>>29)&0x0e|1,
		byte(v>>22),
		byte(v>>14)|1,
		byte(v>>7),
		byte(v<<1)|1)
}
