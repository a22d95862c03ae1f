package origin

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/internal/rtmpclient"
	"github.com/rewind-vod/rewind/media"
)

// Players joining mid-stream get the same frames, on the run's own
// timeline, from one encoding of each frame; a player that stayed across
// a new run gets that run's frames with its timestamps moved on, so from
// encodings of its own, and a player joining the new run gets the run's
// own timestamps from the shared ones.
func TestPlayersShareEncodings(t *testing.T) {
	players := NewPlayers(PlayersConfig{ReconnectGrace: 10 * time.Second}, testLogger(t), nil)
	base := flvServer(t, players)
	stop := synthPublish(t, players, "live", "cam")
	url := base + "/live/cam.flv"
	a := playFLV(t, url)
	a.waitFrames(t, 30)
	b := playFLV(t, url) // mid-GOP: starts on the cached keyframe
	b.waitFrames(t, 30)
	fa, fb := a.snapshot(), b.snapshot()
	checkStartsOnKeyframe(t, fa)
	checkStartsOnKeyframe(t, fb)
	// b's frames are a's from where b starts: same times, same bytes.
	at := -1
	for i, f := range fa {
		if f.Type == media.FrameVideo && media.IsVideoKeyframe(f.Payload) && f.Timestamp == firstPicture(fb).Timestamp {
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("b's first picture (%d ms) is not among a's", firstPicture(fb).Timestamp)
	}
	pics := func(fs []media.Frame) []media.Frame {
		var out []media.Frame
		for _, f := range fs {
			if f.Type == media.FrameVideo && !media.IsAVCSeqHeader(f.Payload) {
				out = append(out, f)
			}
		}
		return out
	}
	pa, pb := pics(fa[at:]), pics(fb)
	n := min(len(pa), len(pb))
	if n < 10 {
		t.Fatalf("%d pictures in common", n)
	}
	for i := range n {
		if pa[i].Timestamp != pb[i].Timestamp || !bytes.Equal(pa[i].Payload, pb[i].Payload) {
			t.Fatalf("picture %d: a %d ms, b %d ms", i, pa[i].Timestamp, pb[i].Timestamp)
		}
	}
	// What the stream keeps for new players was encoded once, for both.
	ls := players.lookup("live/cam")
	ls.mu.Lock()
	gop := append([]taggedFrame(nil), ls.gop...)
	ls.mu.Unlock()
	shared := 0
	for _, tf := range gop {
		if tag, ok := tf.enc.flvTag(tf.Frame); ok && tf.enc.flv != nil {
			if !bytes.Equal(tag, appendTag(nil, tf.Frame)) {
				t.Fatalf("shared tag of the %d ms frame differs from its own encoding", tf.Timestamp)
			}
			shared++
		}
	}
	if shared == 0 {
		t.Errorf("none of the %d cached frames has a shared FLV tag", len(gop))
	}

	// A new run at its own timestamps (from 0): a goes on after its last
	// tag; c, joining the new run, gets the run's own times.
	stop()
	lastA := fa[len(fa)-1].Timestamp
	before := len(a.snapshot())
	lastA = a.snapshot()[before-1].Timestamp
	synthPublish(t, players, "live", "cam")
	c := playFLV(t, url)
	fc := c.waitFrames(t, 30)
	fa = a.waitFrames(t, before+60)
	checkStartsOnKeyframe(t, fc)
	if first := firstPicture(fc).Timestamp; first > 1000 {
		t.Errorf("c's first picture at %d ms, want the new run's own time", first)
	}
	var prev uint32
	for i, f := range fa {
		if f.Type == media.FrameData {
			continue
		}
		if i > 0 && f.Timestamp < prev {
			t.Fatalf("a went back from %d to %d ms at tag %d", prev, f.Timestamp, i)
		}
		prev = f.Timestamp
	}
	next := firstPicture(fa[before:])
	if next.Timestamp <= lastA || next.Timestamp > lastA+spliceStepMax+20 {
		t.Errorf("a's first picture of the new run at %d ms, after its last tag at %d ms", next.Timestamp, lastA)
	}
	// The same picture went to c at its own time and to a later.
	pc, pa2 := pics(fc), pics(fa[before:])
	found := false
	for _, x := range pa2 {
		for _, y := range pc {
			if bytes.Equal(x.Payload, y.Payload) && x.Timestamp-y.Timestamp == next.Timestamp-firstPicture(pc).Timestamp {
				found = true
			}
		}
	}
	if len(pc) == 0 || !found {
		t.Errorf("no picture of the new run went to both at the offset %d ms", next.Timestamp-firstPicture(pc).Timestamp)
	}
	// a's tags of the new run are encodings at its own timestamps, kept
	// with the frames for other players that moved the same way.
	ls.mu.Lock()
	gop = append([]taggedFrame(nil), ls.gop...)
	ls.mu.Unlock()
	moved := 0
	for _, tf := range gop {
		tf.enc.mu.Lock()
		for _, alt := range tf.enc.alts {
			f := tf.Frame
			f.Timestamp = alt.ts
			if alt.rtmp || !bytes.Equal(alt.b, appendTag(nil, f)) {
				t.Errorf("the %d ms frame's encoding at %d ms is not its FLV tag at that time", tf.Timestamp, alt.ts)
			}
			moved++
		}
		tf.enc.mu.Unlock()
	}
	if moved == 0 {
		t.Errorf("none of the new run's %d cached frames has an encoding at a moved timestamp", len(gop))
	}
}

// firstPicture is the first video frame that is not a sequence header.
func firstPicture(fs []media.Frame) media.Frame {
	for _, f := range fs {
		if f.Type == media.FrameVideo && !media.IsAVCSeqHeader(f.Payload) {
			return f
		}
	}
	return media.Frame{}
}

// Pictures larger than a chunk, at timestamps past 0xFFFFFF ms (4.66
// hours, the extended timestamp of every chunk), play over RTMP and
// HTTP-FLV: ffmpeg decodes them, at the publisher's times.
func TestPlayBigFramesExtendedTimestamps(t *testing.T) {
	t.Parallel()
	players := NewPlayers(PlayersConfig{}, testLogger(t), nil)
	ts := startServer(t, Config{}, players)
	base := flvServer(t, players)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "30",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-b:v", "8M", "-c:a", "aac",
		"-output_ts_offset", "16775", "-f", "flv", ts.url("live/big"))
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	defer pub.Wait()
	waitFor(t, 10*time.Second, "live", func() bool { return len(ts.srv.Live()) == 1 })
	time.Sleep(time.Second)
	for proto, url := range map[string]string{"rtmp": ts.url("live/big"), "http-flv": base + "/live/big.flv"} {
		// 4 s from about 16776 s: across 16777.215 s.
		out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-read_intervals", "%+4", "-select_streams", "v",
			"-show_entries", "packet=dts_time,size,flags", "-of", "csv=p=0", url).Output()
		if err != nil {
			t.Fatalf("%s: ffprobe: %v", proto, err)
		}
		var prev, first, last float64
		big := 0
		lines := strings.Fields(string(out))
		for i, line := range lines {
			v := strings.Split(line, ",")
			if len(v) < 2 {
				continue
			}
			dts, err1 := strconv.ParseFloat(v[0], 64)
			size, err2 := strconv.Atoi(v[1])
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: ffprobe line %q", proto, line)
			}
			if i > 0 && dts < prev {
				t.Errorf("%s: dts back from %.3f to %.3f", proto, prev, dts)
			}
			if i == 0 {
				first = dts
			}
			prev, last = dts, dts
			if size > 64<<10 {
				big++
			}
		}
		if len(lines) < 50 || first < 16775 || last < 16777.3 || last > 16790 {
			t.Errorf("%s: %d packets, dts %.3f to %.3f, want 4 s across 16777.215", proto, len(lines), first, last)
		}
		if big == 0 {
			t.Errorf("%s: no picture over 64 KiB: the test needs some", proto)
		}
		dec, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-i", url, "-t", "3", "-f", "null", "-").CombinedOutput()
		if err != nil || len(bytes.TrimSpace(dec)) > 0 {
			t.Errorf("%s: ffmpeg decode: %v\n%s", proto, err, dec)
		}
	}
}

// An RTMP player that stops reading is dropped; the publisher and an RTMP
// player alongside it go on untouched (their bytes are shared with it).
func TestSlowRTMPPlayerDropped(t *testing.T) {
	t.Parallel()
	players := NewPlayers(PlayersConfig{Queue: 64}, testLogger(t), nil)
	rec := newTestSink("rec")
	ts := startServer(t, Config{}, rec, players)
	pub := ffmpeg(t, ts.url("live/cam"), 8)
	waitFor(t, 5*time.Second, "live", func() bool { return len(ts.srv.Live()) == 1 })
	// The stalled player: a tiny receive buffer before the handshake,
	// then nothing read past the play.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
		return serr
	}}
	c, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := rtmpclient.New(c).Play("live", "cam", "LNX 9,0,124,2"); err != nil {
		t.Fatal(err)
	}
	// The healthy player decodes all the way to the end of the stream.
	goodFile := filepath.Join(t.TempDir(), "good.flv")
	good := make(chan error, 1)
	var goodOut []byte
	go func() {
		var err error
		goodOut, err = exec.Command("ffmpeg", "-v", "error", "-rw_timeout", "10000000", "-i", ts.url("live/cam"), "-c", "copy", "-f", "flv", goodFile).CombinedOutput()
		good <- err
	}()
	if err := pub.wait(t); err != nil {
		t.Fatal(err)
	}
	if pub.duration() > 11*time.Second {
		t.Errorf("an 8 s publish took %v", pub.duration())
	}
	goodErr := <-good
	// ffmpeg reports the connection's end (the stream's) as an I/O error.
	var complaints []string
	for _, line := range strings.Split(string(goodOut), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, "Input/output error") && !strings.HasPrefix(line, "Last message repeated") {
			complaints = append(complaints, line)
		}
	}
	if goodErr != nil || len(complaints) > 0 {
		t.Errorf("the healthy player: %v\n%s", goodErr, goodOut)
	}
	if dec, err := exec.Command("ffmpeg", "-v", "error", "-i", goodFile, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(dec)) > 0 {
		t.Errorf("the healthy player's stream: ffmpeg decode: %v\n%s", err, dec)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-select_streams", "v", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", goodFile).Output()
	// An 8 s publish at 25 fps, joined within its first second or two.
	if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); err != nil || n < 120 {
		t.Errorf("the healthy player got %q pictures (%v), want most of 200", out, err)
	}
	if n := testutil.ToFloat64(players.dropped); n != 1 {
		t.Errorf("%v players dropped, want the stalled one", n)
	}
	// The stalled one's connection was closed by the origin.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("the stalled player's connection is still open")
			}
			break
		}
	}
	waitFor(t, 5*time.Second, "run closed", func() bool { return rec.runsFor("live", "cam")[0].closed })
	r := rec.runsFor("live", "cam")[0]
	in := ts.metric(t, "rewind_origin_frames_in_total")
	if got := r.frames[media.FrameVideo] + r.frames[media.FrameAudio] + r.frames[media.FrameData]; float64(got) != in || got == 0 {
		t.Errorf("the recorder sink got %d frames of %v received", got, in)
	}
}

// Frames go to the players once MergeWrite of media has come, in their
// order; metadata and sequence headers at once, so a player joining at
// the start of a run gets them.
func TestMergeWrite(t *testing.T) {
	for _, merge := range []time.Duration{100 * time.Millisecond, -1} {
		players := NewPlayers(PlayersConfig{MergeWrite: merge}, testLogger(t), nil)
		ss, err := players.Open(media.StreamInfo{App: "live", Name: "cam", Run: "run", Node: "test", StartedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ls := players.lookup("live/cam")
		pl := &player{ch: make(chan taggedFrame, 64), gone: make(chan struct{})}
		if _, _, ok := ls.join(pl); !ok {
			t.Fatal("join refused")
		}
		got := func() (ts []uint32) {
			for {
				select {
				case tf := <-pl.ch:
					ts = append(ts, tf.Timestamp)
				default:
					return ts
				}
			}
		}
		ss.WriteFrame(media.Frame{Type: media.FrameData, Payload: synthMeta})
		ss.WriteFrame(media.Frame{Type: media.FrameVideo, Payload: synthAVCHdr})
		ss.WriteFrame(media.Frame{Type: media.FrameAudio, Payload: synthAACHdr})
		if n := len(got()); n != 3 {
			t.Errorf("merge %v: %d of the 3 start frames went out", merge, n)
		}
		if _, hasVideo, _ := ls.join(&player{ch: make(chan taggedFrame, 64), gone: make(chan struct{})}); !hasVideo {
			t.Errorf("merge %v: a player joining after the AVC header is told there is no video", merge)
		}
		var out []uint32
		for i := range 5 {
			v := synthInter
			if i == 0 {
				v = synthKey
			}
			ss.WriteFrame(media.Frame{Type: media.FrameVideo, Timestamp: uint32(i * 20), Payload: v})
			ss.WriteFrame(media.Frame{Type: media.FrameAudio, Timestamp: uint32(i*20 + 10), Payload: synthAACData})
			out = append(out, got()...)
		}
		if merge > 0 && len(out) != 0 {
			t.Errorf("merge %v: %v went out before 100 ms of media had come", merge, out)
		}
		if merge < 0 && len(out) != 10 {
			t.Errorf("merge %v: %d of 10 frames went out at once", merge, len(out))
		}
		ss.WriteFrame(media.Frame{Type: media.FrameVideo, Timestamp: 100, Payload: synthInter})
		out = append(out, got()...)
		want := []uint32{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
		if !slices.Equal(out, want) {
			t.Errorf("merge %v: frames went out at %v, want %v", merge, out, want)
		}
		// What is held when the run ends goes out before the players end.
		ss.WriteFrame(media.Frame{Type: media.FrameAudio, Timestamp: 110, Payload: synthAACData})
		ss.Close()
		if out := got(); len(out) != 1 || out[0] != 110 {
			t.Errorf("merge %v: at the end %v went out, want [110]", merge, out)
		}
		select {
		case <-pl.gone:
		default:
			t.Errorf("merge %v: the player did not end with the run", merge)
		}
	}
}
