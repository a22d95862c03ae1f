package origin

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rewind-vod/rewind/media"
)

// namedSink is a configured sink with the name used in metrics and Live().
type namedSink struct {
	name string
	Sink
}

// sinkNames names the sinks: Name() when a sink has one, else its Go type;
// duplicates get "#2", "#3"... so that metric series stay distinct.
func sinkNames(sinks []Sink) []namedSink {
	out := make([]namedSink, 0, len(sinks))
	seen := map[string]int{}
	for _, s := range sinks {
		name := fmt.Sprintf("%T", s)
		if n, ok := s.(interface{ Name() string }); ok && n.Name() != "" {
			name = n.Name()
		}
		if len(name) > 0 && name[0] == '*' {
			name = name[1:]
		}
		seen[name]++
		if k := seen[name]; k > 1 {
			name = fmt.Sprintf("%s#%d", name, k)
		}
		out = append(out, namedSink{name: name, Sink: s})
	}
	return out
}

// sinkQueue feeds one SinkStream from its own goroutine through a bounded
// queue, so that the RTMP handler never waits for a sink: when the queue is
// full the frame is dropped for this sink only. The queue is a ring that
// grows (by doubling) up to its bound only when the sink falls behind, and
// gives the room back once drained: a sink that keeps up holds a few frames,
// not the bound's worth of slots.
type sinkQueue struct {
	name    string
	ss      SinkStream
	bound   int
	log     *slog.Logger
	metric  prometheus.Counter
	dropped atomic.Uint64
	lastLog atomic.Int64 // unix nanos of the last "dropping" log line

	// inline: ss never blocks (inlineSink), so push hands it each frame
	// on the publisher's goroutine and run only closes it; broken is set
	// once it panicked (under the callers' serialization of push).
	inline bool
	broken bool

	mu     sync.Mutex
	ring   []media.Frame // len is a power of two, or 0
	head   int           // index of the oldest frame
	n      int           // frames queued
	closed bool
	wake   chan struct{} // cap 1: something was queued, or closed
}

// queueStart is the ring's first size; queueKeep the largest it keeps
// once drained.
const (
	queueStart = 64
	queueKeep  = 256
)

func newSinkQueue(name string, ss SinkStream, size int, log *slog.Logger, metric prometheus.Counter) *sinkQueue {
	q := &sinkQueue{name: name, ss: ss, bound: max(size, 1), log: log, metric: metric, wake: make(chan struct{}, 1)}
	if in, ok := ss.(inlineSink); ok && in.Inline() {
		q.inline = true
	}
	return q
}

// inlineSink is a SinkStream whose WriteFrame never waits (Players' feed:
// it only queues references for its players and drops the slow ones). A
// queue and a goroutine wake-up per frame would cost more than the call.
type inlineSink interface {
	Inline() bool
}

// push never blocks. Callers serialize push and close (publication.mu).
func (q *sinkQueue) push(f media.Frame) {
	if q.inline {
		if !q.broken && !q.safely("WriteFrame", func() { q.ss.WriteFrame(f) }) {
			q.broken = true
		}
		return
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if q.n >= q.bound {
		q.mu.Unlock()
		q.drop()
		return
	}
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)&(len(q.ring)-1)] = f
	q.n++
	q.mu.Unlock()
	q.signal()
}

// grow doubles the ring (up to the bound's power of two); under q.mu.
func (q *sinkQueue) grow() {
	size := queueStart
	if len(q.ring) > 0 {
		size = 2 * len(q.ring)
	}
	for size < q.n+1 {
		size *= 2
	}
	ring := make([]media.Frame, size)
	for i := range q.n {
		ring[i] = q.ring[(q.head+i)&(len(q.ring)-1)]
	}
	q.ring, q.head = ring, 0
}

func (q *sinkQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *sinkQueue) drop() {
	n := q.dropped.Add(1)
	q.metric.Inc()
	now := time.Now().UnixNano()
	last := q.lastLog.Load()
	if now-last >= int64(time.Second) && q.lastLog.CompareAndSwap(last, now) {
		q.log.Warn("sink too slow, dropping frames", "sink", q.name, "dropped", n, "queue", q.bound)
	}
}

// close ends the input; run drains what is queued and closes the sink.
func (q *sinkQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// batchSink is a SinkStream that takes its frames in batches (the
// recorder, which writes its spool file once a batch): its goroutine is
// woken at most every BatchDelay, not once a frame, and Flush is called
// after each batch, on the goroutine that calls WriteFrame.
type batchSink interface {
	BatchDelay() time.Duration
	Flush()
}

// pop takes the oldest frame; ok is false when there is none, and closed
// then says whether none will come.
func (q *sinkQueue) pop() (f media.Frame, ok, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return media.Frame{}, false, q.closed
	}
	i := q.head
	f = q.ring[i]
	q.ring[i] = media.Frame{} // the payload is the sink's now, not the ring's
	q.head = (i + 1) & (len(q.ring) - 1)
	q.n--
	if q.n == 0 {
		q.head = 0
		if len(q.ring) > queueKeep {
			q.ring = nil // a burst is over: give its room back
		}
	}
	return f, true, false
}

// run delivers frames until the queue is closed and drained, then closes the
// SinkStream. A panicking sink is cut off (its remaining frames are
// discarded) but still closed, and the origin keeps running.
func (q *sinkQueue) run() {
	bs, _ := q.ss.(batchSink)
	var delay time.Duration
	if bs != nil {
		delay = bs.BatchDelay()
	}
	broken, dirty := false, false
	if q.inline {
		for {
			q.mu.Lock()
			closed := q.closed
			q.mu.Unlock()
			if closed {
				break
			}
			<-q.wake
		}
		q.safely("Close", q.ss.Close)
		return
	}
	for {
		f, ok, closed := q.pop()
		if ok {
			if !broken && !q.safely("WriteFrame", func() { q.ss.WriteFrame(f) }) {
				broken = true
			}
			dirty = true
			continue
		}
		if bs != nil && dirty && !broken && !q.safely("Flush", bs.Flush) {
			broken = true
		}
		dirty = false
		if closed {
			break
		}
		<-q.wake
		if delay > 0 {
			time.Sleep(delay) // let the batch gather
		}
	}
	q.safely("Close", q.ss.Close)
}

func (q *sinkQueue) safely(what string, fn func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("sink panicked", "sink", q.name, "in", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	fn()
	return true
}
