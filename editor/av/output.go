package av

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/asticode/go-astiav"
)

const (
	hlsPlaylist = "index.m3u8"
	hlsSegments = "seg_%05d.ts"
)

// output is the muxer. Timestamps handed to write are 90 kHz on the output
// timeline; write rescales them and keeps each stream's DTS strictly
// increasing, whatever the joins between parts and encoders produce.
type output struct {
	format  Format
	out     string // what the caller asked for: a file, or the HLS directory
	path    string // what libav writes: the file, or the HLS playlist
	fc      *astiav.FormatContext
	io      *astiav.IOContext
	video   *outStream
	audio   *outStream
	created bool // out (file or directory) was made by us
	started bool // header written
	pos     int64
	// moovSize, for MP4, is the room kept for the index at the start of
	// the file; 0 moves it there after the fact (faststart: the whole file
	// read and written once more).
	moovSize int64
}

// errMoovRoom: the index outgrew the room kept for it (or the trailer
// failed otherwise); the file is lost and is made again with faststart.
var errMoovRoom = errors.New("av: mp4 index larger than the room kept for it")

type outStream struct {
	st      *astiav.Stream
	lastDTS int64 // stream time base; NoPtsValue before the first packet
	end     int64 // 90 kHz: furthest pts+duration written
	n       int
}

func newOutput(f Format, out string) (*output, error) {
	o := &output{format: f, out: out, path: out}
	name := "mp4"
	switch f {
	case FormatTS:
		name = "mpegts"
	case FormatHLS:
		name = "hls"
		if err := makeDir(out); err != nil {
			return nil, err
		}
		o.created = true
		o.path = filepath.Join(out, hlsPlaylist)
	}
	fc, err := astiav.AllocOutputFormatContext(nil, name, o.path)
	if err != nil {
		o.discard()
		return nil, fmt.Errorf("av: create %s: %w", out, err)
	}
	if fc == nil {
		o.discard()
		return nil, fmt.Errorf("av: create %s: no muxer %s", out, name)
	}
	o.fc = fc
	return o, nil
}

// makeDir creates the HLS directory; an existing empty one is accepted.
func makeDir(dir string) error {
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, os.ErrExist) {
		if ents, rerr := os.ReadDir(dir); rerr == nil && len(ents) == 0 {
			return nil
		}
		return fmt.Errorf("av: create %s: exists and is not an empty directory", dir)
	}
	if err != nil {
		return fmt.Errorf("av: create %s: %w", dir, err)
	}
	return nil
}

// addStream adds a stream described by cp (copied, codec tag reset so the
// muxer picks its own).
func (o *output) addStream(cp *astiav.CodecParameters, tb astiav.Rational) (*outStream, error) {
	st := o.fc.NewStream(nil)
	if st == nil {
		return nil, fmt.Errorf("av: create %s: cannot add stream", o.out)
	}
	if err := cp.Copy(st.CodecParameters()); err != nil {
		return nil, fmt.Errorf("av: create %s: copy codec parameters: %w", o.out, err)
	}
	st.CodecParameters().SetCodecTag(0)
	st.SetTimeBase(tb)
	return &outStream{st: st, lastDTS: astiav.NoPtsValue}, nil
}

// addEncoded adds a stream fed by the (opened) encoder cc.
func (o *output) addEncoded(cc *astiav.CodecContext) (*outStream, error) {
	st := o.fc.NewStream(nil)
	if st == nil {
		return nil, fmt.Errorf("av: create %s: cannot add stream", o.out)
	}
	if err := st.CodecParameters().FromCodecContext(cc); err != nil {
		return nil, fmt.Errorf("av: create %s: codec parameters: %w", o.out, err)
	}
	st.SetTimeBase(cc.TimeBase())
	return &outStream{st: st, lastDTS: astiav.NoPtsValue}, nil
}

// globalHeader reports whether encoders must put their headers in extradata.
func (o *output) globalHeader() bool {
	return o.format == FormatMP4
}

// start opens the file and writes the header.
func (o *output) start(opt Options) error {
	if !o.fc.OutputFormat().Flags().Has(astiav.IOFormatFlagNofile) {
		ioc, err := astiav.OpenIOContext(o.path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite))
		if err != nil {
			return fmt.Errorf("av: create %s: %w", o.out, err)
		}
		o.io = ioc
		o.created = true
		o.fc.SetPb(ioc)
	}
	opts := astiav.NewDictionary()
	defer opts.Free()
	set := func(k, v string) {
		// Only fails on allocation; the header write would then fail too.
		_ = opts.Set(k, v, astiav.NewDictionaryFlags())
	}
	switch o.format {
	case FormatMP4:
		if o.moovSize > 0 {
			// Written in place at the end, with the rest of the room
			// left as a free box: faststart without a second pass.
			set("moov_size", strconv.FormatInt(o.moovSize, 10))
		} else {
			set("movflags", "+faststart")
		}
	case FormatTS:
		if opt.KeepTimestamps {
			// An edge segment between recorded ones: their clock as is,
			// and the recorder's PIDs (video 0x100, audio 0x101).
			set("mpegts_copyts", "1")
			for _, s := range []*outStream{o.video, o.audio} {
				if s != nil {
					s.st.SetID(recorderPID(s == o.video))
				}
			}
		}
	case FormatHLS:
		segment := opt.HLSSegment
		if segment <= 0 {
			segment = 4 * time.Second
		}
		set("hls_time", strconv.FormatFloat(segment.Seconds(), 'f', -1, 64))
		set("hls_playlist_type", "vod")
		set("hls_list_size", "0")
		set("hls_segment_filename", filepath.Join(o.out, hlsSegments))
	}
	if err := o.fc.WriteHeader(opts); err != nil {
		return fmt.Errorf("av: write header %s: %w", o.out, err)
	}
	o.started = true
	return nil
}

// recorderPID is the PID the recorder gives a track (recorder/tswriter.go).
func recorderPID(video bool) int {
	if video {
		return 0x100
	}
	return 0x101
}

// write muxes pkt on s at the given 90 kHz output timestamps. It takes the
// packet's data; the caller still frees pkt.
func (o *output) write(s *outStream, pkt *astiav.Packet, pts, dts, dur int64) error {
	tb := s.st.TimeBase()
	p, d := from90k(pts, tb), from90k(dts, tb)
	if s.lastDTS != astiav.NoPtsValue && d <= s.lastDTS {
		d = s.lastDTS + 1
	}
	if p < d {
		p = d
	}
	s.lastDTS = d
	pkt.SetStreamIndex(s.st.Index())
	pkt.SetPts(p)
	pkt.SetDts(d)
	pkt.SetDuration(from90k(dur, tb))
	pkt.SetPos(-1)
	if e := pts + dur; e > s.end || s.n == 0 {
		s.end = e
	}
	if s.end > o.pos {
		o.pos = s.end
	}
	s.n++
	if err := o.fc.WriteInterleavedFrame(pkt); err != nil {
		return fmt.Errorf("av: write %s: %w", o.out, err)
	}
	return nil
}

// finish writes the trailer and closes the file.
func (o *output) finish() error {
	err := o.fc.WriteTrailer()
	switch {
	case err != nil && o.moovSize > 0:
		// Too little room is EINVAL; any other failure fails the
		// faststart retry too.
		err = fmt.Errorf("av: write trailer %s: %w (%w)", o.out, errMoovRoom, err)
	case err != nil:
		err = fmt.Errorf("av: write trailer %s: %w", o.out, err)
	}
	if o.io != nil {
		if cerr := o.io.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("av: close %s: %w", o.out, cerr)
		}
		o.io = nil
	}
	return err
}

// close frees the muxer; it does not remove anything.
func (o *output) close() {
	if o.io != nil {
		_ = o.io.Close() // only on failure paths; the file is removed next
		o.io = nil
	}
	if o.fc != nil {
		o.fc.Free()
		o.fc = nil
	}
}

// discard frees the muxer and removes whatever it wrote.
func (o *output) discard() {
	o.close()
	if !o.created {
		return
	}
	if o.format == FormatHLS {
		os.RemoveAll(o.out)
		return
	}
	os.Remove(o.out)
}

// files lists what was written, playlist first for HLS, and their total size.
func (o *output) files() ([]string, int64, error) {
	if o.format != FormatHLS {
		fi, err := os.Stat(o.out)
		if err != nil {
			return nil, 0, fmt.Errorf("av: stat %s: %w", o.out, err)
		}
		return []string{o.out}, fi.Size(), nil
	}
	ents, err := os.ReadDir(o.out)
	if err != nil {
		return nil, 0, fmt.Errorf("av: list %s: %w", o.out, err)
	}
	files := []string{o.path}
	var size int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			return nil, 0, fmt.Errorf("av: stat %s: %w", e.Name(), err)
		}
		size += fi.Size()
		if p := filepath.Join(o.out, e.Name()); p != o.path {
			files = append(files, p)
		}
	}
	return files, size, nil
}
