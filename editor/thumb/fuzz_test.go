package thumb

import (
	"bytes"
	"context"
	"image/jpeg"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/internal/mediatest"
)

// FuzzFrame feeds arbitrary segments to Frame: it must return an error or a
// JPEG of the asked width, and never crash. The seed corpus in
// testdata/fuzz/FuzzFrame holds a tiny valid segment and some garbage
// (rewrite it with REWIND_WRITE_FUZZ_SEEDS=1).
func FuzzFrame(f *testing.F) {
	f.Add([]byte(nil), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, atMillis uint16) {
		jpg, err := Frame(context.Background(), data, time.Duration(atMillis)*time.Millisecond, Options{Width: 32})
		if err != nil {
			return
		}
		if !isJPEG(jpg) {
			t.Fatalf("no error and no JPEG: %d bytes", len(jpg))
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(jpg))
		if err != nil {
			t.Fatalf("JPEG does not decode: %v", err)
		}
		if cfg.Width != 32 || cfg.Height < 2 || cfg.Height%2 != 0 {
			t.Fatalf("JPEG is %dx%d, want 32 wide and an even height", cfg.Width, cfg.Height)
		}
	})
}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("REWIND_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set REWIND_WRITE_FUZZ_SEEDS=1 to rewrite the seed corpus")
	}
	mediatest.Require(t)
	// 0.5 s of 64x48 with keyframes at 0 and 0.28 s, B-frames, and mono AAC:
	// the recorder's shape at the smallest size that still covers it.
	ts := filepath.Join(t.TempDir(), "tiny.ts")
	if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000",
		"-t", "0.5", "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "7", "-keyint_min", "7",
		"-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "12k", "-ac", "1",
		"-f", "mpegts", "-y", ts).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	tiny, err := os.ReadFile(ts)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewSource(7))
	junk := make([]byte, 300)
	rnd.Read(junk)
	syncJunk := make([]byte, 3*188)
	rnd.Read(syncJunk)
	for i := 0; i < len(syncJunk); i += 188 {
		syncJunk[i] = 0x47
	}
	seeds := map[string]struct {
		data []byte
		at   uint16
	}{
		"tiny_ts":   {tiny, 300},
		"empty":     {nil, 0},
		"junk":      {junk, 0},
		"sync_junk": {syncJunk, 1000},
		"playlist":  {[]byte("#EXTM3U\n#EXT-X-TARGETDURATION:4\n"), 0},
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzFrame")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range seeds {
		// QuoteToASCII round-trips every byte: valid UTF-8 comes back from
		// its \u escape, anything else is written as \x.
		body := "go test fuzz v1\n[]byte(" + strconv.QuoteToASCII(string(s.data)) + ")\nuint16(" + strconv.Itoa(int(s.at)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed_"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
