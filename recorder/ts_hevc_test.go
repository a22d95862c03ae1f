package recorder

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astits"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/ertmppub"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/media"
)

// TestRecordHEVC records libx265 + AAC published as enhanced RTMP tags:
// every segment is HEVC (stream type 0x24) to ffprobe, starts on an IRAP
// preceded by AUD, VPS, SPS and PPS, and all frames are there.
func TestRecordHEVC(t *testing.T) {
	mediatest.Require(t)
	frames, err := ertmppub.Encode(context.Background(), ertmppub.Source{Seconds: 6, Size: "640x360"})
	if err != nil {
		t.Fatal(err)
	}
	var published int
	for _, f := range frames {
		if f.Type == media.FrameVideo && !media.IsVideoSeqHeader(f.Payload) {
			published++
		}
	}
	dir := t.TempDir()
	st, _ := fsstore.New(filepath.Join(dir, "store"))
	h := newHarness(t, filepath.Join(dir, "spool"), st, Config{})
	run := catalog.NewRunID(time.Now(), "test")
	s := h.open(run)
	for _, f := range frames {
		s.WriteFrame(f)
	}
	s.Close()
	h.idle()
	entries, all := checkRun(t, st, run, catalog.StateEnded)
	// Keyframes every 2 s; with B-frames an IDR's DTS is a frame before
	// its PTS, so a cut may wait for the next one.
	if len(entries) < 2 {
		t.Errorf("%d segments of 6 s at 2 s keyframes", len(entries))
	}
	for _, e := range entries {
		seg := filepath.Join(st.Root(), catalog.SegmentKey(testStream, run, e.Seq))
		if e.Flags&catalog.FlagIndependent == 0 {
			t.Errorf("segment %d not independent", e.Seq)
		}
		if c := probeCodec(t, seg); c != "hevc" {
			t.Errorf("segment %d: video codec %q", e.Seq, c)
		}
		if f := mediatest.Frames(t, seg, "v"); len(f) == 0 || f[0].KeyFrame != 1 {
			t.Errorf("segment %d does not start on a keyframe", e.Seq)
		}
		checkHEVCStart(t, seg)
		mediatest.CountFrames(t, seg) // decodes without errors
	}
	if got := mediatest.CountFrames(t, all); got.Video != published || got.Audio == 0 {
		t.Errorf("recorded %+v, published %d video frames", got, published)
	}
	m, _ := catalog.ReadManifest(context.Background(), st, testStream, run)
	if m.Video == nil || !strings.HasPrefix(m.Video.Codec, "hvc1.") || m.Video.Width != 640 || m.Video.Height != 360 {
		t.Errorf("manifest video %+v", m.Video)
	}
}

func probeCodec(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	// The stream shows under its program too: one name per line.
	names := strings.Fields(string(out))
	if len(names) == 0 {
		return ""
	}
	for _, n := range names[1:] {
		if n != names[0] {
			return string(out)
		}
	}
	return names[0]
}

// checkHEVCStart demuxes a segment: its PMT says 0x24 and its first video
// access unit is AUD, VPS, SPS, PPS, then an IRAP slice.
func checkHEVCStart(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dmx := astits.NewDemuxer(context.Background(), bytes.NewReader(b))
	sawPMT := false
	for {
		d, err := dmx.NextData()
		if errors.Is(err, astits.ErrNoMorePackets) {
			t.Fatalf("%s: no video", path)
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.PMT != nil {
			for _, es := range d.PMT.ElementaryStreams {
				if es.ElementaryPID == videoPID && es.StreamType != astits.StreamTypeH265Video {
					t.Errorf("%s: video stream type %#x", path, es.StreamType)
				}
			}
			sawPMT = true
		}
		if d.PES == nil || d.PES.Header.StreamID != 0xe0 {
			continue
		}
		if !sawPMT {
			t.Errorf("%s: video before the PMT", path)
		}
		var types []int
		for _, n := range media.SplitAnnexB(d.PES.Data) {
			types = append(types, media.HEVCNaluType(n))
		}
		if len(types) < 5 || types[0] != 35 || types[1] != 32 || types[2] != 33 || types[3] != 34 {
			t.Errorf("%s: first access unit's NAL types %v", path, types)
		}
		irap := false
		for _, ty := range types[4:] {
			irap = irap || (ty >= 16 && ty <= 23)
		}
		if !irap {
			t.Errorf("%s: first access unit has no IRAP: %v", path, types)
		}
		return
	}
}
