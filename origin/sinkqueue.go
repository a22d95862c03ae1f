package origin

import (
	"fmt"
	"log/slog"
	"runtime/debug"
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
// full the frame is dropped for this sink only.
type sinkQueue struct {
	name    string
	ss      SinkStream
	ch      chan media.Frame
	log     *slog.Logger
	metric  prometheus.Counter
	dropped atomic.Uint64
	lastLog atomic.Int64 // unix nanos of the last "dropping" log line
}

func newSinkQueue(name string, ss SinkStream, size int, log *slog.Logger, metric prometheus.Counter) *sinkQueue {
	return &sinkQueue{name: name, ss: ss, ch: make(chan media.Frame, size), log: log, metric: metric}
}

// push never blocks. Callers serialize push and close (publication.mu).
func (q *sinkQueue) push(f media.Frame) {
	select {
	case q.ch <- f:
	default:
		n := q.dropped.Add(1)
		q.metric.Inc()
		now := time.Now().UnixNano()
		last := q.lastLog.Load()
		if now-last >= int64(time.Second) && q.lastLog.CompareAndSwap(last, now) {
			q.log.Warn("sink too slow, dropping frames", "sink", q.name, "dropped", n, "queue", cap(q.ch))
		}
	}
}

// close ends the input; run drains what is queued and closes the sink.
func (q *sinkQueue) close() { close(q.ch) }

// run delivers frames until the queue is closed and drained, then closes the
// SinkStream. A panicking sink is cut off (its remaining frames are
// discarded) but still closed, and the origin keeps running.
func (q *sinkQueue) run() {
	broken := false
	for f := range q.ch {
		if broken {
			continue
		}
		if !q.safely("WriteFrame", func() { q.ss.WriteFrame(f) }) {
			broken = true
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
