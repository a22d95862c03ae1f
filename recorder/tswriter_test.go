package recorder

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/asticode/go-astits"
)

// astitsWrite is what tsWriter.write did before it built its packets
// itself: the reference it must match byte for byte.
func astitsWrite(w *tsWriter, pid uint16, dts, pts int64, rap bool, data []byte, streamID uint8) error {
	forced := rap && pid == w.pcrPID
	if w.tablesDue && !forced {
		if _, err := w.mux.WriteTables(); err != nil {
			return err
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
		PID: pid, AdaptationField: af,
		PES: &astits.PESData{Header: &astits.PESHeader{OptionalHeader: oh, StreamID: streamID}, Data: data},
	})
	return err
}

// The packets tsWriter builds are astits' for the same access units, over
// every payload size around packet boundaries, both PTS forms, random
// access or not, timestamps across the 33-bit wrap, segment switches, and
// video+audio, video-only, audio-only and HEVC streams.
func TestTSWriterMatchesAstits(t *testing.T) {
	layouts := []struct {
		video, audio bool
		st           astits.StreamType
	}{
		{true, true, astits.StreamTypeH264Video},
		{true, false, astits.StreamTypeH264Video},
		{false, true, astits.StreamTypeH264Video},
		{true, true, astits.StreamTypeH265Video},
	}
	for _, l := range layouts {
		t.Run(fmt.Sprintf("video=%v,audio=%v,%v", l.video, l.audio, l.st), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(l.st)))
			ours, err := newTSWriter(l.video, l.audio, l.st)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := newTSWriter(l.video, l.audio, l.st)
			if err != nil {
				t.Fatal(err)
			}
			var got, want bytes.Buffer
			ts := int64(tsMask - 90000*4 - tsOffset) // runs across the wrap
			for i := range 3000 {
				if i%200 == 0 {
					got.Reset()
					want.Reset()
					ours.startSegment(&got)
					ref.startSegment(&want)
				}
				var size int
				switch rng.IntN(4) {
				case 0:
					size = 1 + rng.IntN(400) // around the first packet's room
				case 1:
					size = 150 + 184*rng.IntN(4) + rng.IntN(20) - 10 // around later packet ends
				default:
					size = 1 + rng.IntN(60000)
				}
				data := make([]byte, size)
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
				ts += int64(rng.IntN(6000))
				video := l.video && (!l.audio || rng.IntN(2) == 0)
				var e1, e2 error
				if video {
					pts := ts
					if rng.IntN(2) == 0 {
						pts += int64(rng.IntN(9000))
					}
					key := rng.IntN(10) == 0
					e1 = ours.writeVideo(ts, pts, key, data)
					e2 = astitsWrite(ref, videoPID, ts, pts, key, data, 0xe0)
				} else {
					e1 = ours.writeAudio(ts, data)
					e2 = astitsWrite(ref, audioPID, ts, ts, !ref.hasVideo, data, 0xc0)
				}
				if e1 != nil || e2 != nil {
					t.Fatalf("unit %d: %v / %v", i, e1, e2)
				}
				if !bytes.Equal(got.Bytes(), want.Bytes()) {
					g, w := got.Bytes(), want.Bytes()
					at := 0
					for at < min(len(g), len(w)) && g[at] == w[at] {
						at++
					}
					t.Fatalf("unit %d (video %v, %d bytes): output differs at byte %d (packet %d, offset %d); %d bytes, want %d",
						i, video, size, at, at/188, at%188, len(g), len(w))
				}
			}
		})
	}
}
