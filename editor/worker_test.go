package editor

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/queue/embedded"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/internal/runtest"
	"github.com/rewind-vod/rewind/internal/s3test"
	"github.com/rewind-vod/rewind/internal/sqstest"
)

var testStream = catalog.Stream{App: "live", Name: "cam"}

const testSecret = "hook-secret"

// startWorker runs a worker until the test ends.
func startWorker(t *testing.T, cfg Config, st store.Store, q queue.Queue) *Worker {
	t.Helper()
	cfg.WorkDir = t.TempDir()
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = testSecret
	}
	if cfg.WebhookGuard == nil {
		// The test receivers are httptest servers on loopback, which
		// webhooks may reach only when the operator allows it.
		cfg.WebhookGuard = loopbackAllowed(t)
	}
	w := New(cfg, st, q, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// submit does what POST /v1/clips does once it has validated the request:
// the job document, then the queue message. The part covers the
// segments of run that overlap [from, to) seconds.
func submit(t *testing.T, st store.Store, q queue.Queue, run string, runStart time.Time, from, to float64, format, mode, hook string) string {
	t.Helper()
	start := runStart.Add(time.Duration(from * float64(time.Second)))
	end := runStart.Add(time.Duration(to * float64(time.Second)))
	ctx := context.Background()
	entries, err := catalog.ReadIndex(ctx, st, testStream, run)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := catalog.PartOf(run, entries, start, end)
	if !ok {
		t.Fatalf("no segment of %s in [%s, %s)", run, start, end)
	}
	now := time.Now().UTC()
	j := &catalog.ClipJob{ID: catalog.NewClipID(), Status: catalog.ClipQueued, CreatedAt: now, UpdatedAt: now,
		Request: catalog.ClipRequest{Stream: testStream.String(), Start: start, End: end, Format: format, Mode: mode, WebhookURL: hook},
		Parts:   []catalog.ClipPart{p}}
	if err := catalog.WriteClipJob(ctx, st, j); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Send(ctx, catalog.EncodeClipMessage(j.ID)); err != nil {
		t.Fatal(err)
	}
	return j.ID
}

// waitDone polls the job document until the job has ended.
func waitDone(t *testing.T, st store.Store, id string, within time.Duration) *catalog.ClipJob {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		j, err := catalog.ReadClipJob(context.Background(), st, id)
		if err == nil && j.Done() && (j.Request.WebhookURL == "" || j.Webhook != nil) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("clip %s not done after %s: %+v (%v)", id, within, j, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hookReceiver records webhook deliveries and checks their signature; it
// answers the statuses given, in order, then 204.
type hookReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	bodies   [][]byte
	badSigs  int
}

func newHookReceiver(t *testing.T, statuses ...int) *hookReceiver {
	h := &hookReceiver{statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(testSecret))
		mac.Write(body)
		got, err := hex.DecodeString(r.Header.Get("X-Rewind-Signature"))
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil || !hmac.Equal(got, mac.Sum(nil)) || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			h.badSigs++
		}
		h.bodies = append(h.bodies, body)
		status := http.StatusNoContent
		if len(h.statuses) > 0 {
			status, h.statuses = h.statuses[0], h.statuses[1:]
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) deliveries() ([][]byte, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...), h.badSigs
}

// The SQS path, end to end against the SQS and S3 test servers: a job
// sent to the queue is cut from segments in S3, the MP4 lands under
// clips/{id}/, the webhook arrives signed and the message is gone.
func TestClipOverSQSAndS3(t *testing.T) {
	mediatest.Require(t)
	st := s3test.Start(t).Store(t)
	q := sqstest.Start(t).Queue(t, 30*time.Second)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	hook := newHookReceiver(t)
	startWorker(t, Config{}, st, q)

	id := submit(t, st, q, run, t0, 2.5, 7.5, catalog.FormatMP4, catalog.ModeCopy, hook.URL)
	j := waitDone(t, st, id, 90*time.Second)
	if j.Status != catalog.ClipSucceeded || j.Output == nil || j.Progress != 100 || j.Attempts != 1 {
		t.Fatalf("job %+v", j)
	}
	if j.Output.Key != catalog.ClipPrefix(id)+"clip.mp4" || j.Output.ContentType != "video/mp4" || j.Output.Width != 320 || j.Output.Height != 240 {
		t.Errorf("output %+v", j.Output)
	}
	rc, info, err := st.Get(context.Background(), j.Output.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if info.Size != j.Output.Size || int64(len(b)) != j.Output.Size {
		t.Errorf("stored %d bytes, job says %d", len(b), j.Output.Size)
	}
	path := filepath.Join(t.TempDir(), "clip.mp4")
	os.WriteFile(path, b, 0o644)
	// Copy mode starts on the keyframe at or before 2.5 s (2 s GOPs).
	if d := mediatest.Duration(t, path); d < 5-0.05 || d > 5+2+0.1 {
		t.Errorf("duration %.3f s, want 5 s to one GOP more", d)
	}
	if c := mediatest.CountFrames(t, path); c.Video == 0 || c.Audio == 0 {
		t.Errorf("frames %+v", c)
	}
	bodies, bad := hook.deliveries()
	if len(bodies) != 1 || bad != 0 {
		t.Fatalf("%d webhooks, %d badly signed", len(bodies), bad)
	}
	var v catalog.ClipView
	if err := json.Unmarshal(bodies[0], &v); err != nil || v.ID != id || v.Status != "succeeded" || v.Output == nil || v.Output.URL != "/v1/clips/"+id+"/output" {
		t.Errorf("webhook body %s", bodies[0])
	}
	msgs, err := q.Receive(context.Background(), 10, time.Second)
	if err != nil || len(msgs) != 0 {
		t.Errorf("queue still holds %d messages (%v)", len(msgs), err)
	}
}

// A webhook that fails twice is delivered on the third try, the same
// signed body every time; the job document records it.
func TestWebhookRetried(t *testing.T) {
	st, q := localBackends(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	hook := newHookReceiver(t, 500, 503)
	w := startWorker(t, Config{WebhookBackoff: 50 * time.Millisecond}, st, q)

	id := submit(t, st, q, run, t0, 1, 3, catalog.FormatTS, catalog.ModeCopy, hook.URL)
	j := waitDone(t, st, id, 60*time.Second)
	for j.Webhook == nil || j.Webhook.DeliveredAt == nil {
		if time.Since(j.UpdatedAt) > 30*time.Second {
			t.Fatalf("webhook not delivered: %+v", j.Webhook)
		}
		time.Sleep(50 * time.Millisecond)
		j, _ = catalog.ReadClipJob(context.Background(), st, id)
	}
	bodies, bad := hook.deliveries()
	if len(bodies) != 3 || bad != 0 {
		t.Fatalf("%d deliveries, %d badly signed; want 3 signed", len(bodies), bad)
	}
	if string(bodies[0]) != string(bodies[2]) {
		t.Errorf("retried body differs:\n%s\n%s", bodies[0], bodies[2])
	}
	if j.Webhook.Attempts != 3 || j.Webhook.LastError != "" || j.Status != catalog.ClipSucceeded {
		t.Errorf("job %+v webhook %+v", j, j.Webhook)
	}
	// One job, timed by the phases of the copy path; webhook retries are
	// not job phases.
	checkPhases(t, w, map[string]uint64{"start": 1, "fetch": 1, "cut": 1, "upload": 1, "finish": 1,
		"index": 0, "edges": 0, "manifest": 0})
}

// checkPhases compares how often each phase of rewind_editor_phase_seconds
// was observed with want.
func checkPhases(t *testing.T, w *Worker, want map[string]uint64) {
	t.Helper()
	for phase, n := range want {
		var m dto.Metric
		if err := w.m.phases.WithLabelValues(phase).(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		h := m.GetHistogram()
		if h.GetSampleCount() != n || (n > 0) != (h.GetSampleSum() > 0) {
			t.Errorf("phase %s: %d observations summing to %.6f s, want %d", phase, h.GetSampleCount(), h.GetSampleSum(), n)
		}
	}
}

// A job that keeps failing is retried a bounded number of times and then
// failed with its error kept; a job whose segments are gone fails at once.
func TestFailuresBounded(t *testing.T) {
	st, q := localBackends(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	ctx := context.Background()
	// Garbage where segments 2 and 3 were: libav finds nothing to cut.
	for _, seq := range []uint64{2, 3} {
		if err := st.Put(ctx, catalog.SegmentKey(testStream, run, seq), make([]byte, 4096), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Delete(ctx, catalog.SegmentKey(testStream, run, 5)); err != nil {
		t.Fatal(err)
	}
	hook := newHookReceiver(t)
	w := startWorker(t, Config{MaxAttempts: 2, RetryDelay: 100 * time.Millisecond}, st, q)

	bad := submit(t, st, q, run, t0, 2.2, 5.8, catalog.FormatMP4, catalog.ModeCopy, hook.URL)
	j := waitDone(t, st, bad, 60*time.Second)
	if j.Status != catalog.ClipFailed || j.Attempts != 2 || j.Error == "" || j.Output != nil {
		t.Errorf("corrupt input: %+v", j)
	}
	gone := submit(t, st, q, run, t0, 8.5, 9.5, catalog.FormatMP4, catalog.ModeCopy, "")
	j = waitDone(t, st, gone, 60*time.Second)
	if j.Status != catalog.ClipFailed || j.Attempts != 1 {
		t.Errorf("missing segment: %+v", j)
	}
	if got := testutil.ToFloat64(w.m.jobs.WithLabelValues("retried")); got != 1 {
		t.Errorf("retried %v, want 1", got)
	}
	if got := testutil.ToFloat64(w.m.jobs.WithLabelValues("failed")); got != 2 {
		t.Errorf("failed %v, want 2", got)
	}
	bodies, badSigs := hook.deliveries()
	var v catalog.ClipView
	if len(bodies) != 1 || badSigs != 0 || json.Unmarshal(bodies[0], &v) != nil || v.Status != "failed" || v.Error == "" {
		t.Errorf("failure webhook: %d bodies %q", len(bodies), bodies)
	}
}

func localBackends(t *testing.T) (store.Store, queue.Queue) {
	t.Helper()
	mediatest.Require(t)
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q, err := embedded.Open(t.TempDir(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return st, q
}
