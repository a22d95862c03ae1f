package av

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestSeek cuts deep into a part with seeking forced on (and a margin small
// enough to need backing off) and expects the very packets a read from the
// start gives.
func TestSeek(t *testing.T) {
	fx := fixture(t)
	for _, c := range []struct {
		mode     Mode
		from, to time.Duration
	}{
		{ModeCopy, 7100 * time.Millisecond, 10500 * time.Millisecond},
		{ModeCopy, 8080 * time.Millisecond, 9 * time.Second},
		{ModeAccurate, 7100 * time.Millisecond, 10500 * time.Millisecond},
		{ModeAccurate, 11 * time.Second, 11500 * time.Millisecond},
	} {
		t.Run(string(c.mode)+"-"+c.from.String(), func(t *testing.T) {
			parts := []Part{{Path: fx.a, From: c.from, To: c.to}}
			dir := t.TempDir()
			plain := filepath.Join(dir, "plain.ts")
			cut(t, parts, plain, Options{Format: FormatTS, Mode: c.mode})

			defer func(a, m int64) { seekAfter, seekMargin = a, m }(seekAfter, seekMargin)
			seekAfter, seekMargin = 0, ticks(500*time.Millisecond)
			seeked := filepath.Join(dir, "seeked.ts")
			cut(t, parts, seeked, Options{Format: FormatTS, Mode: c.mode})

			// libx264 with threads is not bit-exact run to run: compare the
			// sizes of copied packets only.
			sizes := c.mode == ModeCopy
			a := packetList(t, plain, sizes)
			b := packetList(t, seeked, sizes)
			if len(a) == 0 || !slices.Equal(a, b) {
				t.Errorf("seeking changed the output:\nplain  %v\nseeked %v", a, b)
			}
			checkDecodes(t, seeked)
		})
	}
}

// packetList is a file's packets as "type pts [size]".
func packetList(t *testing.T, path string, sizes bool) []string {
	t.Helper()
	pi := ffprobe(t, path, "-show_entries", "packet=codec_type,pts,size")
	var out []string
	for _, p := range pi.Packets {
		s := p.CodecType + " " + strconv.FormatInt(p.Pts, 10)
		if sizes {
			s += " " + p.Size
		}
		out = append(out, s)
	}
	return out
}
