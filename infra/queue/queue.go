// Package queue is the job-queue adapter: one small interface, with the
// embedded implementation (memory plus a folder on disk, the `rewind dev`
// default) in infra/queue/embedded and the Amazon SQS one in
// infra/queue/sqsqueue; cmd picks one from the --jobs URL. vodapi sends clip jobs; editor
// workers receive them, extend their lease while working and delete them
// when done. Delivery is at least once: a job whose worker dies (or is slow
// to extend) is delivered again, so jobs must be idempotent.
package queue

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message is one received job.
type Message struct {
	// ID identifies the message for its whole life (the value Send returned).
	ID string
	// Body is the payload as sent.
	Body []byte
	// Receipt names this one delivery: Delete and Extend need it, and it
	// stops working once the lease is lost (another delivery gets a new one).
	Receipt string
	// Attempts is how many times the message has been received, this
	// delivery included (SQS ApproximateReceiveCount), so a worker can give
	// up on a job that keeps failing.
	Attempts int
}

// Queue is a work queue with leases (SQS visibility timeouts). Every method
// is safe for concurrent use.
type Queue interface {
	// Send enqueues body (see ValidateBody) and returns the message ID once
	// the message is durably accepted.
	Send(ctx context.Context, body []byte) (id string, err error)
	// Receive waits up to wait for at most max messages and returns as soon
	// as it has at least one; it returns none (and no error) when wait
	// elapses first. Each message returned is leased: invisible to other
	// receivers until the lease ends, after which it is delivered again
	// (with Attempts+1) unless deleted, so a crashed worker's job is taken
	// again. ctx ending returns promptly with ctx's error.
	Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	// Delete removes a finished message for good. If the lease was lost,
	// it may fail with ErrLeaseLost or still delete, depending on the
	// backend: either way the job may have run twice.
	Delete(ctx context.Context, m Message) error
	// Extend makes m's lease end d from now (a heartbeat while working). It
	// fails with ErrLeaseLost once the lease has ended.
	Extend(ctx context.Context, m Message, d time.Duration) error
	// Close releases the queue; blocked and later calls fail with ErrClosed.
	// Messages (and their leases) stay in the backend.
	Close() error
}

// DelayedSender is a Queue that can hold a new message back: SendAfter is
// Send, except that the message becomes receivable only delay from now
// (SQS DelaySeconds, whole seconds). The delay is part of the durable
// message, so it outlives the sender; retries with backoff use it instead
// of Extend on the old delivery, which would raise its receive count
// towards the dead-letter limit. Both backends implement it.
type DelayedSender interface {
	SendAfter(ctx context.Context, body []byte, delay time.Duration) (id string, err error)
}

// MaxDelay is the longest SendAfter delay (the SQS limit).
const MaxDelay = 15 * time.Minute

// CheckDelay is the argument check both backends share.
func CheckDelay(d time.Duration) error {
	if d < 0 || d > MaxDelay {
		return fmt.Errorf("delay %v out of range (0 to %v)", d, MaxDelay)
	}
	return nil
}

// ErrClosed is returned (wrapped) by calls on a closed Queue.
var ErrClosed = errors.New("queue: closed")

// ErrLeaseLost is returned (wrapped) by Extend, and possibly Delete, when
// the receipt no longer holds the message's lease: it expired, or the
// message was deleted or delivered again.
var ErrLeaseLost = errors.New("queue: lease lost")

// ErrInvalidBody is returned (wrapped) by Send for a body SQS would refuse;
// the embedded queue applies the same rules so `rewind dev` fails the same
// way production does.
var ErrInvalidBody = errors.New("queue: invalid message body")
