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

func (w *tsWriter) write(pid uint16, dts, pts int64, rap bool, data []byte, streamID uint8) error {
	forced := rap && pid == w.pcrPID
	if w.tablesDue && !forced {
		if _, err := w.mux.WriteTables(); err != nil {
			return fmt.Errorf("ts: write tables: %w", err)
		}
	}
	w.tablesDue = false
	dts += tsOffset
	pts += tsOffset
	oh := &astits.PESOptionalHeader{
		MarkerBits:             2,
		DataAlignmentIndicator: true,
		PTSDTSIndicator:        astits.PTSDTSIndicatorOnlyPTS,
		PTS:                    &astits.ClockReference{Base: pts & tsMask},
	}
	if pid == videoPID && dts != pts {
		oh.PTSDTSIndicator = astits.PTSDTSIndicatorBothPresent
		oh.DTS = &astits.ClockReference{Base: dts & tsMask}
	}
	var af *astits.PacketAdaptationField
	if pid == w.pcrPID {
		af = &astits.PacketAdaptationField{
			HasPCR:                true,
			PCR:                   &astits.ClockReference{Base: (dts - pcrDelay) & tsMask},
			RandomAccessIndicator: rap,
		}
	}
	_, err := w.mux.WriteData(&astits.MuxerData{
		PID:             pid,
		AdaptationField: af,
		PES: &astits.PESData{
			Header: &astits.PESHeader{OptionalHeader: oh, StreamID: streamID},
			Data:   data,
		},
	})
	if err != nil {
		return fmt.Errorf("ts: write pes: %w", err)
	}
	return nil
}
