// Package ertmppub is a test publisher of H.265 over enhanced RTMP
// (veovera enhanced-rtmp, FourCC hvc1): Debian's ffmpeg 5.1 cannot publish
// it. Encode runs libx265 + AAC into MPEG-TS on a pipe and wraps what it
// demuxes into FLV tag bodies (an ExVideoTagHeader SequenceStart with an
// HEVCDecoderConfigurationRecord built from the VPS/SPS/PPS, then
// CodedFrames with their composition time, or CodedFramesX when it is 0;
// AAC as in legacy FLV); Publish sends them over RTMP with a connect
// command that carries fourCcList, as an enhanced encoder does.
package ertmppub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"

	"github.com/asticode/go-astits"

	"github.com/rewind-vod/rewind/media"
)

// Source describes the test media: testsrc2 + sine, libx265 + AAC.
type Source struct {
	Seconds float64
	Size    string // default 1280x720
	FPS     int    // default 25
	GOP     int    // frames, default 2 s worth
	NoAudio bool
}

// Encode encodes src with ffmpeg and returns it as FLV frames in timestamp
// order: onMetaData, the video and audio sequence headers, then media.
func Encode(ctx context.Context, src Source) ([]media.Frame, error) {
	fps, size := src.FPS, src.Size
	if fps == 0 {
		fps = 25
	}
	if size == "" {
		size = "1280x720"
	}
	gop := src.GOP
	if gop == 0 {
		gop = 2 * fps
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", size, fps)}
	if !src.NoAudio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100")
	}
	args = append(args, "-t", strconv.FormatFloat(src.Seconds, 'f', -1, 64),
		"-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		// Fixed closed GOPs, as streaming encoders send them; B-frames, so
		// that composition times are not all 0.
		"-x265-params", fmt.Sprintf("log-level=error:keyint=%d:min-keyint=%d:scenecut=0:open-gop=0:bframes=2", gop, gop))
	if !src.NoAudio {
		args = append(args, "-c:a", "aac", "-b:a", "64k")
	}
	args = append(args, "-f", "mpegts", "pipe:1")
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("ertmppub: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ertmppub: ffmpeg: %w", err)
	}
	frames, derr := demux(ctx, out)
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("ertmppub: ffmpeg: %w: %s", err, stderr.Bytes())
	}
	if derr != nil {
		return nil, derr
	}
	return frames, nil
}

// wrapper turns demuxed access units into FLV tag bodies.
type wrapper struct {
	frames   []media.Frame
	base     int64 // 90 kHz DTS of the first video unit
	haveBase bool
	vHeader  bool
	aHeader  bool
}

func demux(ctx context.Context, r io.Reader) ([]media.Frame, error) {
	dmx := astits.NewDemuxer(ctx, r, astits.DemuxerOptPacketSize(188))
	w := &wrapper{}
	var audio []*astits.PESData // until the first video unit sets the time base
	for {
		d, err := dmx.NextData()
		if errors.Is(err, astits.ErrNoMorePackets) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ertmppub: demux: %w", err)
		}
		if d.PES == nil || d.PES.Header.OptionalHeader == nil || d.PES.Header.OptionalHeader.PTS == nil {
			continue
		}
		switch {
		case d.PES.Header.StreamID == 0xe0:
			if err := w.video(d.PES); err != nil {
				return nil, err
			}
			for _, a := range audio {
				w.audio(a)
			}
			audio = nil
		case d.PES.Header.StreamID == 0xc0:
			if w.haveBase {
				w.audio(d.PES)
			} else {
				audio = append(audio, d.PES)
			}
		}
	}
	if !w.vHeader {
		return nil, errors.New("ertmppub: no HEVC parameter sets in ffmpeg's output")
	}
	sort.SliceStable(w.frames, func(i, j int) bool { return w.frames[i].Timestamp < w.frames[j].Timestamp })
	return append([]media.Frame{metadata()}, w.frames...), nil
}

// WrapAccessUnit is one Annex B HEVC access unit as an enhanced RTMP video
// tag body (ExVideoTagHeader, then 4-byte length-prefixed NAL units):
// AUDs and parameter sets are left out (they are in the SequenceStart),
// and the unit is a keyframe when it holds an IRAP picture.
func WrapAccessUnit(annexB []byte, ctsMS int32) (body []byte, key bool) {
	var nalus [][]byte
	for _, n := range media.SplitAnnexB(annexB) {
		switch t := media.HEVCNaluType(n); {
		case len(n) < 2, t == media.HEVCNaluAUD, t == media.HEVCNaluVPS, t == media.HEVCNaluSPS, t == media.HEVCNaluPPS:
			continue
		case t >= media.HEVCNaluIRAPFirst && t <= media.HEVCNaluIRAPLast:
			key = true
		}
		nalus = append(nalus, n)
	}
	pt := media.ExCodedFrames
	if ctsMS == 0 {
		pt = media.ExCodedFramesX
	}
	body = media.AppendExVideoHeader(nil, key, pt, media.FourCCHEVC, ctsMS)
	for _, n := range nalus {
		body = append(body, byte(len(n)>>24), byte(len(n)>>16), byte(len(n)>>8), byte(len(n)))
		body = append(body, n...)
	}
	return body, key
}

// SequenceStart is the enhanced RTMP SequenceStart tag body for the
// parameter sets of an Annex B access unit, or nil if it has none.
func SequenceStart(annexB []byte) ([]byte, error) {
	var vps, sps, pps [][]byte
	for _, n := range media.SplitAnnexB(annexB) {
		switch media.HEVCNaluType(n) {
		case media.HEVCNaluVPS:
			vps = append(vps, n)
		case media.HEVCNaluSPS:
			sps = append(sps, n)
		case media.HEVCNaluPPS:
			pps = append(pps, n)
		}
	}
	if len(vps) == 0 && len(sps) == 0 && len(pps) == 0 {
		return nil, nil
	}
	rec, err := media.BuildHEVCConfig(vps, sps, pps)
	if err != nil {
		return nil, err
	}
	return append(media.AppendExVideoHeader(nil, true, media.ExSequenceStart, media.FourCCHEVC, 0), rec...), nil
}

func (w *wrapper) video(pes *astits.PESData) error {
	oh := pes.Header.OptionalHeader
	pts := oh.PTS.Base
	dts := pts
	if oh.DTS != nil {
		dts = oh.DTS.Base
	}
	if !w.haveBase {
		w.base, w.haveBase = dts, true
	}
	if !w.vHeader {
		seq, err := SequenceStart(pes.Data)
		if err != nil {
			return fmt.Errorf("ertmppub: %w", err)
		}
		if seq == nil {
			return nil // not decodable yet
		}
		w.frames = append(w.frames, media.Frame{Type: media.FrameVideo, Timestamp: 0, Payload: seq})
		w.vHeader = true
	}
	ts := (dts - w.base) / 90
	body, _ := WrapAccessUnit(pes.Data, int32((pts-dts)/90))
	w.frames = append(w.frames, media.Frame{Type: media.FrameVideo, Timestamp: uint32(max(ts, 0)), Payload: body})
	return nil
}

var adtsRates = []int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// audio splits a PES of ADTS frames into AAC tags; the first one makes
// the AudioSpecificConfig from its ADTS header.
func (w *wrapper) audio(pes *astits.PESData) {
	pts := pes.Header.OptionalHeader.PTS.Base
	p := pes.Data
	for i := 0; len(p) >= 7 && p[0] == 0xff && p[1]&0xf0 == 0xf0; i++ {
		hl := 7
		if p[1]&1 == 0 {
			hl = 9 // with CRC
		}
		fl := int(p[3]&3)<<11 | int(p[4])<<3 | int(p[5])>>5
		if fl < hl || fl > len(p) {
			return
		}
		obj, rateIdx, ch := p[2]>>6+1, p[2]>>2&0x0f, (p[2]&1)<<2|p[3]>>6
		if int(rateIdx) >= len(adtsRates) {
			return
		}
		if !w.aHeader {
			asc := []byte{obj<<3 | rateIdx>>1, rateIdx<<7 | ch<<3}
			w.frames = append(w.frames, media.Frame{Type: media.FrameAudio, Timestamp: 0, Payload: append([]byte{0xaf, 0}, asc...)})
			w.aHeader = true
		}
		at := pts + int64(i)*1024*90000/int64(adtsRates[rateIdx])
		if ts := (at - w.base) / 90; ts >= 0 {
			w.frames = append(w.frames, media.Frame{Type: media.FrameAudio, Timestamp: uint32(ts), Payload: append([]byte{0xaf, 1}, p[hl:fl]...)})
		}
		p = p[fl:]
	}
}

// metadata is the onMetaData script tag body (Publish sends it with
// @setDataFrame), videocodecid the FourCC as the enhanced RTMP spec has it:
// 'hvc1' as a big-endian UI32.
func metadata() media.Frame {
	fourCC := float64(uint32('h')<<24 | uint32('v')<<16 | uint32('c')<<8 | uint32('1'))
	p := media.AppendAMF0(nil, "onMetaData")
	p = media.AppendAMF0(p, []media.AMF0Prop{{Key: "videocodecid", Val: fourCC}, {Key: "audiocodecid", Val: 10.0}})
	return media.Frame{Type: media.FrameData, Payload: p}
}

// AnnexB turns the enhanced RTMP HEVC video of frames (as a player
// receives them over RTMP or HTTP-FLV) back into an Annex B elementary
// stream, parameter sets before each IRAP: Debian's ffmpeg 5.1 cannot
// demux enhanced FLV, but it decodes that.
func AnnexB(frames []media.Frame) ([]byte, error) {
	var cfg *media.HEVCConfig
	var out []byte
	for _, f := range frames {
		if f.Type != media.FrameVideo || !media.IsExVideo(f.Payload) {
			continue
		}
		t, err := media.ParseVideoTag(f.Payload)
		if err != nil {
			return nil, fmt.Errorf("ertmppub: %w", err)
		}
		switch {
		case t.PacketType == media.AVCSeqHeader:
			c, err := media.ParseHEVCConfig(t.Data)
			if err != nil {
				return nil, fmt.Errorf("ertmppub: %w", err)
			}
			cfg = &c
		case t.PacketType == media.AVCNALU && cfg != nil:
			if out, _, err = cfg.AnnexB(out, t.Data); err != nil {
				return nil, fmt.Errorf("ertmppub: %w", err)
			}
		}
	}
	if cfg == nil {
		return nil, errors.New("ertmppub: no HEVC sequence start")
	}
	return out, nil
}
