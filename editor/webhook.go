package editor

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/queue"
)

// SignatureHeader carries the hex HMAC-SHA256 of the webhook body.
const SignatureHeader = "X-Rewind-Signature"

// Sign is the X-Rewind-Signature of body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// notify delivers the webhook of a finished job, if it has one that was not
// delivered yet, retrying with backoff while holding the job's lease; the
// outcome is recorded in the job document, so a repeat delivery of the
// message finishes an interrupted notification and never sends twice once
// one went through.
func (w *Worker) notify(ctx context.Context, job *catalog.ClipJob, m queue.Message, log *slog.Logger) {
	if job.Request.WebhookURL == "" || (job.Webhook != nil && job.Webhook.DeliveredAt != nil) {
		return
	}
	if job.Webhook == nil {
		job.Webhook = &catalog.ClipHook{}
	}
	if job.Webhook.Attempts >= w.cfg.WebhookAttempts {
		return
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer w.heartbeat(hctx, cancel, m, log)()
	body, err := json.Marshal(job.View(w.cfg.PublicURL))
	if err != nil {
		log.Error("encode webhook", "err", err)
		return
	}
	backoff := w.cfg.WebhookBackoff
	for job.Webhook.Attempts < w.cfg.WebhookAttempts {
		job.Webhook.Attempts++
		err := w.deliver(hctx, job, body)
		if err == nil {
			now := w.now().UTC()
			job.Webhook.DeliveredAt, job.Webhook.LastError = &now, ""
			w.m.webhooks.WithLabelValues("delivered").Inc()
			break
		}
		job.Webhook.LastError = err.Error()
		w.m.webhooks.WithLabelValues("failed").Inc()
		log.Warn("webhook delivery failed", "attempt", job.Webhook.Attempts, "err", err)
		if hctx.Err() != nil || !retryable(err) {
			break
		}
		if job.Webhook.Attempts < w.cfg.WebhookAttempts {
			sleep(hctx, backoff+rand.N(backoff/4+1))
			backoff = min(2*backoff, time.Minute)
		}
	}
	w.write(context.WithoutCancel(ctx), job, log)
}

// hookError is a delivery the receiver refused.
type hookError struct {
	status int
}

func (e *hookError) Error() string { return fmt.Sprintf("webhook answered %d", e.status) }

// retryable: network failures, timeouts, 5xx, 408 and 429. Any other 4xx
// means the receiver will not take it, now or later.
func retryable(err error) bool {
	he, ok := err.(*hookError)
	return !ok || he.status >= 500 || he.status == http.StatusRequestTimeout || he.status == http.StatusTooManyRequests
}

func (w *Worker) deliver(ctx context.Context, job *catalog.ClipJob, body []byte) error {
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
