package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/queue/embedded"
	"github.com/rewind-vod/rewind/internal/sqstest"
)

// backend opens fresh, empty queues of one implementation and says how its
// clock behaves. Every case gets its own queue.
type backend struct {
	name string
	// open returns a fresh, empty queue whose leases last lease.
	open func(t *testing.T, lease time.Duration) queue.Queue
	// lease is the shortest lease worth testing with (SQS counts seconds).
	lease time.Duration
	// slack is how late an expired lease may make its message receivable
	// (goaws frees messages on a 1 s ticker and long-polls every 100 ms).
	slack time.Duration
	// countsReceives: Attempts grows with every delivery. goaws v0.4.4
	// reports ApproximateReceiveCount as 1 whatever happened (it never
	// increments the counter it reads it from); AWS counts.
	countsReceives bool
}

// backends gives the embedded queue and SQS on one shared goaws.
func backends(t *testing.T) []backend {
	srv := sqstest.Start(t)
	return []backend{
		{
			name: "embedded",
			open: func(t *testing.T, lease time.Duration) queue.Queue {
				q, err := embedded.Open(t.TempDir(), lease)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = q.Close() })
				return q
			},
			lease:          300 * time.Millisecond,
			slack:          150 * time.Millisecond,
			countsReceives: true,
		},
		{
			name:  "sqs",
			open:  func(t *testing.T, lease time.Duration) queue.Queue { return srv.Queue(t, lease) },
			lease: time.Second,
			slack: 1500 * time.Millisecond,
		},
	}
}

// TestConformance runs the same behaviour checks against every backend.
func TestConformance(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b backend, q queue.Queue)
		long bool // a lease no test step outlasts, instead of b.lease
	}{
		{"RoundTrip", testRoundTrip, false},
		{"Redelivery", testRedelivery, false},
		{"Extend", testExtend, false},
		{"ConcurrentReceivers", testConcurrentReceivers, true},
		{"EmptyWait", testEmptyWait, false},
		{"WakeOnSend", testWakeOnSend, false},
		{"ContextCancel", testContextCancel, false},
		{"Close", testClose, false},
		{"InvalidInput", testInvalidInput, false},
		{"SendAfter", testSendAfter, false},
	}
	// The cases mostly wait on leases and long polls, so every case of
	// every backend runs at once: t.Run from goroutines, which (unlike
	// t.Parallel) is not capped at GOMAXPROCS.
	var wg sync.WaitGroup
	for _, b := range backends(t) {
		wg.Go(func() {
			t.Run(b.name, func(t *testing.T) {
				// Queues are created before any case talks to the server
				// (see sqstest.NewQueue).
				qs := make([]queue.Queue, len(cases))
				for i, c := range cases {
					lease := b.lease
					if c.long {
						lease = 30 * time.Second
					}
					qs[i] = b.open(t, lease)
				}
				var cwg sync.WaitGroup
				for i, c := range cases {
					cwg.Go(func() {
						t.Run(c.name, func(t *testing.T) { c.fn(t, b, qs[i]) })
					})
				}
				cwg.Wait()
			})
		})
	}
	wg.Wait()
}

var ctx = context.Background()

func send(t *testing.T, q queue.Queue, body string) string {
	t.Helper()
	id, err := q.Send(ctx, []byte(body))
	if err != nil {
		t.Fatalf("send %q: %v", body, err)
	}
	if id == "" {
		t.Fatalf("send %q: empty id", body)
	}
	return id
}

// receiveOne waits up to wait for exactly one message.
func receiveOne(t *testing.T, q queue.Queue, wait time.Duration) queue.Message {
	t.Helper()
	msgs, err := q.Receive(ctx, 1, wait)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("receive within %v: got %d messages, want 1", wait, len(msgs))
	}
	return msgs[0]
}

func expectNone(t *testing.T, q queue.Queue, wait time.Duration, why string) {
	t.Helper()
	msgs, err := q.Receive(ctx, 10, wait)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(msgs) != 0 {
		t.Fatalf("%s: received %+v", why, msgs)
	}
}

func testRoundTrip(t *testing.T, b backend, q queue.Queue) {
	bodies := map[string]string{} // id -> body
	for _, body := range []string{`{"job":"a"}`, `{"job":"b","note":"<&>\"é"}`, "line1\nline2\ttab 🎬"} {
		bodies[send(t, q, body)] = body
	}

	first, err := q.Receive(ctx, 2, 2*time.Second)
	if err != nil || len(first) == 0 || len(first) > 2 {
		t.Fatalf("receive max 2: %d messages, %v", len(first), err)
	}
	got := append([]queue.Message(nil), first...)
	for deadline := time.Now().Add(5 * time.Second); len(got) < len(bodies) && time.Now().Before(deadline); {
		more, err := q.Receive(ctx, 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, more...)
	}
	if len(got) != len(bodies) {
		t.Fatalf("received %d messages, sent %d", len(got), len(bodies))
	}
	for _, m := range got {
		want, ok := bodies[m.ID]
		if !ok {
			t.Fatalf("received unknown or duplicate id %q", m.ID)
		}
		delete(bodies, m.ID)
		if string(m.Body) != want || m.Attempts != 1 || m.Receipt == "" {
			t.Errorf("message %s: body %q attempts %d receipt %q; want body %q, attempts 1", m.ID, m.Body, m.Attempts, m.Receipt, want)
		}
		if err := q.Delete(ctx, m); err != nil {
			t.Errorf("delete %s: %v", m.ID, err)
		}
	}
	// Deleted messages do not come back once their leases would have ended.
	expectNone(t, q, b.lease+b.slack, "after delete")
}

func testRedelivery(t *testing.T, b backend, q queue.Queue) {
	id := send(t, q, "crashy job")
	first := receiveOne(t, q, 2*time.Second)
	received := time.Now()
	if first.ID != id || first.Attempts != 1 {
		t.Fatalf("first delivery %+v, want id %s attempts 1", first, id)
	}
	// The worker "crashes": no delete, no extend.
	second := receiveOne(t, q, b.lease+b.slack+2*time.Second)
	if early := time.Since(received); early < b.lease-50*time.Millisecond {
		t.Errorf("redelivered after %v, before the %v lease ended", early, b.lease)
	}
	if second.ID != id || string(second.Body) != "crashy job" || second.Receipt == first.Receipt {
		t.Errorf("second delivery %+v after %+v", second, first)
	}
	if b.countsReceives && second.Attempts != 2 {
		t.Errorf("second delivery has Attempts %d, want 2", second.Attempts)
	}
	if !b.countsReceives && second.Attempts < 1 {
		t.Errorf("second delivery has Attempts %d", second.Attempts)
	}
	// The first worker's lease is gone for good.
	if err := q.Extend(ctx, first, 10*time.Second); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("extend with the old receipt: %v, want ErrLeaseLost", err)
	}
	if err := q.Delete(ctx, second); err != nil {
		t.Errorf("delete: %v", err)
	}
}

func testExtend(t *testing.T, b backend, q queue.Queue) {
	send(t, q, "long job")
	m := receiveOne(t, q, 2*time.Second)
	if err := q.Extend(ctx, m, 2*(b.lease+b.slack)); err != nil {
		t.Fatalf("extend: %v", err)
	}
	// Past the original lease (plus slack) the message is still hidden.
	expectNone(t, q, b.lease+b.slack, "extended lease")
	if err := q.Extend(ctx, m, 2*(b.lease+b.slack)); err != nil {
		t.Fatalf("second heartbeat: %v", err)
	}
	if err := q.Delete(ctx, m); err != nil {
		t.Fatalf("delete under an extended lease: %v", err)
	}
}

func testConcurrentReceivers(t *testing.T, _ backend, q queue.Queue) {
	const n, receivers = 20, 4
	for i := range n {
		send(t, q, fmt.Sprintf("job %d", i))
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		seen  = map[string]int{}
		total atomic.Int64
		wg    sync.WaitGroup
	)
	for range receivers {
		wg.Go(func() {
			for total.Load() < n && ctx.Err() == nil {
				msgs, err := q.Receive(ctx, 3, time.Second)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("receive: %v", err)
					}
					return
				}
				mu.Lock()
				for _, m := range msgs {
					seen[m.ID]++
				}
				mu.Unlock()
				total.Add(int64(len(msgs)))
			}
		})
	}
	wg.Wait()
	if len(seen) != n || total.Load() != n {
		t.Errorf("received %d distinct of %d messages in %d deliveries", len(seen), n, total.Load())
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("message %s delivered %d times while leased", id, c)
		}
	}
}

func testEmptyWait(t *testing.T, b backend, q queue.Queue) {
	const wait = time.Second
	start := time.Now()
	expectNone(t, q, wait, "empty queue")
	// SQS rounds waits up to whole seconds: allow that much on top.
	if took := time.Since(start); took < wait-20*time.Millisecond || took > wait+time.Second+b.slack {
		t.Errorf("empty Receive(wait %v) took %v", wait, took)
	}
}

func testWakeOnSend(t *testing.T, _ backend, q queue.Queue) {
	got := make(chan []queue.Message, 1)
	errc := make(chan error, 1)
	go func() {
		msgs, err := q.Receive(ctx, 1, 10*time.Second)
		got <- msgs
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond) // let it block
	sent := time.Now()
	id := send(t, q, "wake up")
	msgs := <-got
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(sent); took > time.Second {
		t.Errorf("a blocked Receive took %v to see a new message", took)
	}
	if len(msgs) != 1 || msgs[0].ID != id {
		t.Fatalf("got %+v, want message %s", msgs, id)
	}
}

func testContextCancel(t *testing.T, _ backend, q queue.Queue) {
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	msgs, err := q.Receive(cctx, 1, 30*time.Second)
	if !errors.Is(err, context.Canceled) || len(msgs) != 0 {
		t.Errorf("canceled Receive: %d messages, %v; want context.Canceled", len(msgs), err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("canceled Receive returned after %v", took)
	}

	dctx, dcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer dcancel()
	if _, err := q.Receive(dctx, 1, 30*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Receive past the ctx deadline: %v", err)
	}
	if _, err := q.Send(dctx, []byte("late")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send with an ended ctx: %v", err)
	}
}

func testClose(t *testing.T, _ backend, q queue.Queue) {
	errc := make(chan error, 1)
	go func() {
		_, err := q.Receive(ctx, 1, 30*time.Second)
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, queue.ErrClosed) {
			t.Errorf("blocked Receive after Close: %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end a blocked Receive")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("blocked Receive ended %v after Close", took)
	}
	if _, err := q.Send(ctx, []byte("x")); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func testInvalidInput(t *testing.T, _ backend, q queue.Queue) {
	for name, body := range map[string]string{
		"empty":    "",
		"nul":      "a\x00b",
		"control":  "bell\x07",
		"bad utf8": "\xff\xfe",
		"too big":  strings.Repeat("x", queue.MaxBodySize+1),
	} {
		if _, err := q.Send(ctx, []byte(body)); !errors.Is(err, queue.ErrInvalidBody) {
			t.Errorf("send %s body: %v, want ErrInvalidBody", name, err)
		}
	}
	if _, err := q.Send(ctx, []byte(strings.Repeat("x", queue.MaxBodySize))); err != nil {
		t.Errorf("send a body of exactly MaxBodySize: %v", err)
	}
	if _, err := q.Receive(ctx, 0, 0); err == nil {
		t.Error("Receive(max 0) must fail")
	}
	m := receiveOne(t, q, 2*time.Second)
	if err := q.Extend(ctx, m, 0); err == nil || errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("Extend by 0: %v, want an argument error", err)
	}
	if err := q.Delete(ctx, m); err != nil {
		t.Error(err)
	}
}

// SendAfter holds a message back for its delay, then it is an ordinary
// first delivery; out-of-range delays are refused.
func testSendAfter(t *testing.T, b backend, q queue.Queue) {
	ds, ok := q.(queue.DelayedSender)
	if !ok {
		t.Fatalf("%T has no SendAfter", q)
	}
	const delay = 3 * time.Second
	sent := time.Now()
	id, err := ds.SendAfter(ctx, []byte("later"), delay)
	if err != nil || id == "" {
		t.Fatalf("send after: %q %v", id, err)
	}
	// SQS rounds a receive's wait up to whole seconds: 1 s stays clear of
	// the delay's end.
	expectNone(t, q, time.Second, "before the delay")
	m := receiveOne(t, q, delay+b.slack+time.Second)
	if early := time.Since(sent); early < delay-50*time.Millisecond {
		t.Errorf("received after %v, before the %v delay", early, delay)
	}
	if m.ID != id || string(m.Body) != "later" || m.Attempts != 1 || m.Receipt == "" {
		t.Errorf("delayed message %+v", m)
	}
	if err := q.Delete(ctx, m); err != nil {
		t.Errorf("delete: %v", err)
	}
	// No delay is Send.
	id, err = ds.SendAfter(ctx, []byte("now"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if m := receiveOne(t, q, 2*time.Second); m.ID != id {
		t.Errorf("got %s, want %s", m.ID, id)
	} else if err := q.Delete(ctx, m); err != nil {
		t.Error(err)
	}
	for _, d := range []time.Duration{-time.Second, queue.MaxDelay + time.Second} {
		if _, err := ds.SendAfter(ctx, []byte("x"), d); err == nil {
			t.Errorf("SendAfter(%v) accepted", d)
		}
	}
	if _, err := ds.SendAfter(ctx, nil, time.Second); !errors.Is(err, queue.ErrInvalidBody) {
		t.Errorf("SendAfter of an empty body: %v, want ErrInvalidBody", err)
	}
}
