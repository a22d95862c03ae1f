package origin

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/media"
)

// gatedSink records what it gets, each WriteFrame waiting for the gate.
type gatedSink struct {
	gate   chan struct{}
	mu     sync.Mutex
	got    []uint32
	closed bool
}

func (s *gatedSink) WriteFrame(f media.Frame) {
	<-s.gate
	s.mu.Lock()
	s.got = append(s.got, f.Timestamp)
	s.mu.Unlock()
}

func (s *gatedSink) Close() { s.mu.Lock(); s.closed = true; s.mu.Unlock() }

// TestSinkQueueRing fills a stalled sink's queue past its bound, through
// a wrap of the ring (frames were taken from its head) and several
// growths: the frames up to the bound come out in order, the rest are
// dropped and counted, and close drains the queue before the sink is
// closed.
func TestSinkQueueRing(t *testing.T) {
	const bound = 300 // not a power of two: the ring is larger than the bound
	sink := &gatedSink{gate: make(chan struct{})}
	drops := prometheus.NewCounter(prometheus.CounterOpts{Name: "drops"})
	q := newSinkQueue("gated", sink, bound, slog.New(slog.DiscardHandler), drops)
	done := make(chan struct{})
	go func() { q.run(); close(done) }()

	ts := uint32(0)
	push := func(n int) {
		for range n {
			ts++
			q.push(media.Frame{Type: media.FrameVideo, Timestamp: ts})
		}
	}
	push(11)
	for range 5 {
		sink.gate <- struct{}{} // frames 1-5 through: the ring's head moved on
	}
	// 6-11 are queued (6 perhaps already held by the stalled sink); the
	// pushes wrap around the 64-slot ring, grow it, then hit the bound.
	push(bound + 50)
	close(sink.gate)
	q.close()
	<-done

	sink.mu.Lock()
	got, closed := sink.got, sink.closed
	sink.mu.Unlock()
	accepted := len(got) - 11
	if accepted != bound-6 && accepted != bound-5 {
		t.Fatalf("%d of the later frames delivered, want %d (the bound less 6-11, +1 if the sink held 6)", accepted, bound-6)
	}
	for i, v := range got {
		if v != uint32(i+1) {
			t.Fatalf("frame %d has timestamp %d: order lost", i, v)
		}
	}
	if d := int(testutil.ToFloat64(drops)); d != bound+50-accepted {
		t.Errorf("%d drops counted, want %d", d, bound+50-accepted)
	}
	if !closed {
		t.Error("sink not closed after the drain")
	}
	if len(q.ring) > queueKeep {
		t.Errorf("ring of %d slots kept after the drain", len(q.ring))
	}
	q.push(media.Frame{Timestamp: 1}) // after close: ignored
	if q.n != 0 {
		t.Error("a frame was queued after close")
	}
}

// batchRec is a batch sink: it logs frames, flushes and the close.
type batchRec struct {
	mu  sync.Mutex
	log []string
}

func (b *batchRec) add(e string)              { b.mu.Lock(); b.log = append(b.log, e); b.mu.Unlock() }
func (b *batchRec) WriteFrame(f media.Frame)  { b.add(fmt.Sprint(f.Timestamp)) }
func (b *batchRec) Close()                    { b.add("close") }
func (b *batchRec) Flush()                    { b.add("flush") }
func (b *batchRec) BatchDelay() time.Duration { return time.Millisecond }

// TestSinkQueueBatches: a batch sink gets every frame in order, a Flush
// after its frames (never two in a row: one per batch), and a last Flush
// after the last frame, before Close.
func TestSinkQueueBatches(t *testing.T) {
	sink := &batchRec{}
	q := newSinkQueue("batch", sink, 100, slog.New(slog.DiscardHandler), prometheus.NewCounter(prometheus.CounterOpts{Name: "d"}))
	done := make(chan struct{})
	go func() { q.run(); close(done) }()
	for i := 1; i <= 50; i++ {
		q.push(media.Frame{Timestamp: uint32(i)})
	}
	q.close()
	<-done
	next := 1
	for i, e := range sink.log {
		switch e {
		case "flush":
			if i > 0 && sink.log[i-1] == "flush" {
				t.Errorf("two flushes in a row at %d: %v", i, sink.log)
			}
		case "close":
			if i != len(sink.log)-1 || i == 0 || sink.log[i-1] != "flush" {
				t.Errorf("close at %d is not last after a flush: %v", i, sink.log)
			}
		default:
			if e != fmt.Sprint(next) {
				t.Fatalf("event %d is frame %s, want %d", i, e, next)
			}
			next++
		}
	}
	if next != 51 {
		t.Errorf("%d frames delivered, want 50", next-1)
	}
}

// batchSinkOf opens batchRec streams.
type batchSinkOf struct{ b *batchRec }

func (s batchSinkOf) Open(media.StreamInfo) (SinkStream, error) { return s.b, nil }

// The recording control sits between the queue and the recorder: the
// recorder's batching (its delay, the flush after each batch) goes through.
func TestRecordControlPassesBatching(t *testing.T) {
	b := &batchRec{}
	rc := newRecordControl(batchSinkOf{b}, nil, slog.New(slog.DiscardHandler), nil)
	ss, err := rc.Open(media.StreamInfo{App: "live", Name: "cam", Run: "20261202T060000.000Z-n1-ab12"})
	if err != nil {
		t.Fatal(err)
	}
	bs, ok := ss.(batchSink)
	if !ok || bs.BatchDelay() != time.Millisecond {
		t.Fatalf("the control's stream hides the recorder's batching (%T)", ss)
	}
	q := newSinkQueue("recorder", ss, 100, slog.New(slog.DiscardHandler), prometheus.NewCounter(prometheus.CounterOpts{Name: "d"}))
	done := make(chan struct{})
	go func() { q.run(); close(done) }()
	q.push(media.Frame{Type: media.FrameAudio, Timestamp: 1})
	q.close()
	<-done
	if got := strings.Join(b.log, " "); got != "1 flush close" {
		t.Fatalf("recorder saw %q, want a frame, a flush and the close", got)
	}
}
