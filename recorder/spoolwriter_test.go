package recorder

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// writeCounter records each Write it gets.
type writeCounter struct {
	bytes.Buffer
	writes int
	fail   error
}

func (w *writeCounter) Write(p []byte) (int, error) {
	if w.fail != nil {
		return 0, w.fail
	}
	w.writes++
	return w.Buffer.Write(p)
}

func TestSpoolWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var dst writeCounter
	var want []byte
	var sw spoolWriter
	sw.Reset(&dst)
	for batch := range 50 {
		for range rng.IntN(400) {
			n := 188
			if rng.IntN(20) == 0 {
				n = rng.IntN(3 * spoolBuf) // a direct write, or several buffers' worth
			}
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			if k, err := sw.Write(p); k != n || err != nil {
				t.Fatalf("batch %d: Write = %d, %v; want %d", batch, k, err, n)
			}
			want = append(want, p...)
		}
		if err := sw.Flush(); err != nil {
			t.Fatal(err)
		}
		if sw.buf != nil {
			t.Fatalf("batch %d: buffer kept after Flush", batch)
		}
		if !bytes.Equal(dst.Bytes(), want) {
			t.Fatalf("batch %d: %d bytes written, want %d (or not the same)", batch, dst.Len(), len(want))
		}
	}
	if max := len(want)/spoolBuf + 2*50; dst.writes > max {
		t.Errorf("%d writes for %d bytes in 50 batches, want at most %d", dst.writes, len(want), max)
	}

	// A write error sticks until Reset, which drops what is buffered.
	boom := errors.New("disk full")
	dst.fail = boom
	sw.Write(make([]byte, 100))
	if err := sw.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush after a failed write = %v", err)
	}
	if _, err := sw.Write([]byte{1}); !errors.Is(err, boom) {
		t.Fatalf("Write after a failed write = %v", err)
	}
	var next writeCounter
	sw.Reset(&next)
	sw.Write([]byte("ts"))
	if err := sw.Flush(); err != nil || next.String() != "ts" {
		t.Fatalf("after Reset: %q, %v", next.String(), err)
	}
}
