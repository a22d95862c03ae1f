package av

import (
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

func TestSPSID(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		id   int
		ok   bool
	}{
		// AUD, then an SPS (High, level 1.3) with id 0: ue "1".
		{"id 0", []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9}, 0, true},
		// id 1: ue "010"; id 5: ue "00110".
		{"id 1", []byte{0, 0, 1, 0x67, 0x4d, 0x40, 0x1f, 0x40}, 1, true},
		{"id 5", []byte{0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0x30}, 5, true},
		// Emulation prevention inside constraint/level bytes is skipped.
		{"escaped", []byte{0, 0, 1, 0x67, 0x42, 0x00, 0x00, 0x03, 0x40}, 1, true},
		{"no sps", []byte{0, 0, 0, 1, 0x65, 0x88, 0x84}, 0, false},
		{"empty", nil, 0, false},
	} {
		id, ok := spsID(c.in)
		if id != c.id || ok != c.ok {
			t.Errorf("%s: spsID = %d, %v; want %d, %v", c.name, id, ok, c.id, c.ok)
		}
	}
}

func TestTicks(t *testing.T) {
	for _, d := range []time.Duration{0, 40 * time.Millisecond, 3100 * time.Millisecond, 30 * time.Hour} {
		tk := ticks(d)
		if back := duration(tk); back != d {
			t.Errorf("duration(ticks(%s)) = %s", d, back)
		}
	}
	if got := ticks(time.Second); got != 90000 {
		t.Errorf("ticks(1s) = %d", got)
	}
}

func TestX264Names(t *testing.T) {
	if got := x264Level(31); got != "3.1" {
		t.Errorf("x264Level(31) = %q", got)
	}
	if got := x264Level(-99); got != "" {
		t.Errorf("x264Level(unknown) = %q", got)
	}
}

func TestX265Names(t *testing.T) {
	for l, want := range map[astiav.Level]string{93: "3.1", 120: "4.0", 153: "5.1", 0: "", 31: ""} {
		if got := x265Level(l); got != want {
			t.Errorf("x265Level(%d) = %q, want %q", l, got, want)
		}
	}
	if got := x265Profile(astiav.ProfileHevcMain10); got != "main10" {
		t.Errorf("x265Profile(Main 10) = %q", got)
	}
	if got := x265Profile(astiav.ProfileHevcRext); got != "" {
		t.Errorf("x265Profile(RExt) = %q, want none", got)
	}
}
