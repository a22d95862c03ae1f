package av

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/asticode/go-astiav"
)

// Probe reports a file's duration and video size (used by tests and the worker).
func Probe(path string) (Result, error) {
	initLog()
	fi, err := os.Stat(path)
	if err != nil {
		return Result{}, fmt.Errorf("av: probe %s: %w", path, err)
	}
	fc := astiav.AllocFormatContext()
	if fc == nil {
		return Result{}, fmt.Errorf("av: probe %s: cannot allocate format context", path)
	}
	defer fc.Free()
	if err := fc.OpenInput(path, nil, nil); err != nil {
		return Result{}, fmt.Errorf("av: probe %s: %w", path, err)
	}
	defer fc.CloseInput()
	if err := fc.FindStreamInfo(nil); err != nil {
		return Result{}, fmt.Errorf("av: probe %s: find stream info: %w", path, err)
	}
	res := Result{Size: fi.Size(), Files: []string{path}}
	for _, st := range fc.Streams() {
		cp := st.CodecParameters()
		if cp.MediaType() == astiav.MediaTypeVideo && cp.Width() > 0 {
			res.Width, res.Height = cp.Width(), cp.Height()
			break
		}
	}
	if d := fc.Duration(); d > 0 && d != astiav.NoPtsValue {
		res.Duration = duration(astiav.RescaleQ(d, astiav.NewRational(1, astiav.TimeBase), tb90k))
		return res, nil
	}
	end, err := lastPacketEnd(fc)
	if err != nil {
		return Result{}, fmt.Errorf("av: probe %s: %w", path, err)
	}
	res.Duration = duration(end)
	return res, nil
}

// lastPacketEnd reads every packet and returns how far past the earliest
// timestamp the latest one ends, in 90 kHz ticks.
func lastPacketEnd(fc *astiav.FormatContext) (int64, error) {
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	streams := fc.Streams()
	first, last := int64(0), int64(0)
	seen := false
	for {
		if err := fc.ReadFrame(pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				break
			}
			return 0, err
		}
		tb := streams[pkt.StreamIndex()].TimeBase()
		ts := pkt.Pts()
		if ts == astiav.NoPtsValue {
			ts = pkt.Dts()
		}
		if ts != astiav.NoPtsValue {
			t := to90k(ts, tb)
			if !seen || t < first {
				first = t
			}
			if e := t + to90k(pkt.Duration(), tb); !seen || e > last {
				last = e
			}
			seen = true
		}
		pkt.Unref()
	}
	if !seen {
		return 0, io.ErrUnexpectedEOF
	}
	return last - first, nil
}
