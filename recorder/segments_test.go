package recorder

import (
	"testing"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// Per-stream segment durations: the stream's entry over its app's over
// "*", else the configured one; the hard maximum keeps its ratio.
func TestSegmentDurationsPerStream(t *testing.T) {
	c := Config{Spool: t.TempDir(), SegmentDuration: 2 * time.Second, MaxSegmentDuration: 5 * time.Second,
		SegmentDurations: map[string]time.Duration{"live": 4 * time.Second, "live/cam2": time.Second, "*": 3 * time.Second}}
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	for stream, want := range map[string][2]time.Duration{
		"live/cam":  {4 * time.Second, 10 * time.Second},
		"live/cam2": {time.Second, 2500 * time.Millisecond},
		"other/x":   {3 * time.Second, 7500 * time.Millisecond},
	} {
		s, _ := catalog.ParseStream(stream)
		if target, hardMax := c.segmentsFor(s); target != want[0] || hardMax != want[1] {
			t.Errorf("%s: %s %s, want %s %s", stream, target, hardMax, want[0], want[1])
		}
	}
	c.SegmentDurations = nil
	if target, hardMax := c.segmentsFor(catalog.Stream{App: "live", Name: "cam"}); target != 2*time.Second || hardMax != 5*time.Second {
		t.Errorf("no overrides: %s %s", target, hardMax)
	}
	bad := Config{Spool: t.TempDir(), SegmentDurations: map[string]time.Duration{"live": 0}}
	if err := bad.defaults(); err == nil {
		t.Error("a zero segment duration was accepted")
	}
}
