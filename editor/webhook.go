package editor

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/netguard"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/backoff"
)

// Webhooks are delivered apart from clip work, by a pool of their own
// (Config.WebhookConcurrency), so a slow or failing receiver never holds a
// clip slot.
//
// Nothing is lost and nothing is sent again once delivered: a clip slot
// writes the finished job document before it hands the job's queue
// message to the pool, and the pool acks that message only once the
// webhook is settled. Every attempt is recorded in the document. A
// retryable failure waits out its backoff in the pool, the message's lease
// kept by heartbeat (so retries neither wait for a clip slot nor climb the
// receive count towards the dead-letter limit); when the pool is full or
// stopping, the job's message is sent again with the remaining backoff as
// its delay (SendAfter) and the old one deleted. A message whose job is
// done always means "finish its webhook", so one that comes back after a
// crash (its lease ran out) resumes the delivery, and one for a delivered
// webhook is dropped. The window that remains is the one every
// at-least-once sender has: a crash between the receiver's 2xx and the
// document write sends that body once more.

// SignatureHeader carries the hex HMAC-SHA256 of the webhook body.
const SignatureHeader = "X-Rewind-Signature"

// Sign is the X-Rewind-Signature of body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// hookTask is one job message owned by the delivery pool.
type hookTask struct {
	m      queue.Message
	id     string
	ctx    context.Context // ends with the worker or when the lease is lost
	cancel context.CancelFunc
	stop   func() // stops the lease heartbeat
}

// newHookClient is the webhook HTTP client: every connection goes through
// the guard's dialer, which checks the address actually dialed; redirects
// are not followed (a receiver answers, it does not send us elsewhere);
// no proxy, which would dial on our behalf past the check.
func newHookClient(guard *netguard.Guard, timeout time.Duration) (*http.Client, *http.Transport) {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           guard.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, tr
}

// hookPending: the job has a webhook that is neither delivered nor
// out of attempts.
func (w *Worker) hookPending(job *catalog.ClipJob) bool {
	if job.Request.WebhookURL == "" {
		return false
	}
	h := job.Webhook
	return h == nil || (h.DeliveredAt == nil && h.Attempts < w.cfg.WebhookAttempts)
}

// settle is the end of a finished job's message on a clip slot: acked, or
// handed to the delivery pool when its webhook is pending.
func (w *Worker) settle(ctx context.Context, job *catalog.ClipJob, m queue.Message, log *slog.Logger) {
	if !w.hookPending(job) {
		w.delete(m)
		return
	}
	w.offerHook(ctx, m, job.ID, log)
}

// offerHook gives m to the delivery pool, which then owns it; it never
// blocks a clip slot: with the pool's backlog full, or the job already in
// delivery here (a duplicate message), m goes back to the queue for a
// while instead.
func (w *Worker) offerHook(ctx context.Context, m queue.Message, id string, log *slog.Logger) {
	w.hmu.Lock()
	busy := w.inflight[id]
	if !busy {
		w.inflight[id] = true
	}
	w.hmu.Unlock()
	if busy {
		// Not dropped: it may be the redelivery of a message whose lease
		// the running delivery is about to lose.
		w.requeue(ctx, m, id, w.cfg.WebhookTimeout, log)
		return
	}
	tctx, cancel := context.WithCancel(ctx)
	t := hookTask{m: m, id: id, ctx: tctx, cancel: cancel}
	t.stop = w.heartbeat(tctx, cancel, m, log)
	select {
	case w.hooks <- t:
	default:
		w.endTask(t)
		log.Warn("webhook backlog full; delivery re-queued", "backlog", cap(w.hooks))
		w.requeue(ctx, m, id, w.cfg.WebhookBackoff, log)
	}
}

func (w *Worker) endTask(t hookTask) {
	t.stop()
	t.cancel()
	w.hmu.Lock()
	delete(w.inflight, t.id)
	w.hmu.Unlock()
}

// deliverLoop is one member of the delivery pool.
func (w *Worker) deliverLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-w.hooks:
			if ctx.Err() != nil {
				// Both were ready: stopping wins, the task goes back.
				w.endTask(t)
				w.handBack(t.m, w.log)
				return
			}
			w.deliverTask(ctx, t)
		}
	}
}

// drainHooks hands back the tasks no deliverer started before shutdown.
func (w *Worker) drainHooks() {
	for {
		select {
		case t := <-w.hooks:
			w.endTask(t)
			w.handBack(t.m, w.log)
		default:
			return
		}
	}
}

// deliverTask makes one attempt and settles the message: acked when the
// webhook is delivered, refused for good or out of attempts; kept for its
// backoff (park), or failing that sent again delayed by it, when it may
// succeed later.
func (w *Worker) deliverTask(ctx context.Context, t hookTask) {
	parked := false
	defer func() {
		if !parked {
			w.endTask(t)
		}
	}()
	log := w.log.With("clip", t.id)
	job, err := catalog.ReadClipJob(t.ctx, w.st, t.id)
	switch {
	case errors.Is(err, store.ErrNotFound), err != nil && isBadDocument(err):
		log.Error("dropping webhook of a missing or unreadable job", "err", err)
		w.delete(t.m)
		return
	case err != nil && ctx.Err() != nil:
		w.handBack(t.m, log)
		return
	case err != nil:
		log.Warn("read job for its webhook", "err", err) // the lease runs out and it comes back
		return
	case !job.Done():
		// Only finished jobs come here; one that is not is a job to run.
		w.handBack(t.m, log)
		return
	case !w.hookPending(job):
		w.delete(t.m)
		return
	}
	if job.Webhook == nil {
		job.Webhook = &catalog.ClipHook{}
	}
	body, err := json.Marshal(job.View(w.cfg.PublicURL))
	if err != nil {
		log.Error("encode webhook", "err", err)
		w.delete(t.m)
		return
	}
	err = w.deliver(t.ctx, job, body)
	if err != nil && t.ctx.Err() != nil {
		// Stopped, not the receiver's doing: no attempt recorded.
		if ctx.Err() != nil {
			w.handBack(t.m, log)
		}
		return
	}
	job.Webhook.Attempts++
	if err == nil {
		now := w.now().UTC()
		job.Webhook.DeliveredAt, job.Webhook.LastError = &now, ""
		w.m.webhooks.WithLabelValues("delivered").Inc()
	} else {
		job.Webhook.LastError = err.Error()
		w.m.webhooks.WithLabelValues("failed").Inc()
	}
	if !w.write(context.WithoutCancel(t.ctx), job, log) {
		return // not recorded: the message comes back and the attempt is made again
	}
	switch {
	case err == nil:
		log.Info("webhook delivered", "attempt", job.Webhook.Attempts)
		w.delete(t.m)
	case !retryable(err):
		log.Warn("webhook refused; not retried", "attempt", job.Webhook.Attempts, "err", err)
		w.delete(t.m)
	case job.Webhook.Attempts >= w.cfg.WebhookAttempts:
		log.Warn("webhook failed; out of attempts", "attempts", job.Webhook.Attempts, "err", err)
		w.m.webhooks.WithLabelValues("gave_up").Inc()
		w.delete(t.m)
	default:
		delay := w.hookBackoff(job.Webhook.Attempts)
		log.Warn("webhook failed; retrying", "attempt", job.Webhook.Attempts, "in", delay, "err", err)
		if parked = w.park(ctx, t, delay, log); !parked {
			w.requeue(t.ctx, t.m, t.id, delay, log)
		}
	}
}

// maxParked bounds the retries one worker waits out in memory.
const maxParked = 256

// park keeps t, lease and all, for delay, then puts it back in the
// pool's backlog; false when too many are parked already. Stopping (or
// losing the lease) ends the wait: on stop the message goes back to the
// queue with what is left of the backoff.
func (w *Worker) park(ctx context.Context, t hookTask, delay time.Duration, log *slog.Logger) bool {
	w.hmu.Lock()
	if w.parked >= maxParked {
		w.hmu.Unlock()
		return false
	}
	w.parked++
	w.hmu.Unlock()
	due := time.Now().Add(delay)
	w.parkWG.Go(func() {
		defer func() {
			w.hmu.Lock()
			w.parked--
			w.hmu.Unlock()
		}()
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
			select {
			case w.hooks <- t: // waits for room in the backlog, never for a clip slot
				return
			case <-t.ctx.Done():
			}
		case <-t.ctx.Done():
		}
		w.endTask(t)
		if ctx.Err() != nil {
			w.requeue(ctx, t.m, t.id, max(time.Until(due), 0), log)
		} // else the lease was lost: the message's next holder retries
	})
	return true
}

// hookBackoff is the wait after the attempt-th failure: WebhookBackoff,
// doubling, capped at a minute, jittered.
func (w *Worker) hookBackoff(attempt int) time.Duration {
	return backoff.Policy{Min: w.cfg.WebhookBackoff, Max: time.Minute}.Wait(attempt)
}

// requeue puts the job's message back to be received after delay: a
// fresh delayed message, then the old one deleted; without SendAfter (or
// when it fails), the old delivery hidden for delay.
func (w *Worker) requeue(ctx context.Context, m queue.Message, id string, delay time.Duration, log *slog.Logger) {
	ctx = context.WithoutCancel(ctx)
	if ds, ok := w.q.(queue.DelayedSender); ok {
		_, err := ds.SendAfter(ctx, catalog.EncodeClipMessage(id), min(delay, queue.MaxDelay))
		if err == nil {
			w.delete(m)
			return
		}
		log.Warn("re-queue job message", "err", err)
	}
	if err := w.q.Extend(ctx, m, max(delay, time.Second)); err != nil {
		log.Warn("delay job message", "err", err) // it comes back when its lease ends
	}
}

// handBack makes m receivable again almost at once (queues take no zero
// lease: SQS counts whole seconds).
func (w *Worker) handBack(m queue.Message, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.q.Extend(ctx, m, time.Second); err != nil {
		log.Warn("hand job message back", "msg", m.ID, "err", err)
	}
}

// hookError is a delivery the receiver refused.
type hookError struct {
	status int
}

func (e *hookError) Error() string {
	if e.status/100 == 3 {
		return fmt.Sprintf("webhook answered %d; redirects are not followed", e.status)
	}
	return fmt.Sprintf("webhook answered %d", e.status)
}

// retryable: network failures, timeouts, 5xx, 408 and 429. A refused
// destination, a redirect and any other 4xx mean the receiver will not
// take it, now or later.
func retryable(err error) bool {
	if errors.Is(err, netguard.ErrForbidden) {
		return false
	}
	var he *hookError
	if !errors.As(err, &he) {
		return true
	}
	return he.status >= 500 || he.status == http.StatusRequestTimeout || he.status == http.StatusTooManyRequests
}

func (w *Worker) deliver(ctx context.Context, job *catalog.ClipJob, body []byte) error {
	// Documents queued before the API checked URLs, or written by other
	// tools, are checked too (userinfo would go out as Basic auth).
	if err := w.guard.CheckURL(job.Request.WebhookURL); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.Request.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rewind-editor")
	req.Header.Set("X-Rewind-Event", "clip."+job.Status)
	req.Header.Set("X-Rewind-Clip", job.ID)
	if w.cfg.WebhookSecret != "" {
		req.Header.Set(SignatureHeader, Sign(w.cfg.WebhookSecret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &hookError{resp.StatusCode}
	}
	return nil
}
