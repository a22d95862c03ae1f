package editor

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/netguard"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
	"github.com/rewind-vod/rewind/internal/dnstest"
	"github.com/rewind-vod/rewind/internal/mediatest"
	"github.com/rewind-vod/rewind/internal/runtest"
	"github.com/rewind-vod/rewind/internal/sqstest"
)

// loopbackAllowed is the guard of a deployment whose operator allows
// 127.0.0.0/8 (--webhook-allow), as the tests' receivers need.
func loopbackAllowed(t *testing.T) *netguard.Guard {
	t.Helper()
	g, err := netguard.New(netguard.Config{Allow: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// countingServer counts requests and answers with h.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// waitHook polls the job document until its webhook is settled:
// delivered, or attempts recorded and nothing more expected (want).
func waitHook(t *testing.T, w *Worker, id string, within time.Duration, settled func(*catalog.ClipHook) bool) *catalog.ClipJob {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		j, err := catalog.ReadClipJob(context.Background(), w.st, id)
		if err == nil && j.Done() && j.Webhook != nil && settled(j.Webhook) {
			return j
		}
		if time.Now().After(deadline) {
			var h *catalog.ClipHook
			if j != nil {
				h = j.Webhook
			}
			t.Fatalf("clip %s: webhook not settled after %s: %+v (%v)", id, within, h, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queueEmpty checks that no message is left (nothing will retry).
func queueEmpty(t *testing.T, w *Worker) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // a re-queue would be receivable by now
	msgs, err := w.q.Receive(context.Background(), 10, 100*time.Millisecond)
	if err != nil || len(msgs) != 0 {
		t.Errorf("queue still holds %d messages (%v)", len(msgs), err)
	}
}

// A receiver that redirects, even to a receiver we may reach, is not
// followed: one attempt, recorded as a refusal, never retried.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	st, q := localBackends(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	target, reached := countingServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	redirector, asked := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/stolen", http.StatusFound)
	})
	w := startWorker(t, Config{WebhookBackoff: 20 * time.Millisecond, WebhookAttempts: 4}, st, q)

	id := submit(t, st, q, run, t0, 1, 3, catalog.FormatTS, catalog.ModeCopy, redirector.URL+"/hook")
	j := waitHook(t, w, id, 60*time.Second, func(h *catalog.ClipHook) bool { return h.Attempts > 0 })
	queueEmpty(t, w)
	if n := reached.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("the redirecting receiver got %d requests, want 1 (a redirect is not retried)", n)
	}
	if h := j.Webhook; h.Attempts != 1 || h.DeliveredAt != nil || !strings.Contains(h.LastError, "302") {
		t.Errorf("webhook %+v, want one attempt, undelivered, error naming the 302", h)
	}
}

// Webhooks to internal addresses are refused at dial time, on the
// address the name resolves to (DNS rebinding), and to literal addresses
// and URLs with credentials in documents that never passed the API: the
// loopback receiver gets nothing.
func TestWebhookRefusedAtDial(t *testing.T) {
	st, q := localBackends(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	recv, reached := countingServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(recv.URL, "http://"))
	dns := dnstest.Start(t, map[string][]netip.Addr{
		"hooks.rebind.test": {netip.MustParseAddr("127.0.0.1")},
		"meta.rebind.test":  {netip.MustParseAddr("169.254.169.254")},
	})
	g, err := netguard.New(netguard.Config{Resolver: dns.Resolver(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w := startWorker(t, Config{WebhookGuard: g, WebhookBackoff: 20 * time.Millisecond}, st, q)

	for _, hook := range []string{
		"http://hooks.rebind.test:" + port + "/hook",
		"http://meta.rebind.test:" + port + "/latest/meta-data/",
		recv.URL + "/literal",
		"http://user:pass@hooks.rebind.test:" + port + "/creds",
	} {
		// The API would take the names (it does not resolve); the
		// others are written as a document from elsewhere might be.
		id := submit(t, st, q, run, t0, 1, 3, catalog.FormatTS, catalog.ModeCopy, hook)
		j := waitHook(t, w, id, 60*time.Second, func(h *catalog.ClipHook) bool { return h.Attempts > 0 })
		if h := j.Webhook; h.Attempts != 1 || h.DeliveredAt != nil || !strings.Contains(h.LastError, "forbidden destination") {
			t.Errorf("%s: webhook %+v, want one refused attempt", hook, h)
		}
	}
	queueEmpty(t, w)
	if n := reached.Load(); n != 0 {
		t.Errorf("the loopback receiver got %d requests", n)
	}
	if dns.Queries() == 0 {
		t.Error("the names were never resolved: the refusal did not come from the dial")
	}
}

// A failing webhook does not delay other jobs: on a one-slot worker, the
// jobs after one whose receiver hangs and one whose receiver answers 500
// are cut and their webhooks delivered while the failing ones are still
// being retried; those are retried up to their attempts and recorded.
func TestFailingWebhookDoesNotDelayOtherJobs(t *testing.T) {
	st, q := localBackends(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	stop := make(chan struct{})
	hanging, hangs := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: only then does the server notice the
		// client hanging up.
		io.Copy(io.Discard, r.Body)
		select { // until the client gives up
		case <-r.Context().Done():
		case <-stop:
		}
	})
	t.Cleanup(func() { close(stop) }) // before the server's Close, which waits for handlers
	failing, fails := countingServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	good := newHookReceiver(t)
	const attempts = 4
	w := startWorker(t, Config{Concurrency: 1, WebhookAttempts: attempts, WebhookTimeout: 1500 * time.Millisecond,
		WebhookBackoff: 500 * time.Millisecond}, st, q)

	start := time.Now()
	slow := submit(t, st, q, run, t0, 1, 3, catalog.FormatTS, catalog.ModeCopy, hanging.URL+"/hook")
	bad := submit(t, st, q, run, t0, 1, 3, catalog.FormatTS, catalog.ModeCopy, failing.URL+"/hook")
	var others []string
	for range 2 {
		others = append(others, submit(t, st, q, run, t0, 2, 4, catalog.FormatTS, catalog.ModeCopy, good.URL+"/hook"))
	}
	delivered := func(h *catalog.ClipHook) bool { return h.DeliveredAt != nil }
	for _, id := range others {
		j := waitHook(t, w, id, 60*time.Second, delivered)
		if j.Status != catalog.ClipSucceeded || j.Webhook.Attempts != 1 {
			t.Errorf("job %s: %s, webhook %+v", id, j.Status, j.Webhook)
		}
	}
	othersDone := time.Since(start)
	// While the good webhooks went out, the failing ones were not through.
	for _, id := range []string{slow, bad} {
		j, err := catalog.ReadClipJob(context.Background(), st, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Webhook != nil && j.Webhook.Attempts >= attempts {
			t.Errorf("job %s's webhook used all %d attempts before the other jobs' webhooks were delivered (%s)", id, attempts, othersDone)
		}
	}
	exhausted := func(h *catalog.ClipHook) bool { return h.Attempts >= attempts }
	for id, want := range map[string]string{slow: "Timeout", bad: "500"} {
		j := waitHook(t, w, id, 60*time.Second, exhausted)
		if h := j.Webhook; h.Attempts != attempts || h.DeliveredAt != nil || !strings.Contains(h.LastError, want) {
			t.Errorf("job %s: webhook %+v, want %d attempts, last error with %q", id, h, attempts, want)
		}
	}
	allDone := time.Since(start)
	t.Logf("other jobs' webhooks delivered after %s; failing webhooks settled after %s", othersDone.Round(time.Millisecond), allDone.Round(time.Millisecond))
	// The hanging receiver alone takes attempts x 1.5 s plus the backoffs.
	if allDone < othersDone+time.Second {
		t.Errorf("the failing webhooks settled %s after the start, the others %s: the others did not go first", allDone, othersDone)
	}
	queueEmpty(t, w)
	if hangs.Load() != attempts || fails.Load() != attempts {
		t.Errorf("hanging receiver asked %d times, failing one %d, want %d each", hangs.Load(), fails.Load(), attempts)
	}
	if bodies, bad := good.deliveries(); len(bodies) != len(others) || bad != 0 {
		t.Errorf("good receiver: %d deliveries, %d badly signed", len(bodies), bad)
	}
	if got := testutil.ToFloat64(w.m.webhooks.WithLabelValues("gave_up")); got != 2 {
		t.Errorf("gave_up %v, want 2", got)
	}
}

// A webhook interrupted by a crash (the job document says done, the
// webhook never went out, the message is still queued) is delivered by
// the next worker, once; a repeat of the message after delivery sends
// nothing.
func TestWebhookAfterCrash(t *testing.T) {
	st, q := localBackends(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	hook := newHookReceiver(t)
	ctx := context.Background()
	// What a worker killed between writing the result and delivering
	// leaves behind: the finished document and the unacked message.
	id := submit(t, st, q, run, t0, 1, 3, catalog.FormatTS, catalog.ModeCopy, hook.URL+"/hook")
	j, err := catalog.ReadClipJob(ctx, st, id)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	j.Status, j.Attempts, j.StartedAt, j.FinishedAt, j.Progress, j.UpdatedAt = catalog.ClipSucceeded, 1, &now, &now, 100, now
	j.Output = &catalog.ClipOutput{Key: catalog.ClipPrefix(id) + "clip.ts", ContentType: "video/mp2t", Duration: 2, Size: 1}
	if err := catalog.WriteClipJob(ctx, st, j); err != nil {
		t.Fatal(err)
	}
	w := startWorker(t, Config{}, st, q)
	j = waitHook(t, w, id, 30*time.Second, func(h *catalog.ClipHook) bool { return h.DeliveredAt != nil })
	if j.Webhook.Attempts != 1 || j.Attempts != 1 {
		t.Errorf("job %+v webhook %+v: the job ran again or the webhook took more than one attempt", j, j.Webhook)
	}
	// A duplicate message (at-least-once queues) sends nothing more.
	if _, err := q.Send(ctx, catalog.EncodeClipMessage(id)); err != nil {
		t.Fatal(err)
	}
	queueEmpty(t, w)
	if bodies, bad := hook.deliveries(); len(bodies) != 1 || bad != 0 {
		t.Errorf("%d deliveries (%d badly signed), want exactly 1", len(bodies), bad)
	}
}

// Stopping the worker stops its deliveries too: a delivery cut short is
// not counted as an attempt, its message goes back to the queue, and the
// next worker delivers it.
func TestWebhookInterruptedByShutdown(t *testing.T) {
	st, q := localBackends(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	var hang atomic.Bool
	hang.Store(true)
	asked := make(chan struct{}, 10)
	stop := make(chan struct{})
	recv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if hang.Load() {
			asked <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-stop:
			}
			return
		}
		w.WriteHeader(204)
	})
	t.Cleanup(func() { close(stop) })
	cfg := Config{WorkDir: t.TempDir(), WebhookSecret: testSecret, WebhookGuard: loopbackAllowed(t), WebhookTimeout: time.Minute}
	w1 := New(cfg, st, q, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w1.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	id := submit(t, st, q, run, t0, 1, 3, catalog.FormatTS, catalog.ModeCopy, recv.URL+"/hook")
	select {
	case <-asked:
	case <-time.After(60 * time.Second):
		t.Fatal("the webhook was never attempted")
	}
	stopped := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return with a delivery in flight")
	}
	if d := time.Since(stopped); d > 3*time.Second {
		t.Errorf("Run took %s to stop", d)
	}
	j, err := catalog.ReadClipJob(context.Background(), st, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != catalog.ClipSucceeded || (j.Webhook != nil && j.Webhook.Attempts != 0) {
		t.Fatalf("after shutdown: %s, webhook %+v; want succeeded, no attempt counted", j.Status, j.Webhook)
	}

	hang.Store(false)
	w2 := startWorker(t, Config{}, st, q)
	j = waitHook(t, w2, id, 30*time.Second, func(h *catalog.ClipHook) bool { return h.DeliveredAt != nil })
	if j.Webhook.Attempts != 1 || j.Attempts != 1 {
		t.Errorf("job attempts %d, webhook %+v: want the job run once and one counted delivery", j.Attempts, j.Webhook)
	}
}

// Over SQS (the lease kept by ChangeMessageVisibility while a retry
// waits): a webhook that fails twice is delivered on the third attempt,
// each recorded, and nothing is left in the queue.
func TestWebhookRetriedOverSQS(t *testing.T) {
	mediatest.Require(t)
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	q := sqstest.Start(t).Queue(t, 30*time.Second)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	hook := newHookReceiver(t, 503, 500)
	w := startWorker(t, Config{WebhookBackoff: 100 * time.Millisecond}, st, q)

	id := submit(t, st, q, run, t0, 1, 3, catalog.FormatTS, catalog.ModeCopy, hook.URL)
	j := waitHook(t, w, id, 90*time.Second, func(h *catalog.ClipHook) bool { return h.DeliveredAt != nil })
	if j.Webhook.Attempts != 3 || j.Webhook.LastError != "" || j.Attempts != 1 {
		t.Errorf("job attempts %d, webhook %+v; want one run and three deliveries", j.Attempts, j.Webhook)
	}
	if bodies, bad := hook.deliveries(); len(bodies) != 3 || bad != 0 {
		t.Errorf("%d deliveries, %d badly signed; want 3 signed", len(bodies), bad)
	}
	msgs, err := q.Receive(context.Background(), 10, time.Second)
	if err != nil || len(msgs) != 0 {
		t.Errorf("queue still holds %d messages (%v)", len(msgs), err)
	}
}

// gatedStore is the real store, except that reading one key waits for the
// gate: a clip job that keeps its slot busy for as long as a test wants.
type gatedStore struct {
	store.Store
	key  string
	gate chan struct{}
	hit  chan struct{} // closed when the key is first asked for
	once sync.Once
}

func (g *gatedStore) Get(ctx context.Context, key string, rng *store.Range) (io.ReadCloser, store.Info, error) {
	if key == g.key {
		g.once.Do(func() { close(g.hit) })
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, store.Info{}, ctx.Err()
		}
	}
	return g.Store.Get(ctx, key, rng)
}

// Retries do not wait for a clip slot: with the only slot busy on a long
// job, a failed webhook of an earlier job is retried and delivered.
func TestWebhookRetryWhileSlotBusy(t *testing.T) {
	fs, q := localBackends(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, fs, testStream, t0, false)
	st := &gatedStore{Store: fs, key: catalog.SegmentKey(testStream, run, 4), gate: make(chan struct{}), hit: make(chan struct{})}
	var release sync.Once
	open := func() { release.Do(func() { close(st.gate) }) }
	t.Cleanup(open)
	hook := newHookReceiver(t, 500)
	w := startWorker(t, Config{Concurrency: 1, WebhookBackoff: 100 * time.Millisecond}, st, q)

	first := submit(t, st, q, run, t0, 0.5, 1.5, catalog.FormatTS, catalog.ModeCopy, hook.URL)
	long := submit(t, st, q, run, t0, 5, 9, catalog.FormatTS, catalog.ModeCopy, "") // reads segment 4
	select {
	case <-st.hit:
	case <-time.After(60 * time.Second):
		t.Fatal("the second job never started")
	}
	j := waitHook(t, w, first, 30*time.Second, func(h *catalog.ClipHook) bool { return h.DeliveredAt != nil })
	if j.Webhook.Attempts != 2 {
		t.Errorf("webhook %+v, want delivered on the second attempt", j.Webhook)
	}
	if l, err := catalog.ReadClipJob(context.Background(), st, long); err != nil || l.Status != catalog.ClipRunning {
		t.Fatalf("the long job is %v (%v); the retry should have gone out while it ran", l.Status, err)
	}
	open()
	if l := waitDone(t, st, long, 60*time.Second); l.Status != catalog.ClipSucceeded {
		t.Errorf("long job %+v", l)
	}
}

// A retry waiting out its backoff when the worker stops goes back to the
// queue with what is left of the backoff (a delayed message), and the next
// worker delivers it then, counting on from the recorded attempt.
func TestWebhookRetryKeptAcrossShutdown(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		st, q := localBackends(t)
		retryKeptAcrossShutdown(t, st, q)
	})
	t.Run("sqs", func(t *testing.T) {
		mediatest.Require(t)
		st, err := fsstore.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		retryKeptAcrossShutdown(t, st, sqstest.Start(t).Queue(t, 30*time.Second))
	})
}

func retryKeptAcrossShutdown(t *testing.T, st store.Store, q queue.Queue) {
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	run := runtest.WriteRun(t, st, testStream, t0, false)
	hook := newHookReceiver(t, 500)
	const backoff = 3 * time.Second
	cfg := Config{WorkDir: t.TempDir(), WebhookSecret: testSecret, WebhookGuard: loopbackAllowed(t), WebhookBackoff: backoff}
	w1 := New(cfg, st, q, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w1.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	id := submit(t, st, q, run, t0, 1, 3, catalog.FormatTS, catalog.ModeCopy, hook.URL)
	waitHook(t, w1, id, 60*time.Second, func(h *catalog.ClipHook) bool { return h.Attempts == 1 })
	failed := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return with a retry waiting")
	}
	if d := time.Since(failed); d > 2*time.Second {
		t.Errorf("Run took %s to stop", d)
	}

	w2 := startWorker(t, Config{}, st, q)
	j := waitHook(t, w2, id, 30*time.Second, func(h *catalog.ClipHook) bool { return h.DeliveredAt != nil })
	// The retry waited its backoff (jittered: at least half the step),
	// across the restart.
	if gap := j.Webhook.DeliveredAt.Sub(failed); gap < backoff/2-200*time.Millisecond {
		t.Errorf("retried %s after the failure, before half the %s backoff", gap, backoff)
	}
	if j.Webhook.Attempts != 2 || j.Attempts != 1 {
		t.Errorf("job attempts %d, webhook %+v; want one run, two deliveries", j.Attempts, j.Webhook)
	}
	if bodies, bad := hook.deliveries(); len(bodies) != 2 || bad != 0 {
		t.Errorf("%d deliveries, %d badly signed", len(bodies), bad)
	}
}
