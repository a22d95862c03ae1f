package embedded

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/infra/queue"
)

// Queue is the in-process queue of `rewind dev`: messages live in memory
// and, one JSON file each, in a folder, so a restart (even kill -9) loses
// neither queued nor in-flight jobs. Every change is on disk before the
// call returns. Only one process may use a folder at a time.
//
// Receive hands out the oldest receivable messages first. Work per call is
// linear in the number of messages, which suits a development queue.
type Queue struct {
	dir   msgDir
	lease time.Duration

	mu   sync.Mutex
	msgs []*record          // in send order
	byID map[string]*record // the same records
	// changed is closed (and replaced) whenever a message may have become
	// receivable or a lease end moved, waking blocked receivers.
	changed chan struct{}
	closed  bool
	done    chan struct{} // closed by Close
}

var _ queue.Queue = (*Queue)(nil)

// OpenDir opens (creating it if needed) the queue kept in dir; received
// messages are leased for lease. Messages already in dir are loaded with
// their delivery counts and leases, so a message whose lease ran out while
// the process was down is receivable at once, with Attempts+1.
func Open(dir string, lease time.Duration) (*Queue, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("queue: open %s: lease %v must be positive", dir, lease)
	}
	d, err := openMsgDir(dir)
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", dir, err)
	}
	recs, err := d.load()
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", dir, err)
	}
	slices.SortFunc(recs, func(a, b *record) int {
		return cmp.Or(a.Sent.Compare(b.Sent), cmp.Compare(a.ID, b.ID))
	})
	q := &Queue{
		dir:     d,
		lease:   lease,
		msgs:    recs,
		byID:    make(map[string]*record, len(recs)),
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	for _, r := range recs {
		q.byID[r.ID] = r
	}
	return q, nil
}

// Dir is the absolute folder holding the messages.
func (q *Queue) Dir() string { return q.dir.path }

var _ queue.DelayedSender = (*Queue)(nil)

// Send stores the message durably, then wakes a waiting receiver.
func (q *Queue) Send(ctx context.Context, body []byte) (string, error) {
	return q.SendAfter(ctx, body, 0)
}

// SendAfter stores a message that becomes receivable delay from now: it
// is kept as if leased until then by nobody (no receipt, no delivery
// counted), so the delay survives a restart.
func (q *Queue) SendAfter(ctx context.Context, body []byte, delay time.Duration) (string, error) {
	if err := queue.ValidateBody(body); err != nil {
		return "", fmt.Errorf("queue: send: %w", err)
	}
	if err := queue.CheckDelay(delay); err != nil {
		return "", fmt.Errorf("queue: send: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("queue: send: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return "", fmt.Errorf("queue: send: %w", queue.ErrClosed)
	}
	now := time.Now()
	id := newID(now)
	for q.byID[id] != nil {
		id = newID(now)
	}
	r := &record{V: recordVersion, ID: id, Body: string(body), Sent: now}
	if delay > 0 {
		r.LeaseUntil = now.Add(delay)
	}
	if err := q.dir.write(r); err != nil {
		return "", fmt.Errorf("queue: send: %w", err)
	}
	q.msgs = append(q.msgs, r)
	q.byID[id] = r
	q.notifyLocked()
	return id, nil
}

// Receive takes up to max receivable messages, waiting for one until wait
// elapses, ctx ends or the queue is closed. It sleeps until something
// changes or the next lease runs out; it never polls.
func (q *Queue) Receive(ctx context.Context, max int, wait time.Duration) ([]queue.Message, error) {
	if max <= 0 {
		return nil, fmt.Errorf("queue: receive: max %d must be positive", max)
	}
	deadline := time.Now().Add(wait)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("queue: receive: %w", err)
		}
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, fmt.Errorf("queue: receive: %w", queue.ErrClosed)
		}
		now := time.Now()
		got, err := q.takeLocked(max, now)
		nextExpiry := q.nextExpiryLocked(now)
		changed := q.changed
		q.mu.Unlock()
		if len(got) > 0 || err != nil {
			return got, err
		}

		sleep := time.Until(deadline)
		if sleep <= 0 {
			return nil, nil
		}
		if !nextExpiry.IsZero() {
			sleep = min(sleep, time.Until(nextExpiry))
		}
		if timer == nil {
			timer = time.NewTimer(sleep)
		} else {
			timer.Reset(sleep)
		}
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("queue: receive: %w", ctx.Err())
		case <-q.done:
			return nil, fmt.Errorf("queue: receive: %w", queue.ErrClosed)
		}
	}
}

// takeLocked leases up to max receivable messages, persisting each new
// lease (and delivery count) before handing the message out. If a write
// fails it returns what it already took, or the error when that is nothing.
func (q *Queue) takeLocked(max int, now time.Time) ([]queue.Message, error) {
	var got []queue.Message
	for _, r := range q.msgs {
		if len(got) == max {
			break
		}
		if !receivable(r, now) {
			continue
		}
		next := *r
		next.Attempts++
		next.LeaseUntil = now.Add(q.lease)
		next.Receipt = randHex(16)
		if err := q.dir.write(&next); err != nil {
			if len(got) > 0 {
				break
			}
			return nil, fmt.Errorf("queue: receive: %w", err)
		}
		*r = next
		got = append(got, queue.Message{ID: r.ID, Body: []byte(r.Body), Receipt: r.Receipt, Attempts: r.Attempts})
	}
	return got, nil
}

// receivable: never delivered, or its lease has run out.
func receivable(r *record, now time.Time) bool {
	return r.LeaseUntil.IsZero() || !now.Before(r.LeaseUntil)
}

// nextExpiryLocked is the earliest end of a running lease (zero: none).
func (q *Queue) nextExpiryLocked(now time.Time) time.Time {
	var next time.Time
	for _, r := range q.msgs {
		if !receivable(r, now) && (next.IsZero() || r.LeaseUntil.Before(next)) {
			next = r.LeaseUntil
		}
	}
	return next
}

func (q *Queue) notifyLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// Delete removes the message file, then the message. A message that is
// already gone counts as deleted; one delivered again since m was received
// fails with queue.ErrLeaseLost (its new holder owns it). A lease that ran out
// but was not taken again still deletes: the job is done.
func (q *Queue) Delete(ctx context.Context, m queue.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("queue: delete %s: %w", m.ID, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return fmt.Errorf("queue: delete %s: %w", m.ID, queue.ErrClosed)
	}
	r := q.byID[m.ID]
	if r == nil {
		return nil
	}
	if r.Receipt == "" || r.Receipt != m.Receipt {
		return fmt.Errorf("queue: delete %s: %w", m.ID, queue.ErrLeaseLost)
	}
	if err := q.dir.remove(r.ID); err != nil {
		return fmt.Errorf("queue: delete %s: %w", m.ID, err)
	}
	delete(q.byID, r.ID)
	q.msgs = slices.DeleteFunc(q.msgs, func(x *record) bool { return x == r })
	return nil
}

// Extend moves the end of a running lease to d from now. The new end is
// kept in memory only: after a restart the lease ends as first persisted,
// which is what we want, since the worker that extended it died with the
// process. That also keeps heartbeats off the disk.
func (q *Queue) Extend(ctx context.Context, m queue.Message, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("queue: extend %s: duration %v must be positive", m.ID, d)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("queue: extend %s: %w", m.ID, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return fmt.Errorf("queue: extend %s: %w", m.ID, queue.ErrClosed)
	}
	now := time.Now()
	r := q.byID[m.ID]
	if r == nil || r.Receipt == "" || r.Receipt != m.Receipt || receivable(r, now) {
		return fmt.Errorf("queue: extend %s: %w", m.ID, queue.ErrLeaseLost)
	}
	r.LeaseUntil = now.Add(d)
	q.notifyLocked() // the lease may have been shortened
	return nil
}

// Close wakes blocked receivers with queue.ErrClosed. Everything is already on
// disk, so there is nothing to flush.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
	return nil
}
