package queue_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/queue/embedded"
)

func openDir(t *testing.T, dir string, lease time.Duration) *embedded.Queue {
	t.Helper()
	q, err := embedded.Open(dir, lease)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// dirFiles lists the names in dir, sorted.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// receiveAll receives until n messages came or wait passed, by ID.
func receiveAll(t *testing.T, q queue.Queue, n int, wait time.Duration) map[string]queue.Message {
	t.Helper()
	got := map[string]queue.Message{}
	for deadline := time.Now().Add(wait); len(got) < n && time.Now().Before(deadline); {
		msgs, err := q.Receive(ctx, 10, time.Until(deadline))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if _, dup := got[m.ID]; dup {
				t.Fatalf("message %s received twice", m.ID)
			}
			got[m.ID] = m
		}
	}
	return got
}

// TestEmbeddedLayout: one file per message, named by its ID, and nothing
// else left behind (no temp files) by Send, Receive or Delete.
func TestEmbeddedLayout(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "queue") // OpenDir creates it
	q := openDir(t, dir, time.Minute)
	if q.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", q.Dir(), dir)
	}
	id := send(t, q, `{"job":1}`)
	if got := dirFiles(t, dir); !slices.Equal(got, []string{id + ".json"}) {
		t.Fatalf("files after send: %q", got)
	}
	m := receiveOne(t, q, 0)
	if got := dirFiles(t, dir); !slices.Equal(got, []string{id + ".json"}) {
		t.Fatalf("files after receive: %q", got)
	}
	if err := q.Delete(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := dirFiles(t, dir); len(got) != 0 {
		t.Fatalf("files after delete: %q", got)
	}
	// Deleting again is a no-op: the job is done either way.
	if err := q.Delete(ctx, m); err != nil {
		t.Errorf("second delete: %v", err)
	}
}

// TestEmbeddedPersistence: queued and in-flight messages survive Close and
// OpenDir with their delivery counts; an in-flight one whose lease ran out
// meanwhile comes back with Attempts+1; a deleted one does not come back.
func TestEmbeddedPersistence(t *testing.T) {
	t.Parallel()
	const lease = 300 * time.Millisecond
	dir := t.TempDir()
	q := openDir(t, dir, lease)
	inflight := send(t, q, "in flight")
	done := send(t, q, "done")
	queued := send(t, q, "queued")
	// Oldest first: the two sent first.
	msgs, err := q.Receive(ctx, 2, 0)
	if err != nil || len(msgs) != 2 || msgs[0].ID != inflight || msgs[1].ID != done {
		t.Fatalf("receive: %+v, %v; want %s and %s", msgs, err, inflight, done)
	}
	old := msgs[0]
	if err := q.Delete(ctx, msgs[1]); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	q2 := openDir(t, dir, time.Minute)
	got := receiveAll(t, q2, 2, lease+2*time.Second)
	if len(got) != 2 {
		t.Fatalf("after reopen received %+v, want %s and %s", got, queued, inflight)
	}
	if m := got[queued]; string(m.Body) != "queued" || m.Attempts != 1 {
		t.Errorf("queued message after reopen: %+v", m)
	}
	if m := got[inflight]; string(m.Body) != "in flight" || m.Attempts != 2 {
		t.Errorf("in-flight message after reopen: %+v", m)
	}
	if _, ok := got[done]; ok {
		t.Errorf("deleted message %s came back", done)
	}
	// The receipt from the last life was superseded by the new delivery.
	if err := q2.Extend(ctx, old, time.Minute); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("extend with a superseded receipt: %v", err)
	}
	if err := q2.Delete(ctx, old); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("delete with a superseded receipt: %v", err)
	}
	for _, m := range got {
		if err := q2.Delete(ctx, m); err != nil {
			t.Error(err)
		}
	}
	if files := dirFiles(t, dir); len(files) != 0 {
		t.Errorf("left behind: %q", files)
	}
}

// TestEmbeddedLeaseSurvivesRestart: a lease still running at reopen is
// honoured, and its receipt still works in the new life.
func TestEmbeddedLeaseSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q := openDir(t, dir, time.Minute)
	send(t, q, "job")
	m := receiveOne(t, q, 0)
	_ = q.Close()
	q2 := openDir(t, dir, time.Minute)
	expectNone(t, q2, 50*time.Millisecond, "leased message")
	if err := q2.Extend(ctx, m, time.Minute); err != nil {
		t.Errorf("extend after reopen: %v", err)
	}
	if err := q2.Delete(ctx, m); err != nil {
		t.Errorf("delete after reopen: %v", err)
	}
}

// TestEmbeddedTornFiles: what a crash can leave (a half-written temp file)
// and what does not belong to us are ignored with no loss; temp files are
// cleared, foreign and damaged files kept for a human.
func TestEmbeddedTornFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q := openDir(t, dir, time.Minute)
	a := send(t, q, "a")
	b := send(t, q, "b")
	_ = q.Close()

	whole, err := os.ReadFile(filepath.Join(dir, a+".json"))
	if err != nil {
		t.Fatal(err)
	}
	junk := map[string]string{
		".tmp-123456":                          string(whole[:len(whole)/2]),     // torn rewrite of a
		".tmp-abcdef":                          "",                               // created, never written
		"20990101T000000.000000000Z-dead.json": `{"v":1,"id":"20990101T000000.0`, // torn without temp (not ours)
		"README":                               "not a message",
		"x.json.bak":                           string(whole),
	}
	for name, data := range junk {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	q2 := openDir(t, dir, time.Minute)
	got := receiveAll(t, q2, 2, 200*time.Millisecond)
	if len(got) != 2 || string(got[a].Body) != "a" || string(got[b].Body) != "b" {
		t.Fatalf("after junk: %+v", got)
	}
	expectNone(t, q2, 0, "only the two real messages")
	files := dirFiles(t, dir)
	for _, name := range files {
		if strings.HasPrefix(name, ".tmp-") {
			t.Errorf("temp file %s not cleared", name)
		}
	}
	for _, keep := range []string{"README", "x.json.bak", "20990101T000000.000000000Z-dead.json"} {
		if !slices.Contains(files, keep) {
			t.Errorf("%s was removed; files: %q", keep, files)
		}
	}
}

// TestEmbeddedExpiryWakesReceiver: a receiver blocked on an empty queue
// wakes when a lease runs out, with no Send to nudge it.
func TestEmbeddedExpiryWakesReceiver(t *testing.T) {
	t.Parallel()
	const lease = 200 * time.Millisecond
	q := openDir(t, t.TempDir(), lease)
	send(t, q, "job")
	first := receiveOne(t, q, 0)
	start := time.Now()
	second := receiveOne(t, q, 5*time.Second)
	if took := time.Since(start); took > lease+250*time.Millisecond {
		t.Errorf("redelivery took %v for a %v lease", took, lease)
	}
	if second.ID != first.ID || second.Attempts != 2 {
		t.Errorf("second %+v after first %+v", second, first)
	}
	// Shortening a lease wakes waiters too.
	start = time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := q.Extend(ctx, second, time.Minute); err != nil {
			t.Error(err)
		}
		time.Sleep(50 * time.Millisecond)
		if err := q.Extend(ctx, second, time.Millisecond); err != nil {
			t.Error(err)
		}
	})
	third := receiveOne(t, q, 5*time.Second)
	wg.Wait()
	if took := time.Since(start); took > time.Second || third.Attempts != 3 {
		t.Errorf("after a shortened lease: %+v in %v", third, took)
	}
}

// TestEmbeddedConcurrency hammers one queue from many goroutines (run with
// -race): every message is handled exactly once and nothing is left.
func TestEmbeddedConcurrency(t *testing.T) {
	t.Parallel()
	const producers, perProducer, consumers = 4, 25, 4
	dir := t.TempDir()
	q := openDir(t, dir, time.Minute)
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	for range producers {
		wg.Go(func() {
			for range perProducer {
				if _, err := q.Send(ctx, []byte("job")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	handled := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	for range consumers {
		wg.Go(func() {
			for handled() < producers*perProducer && time.Now().Before(deadline) {
				msgs, err := q.Receive(ctx, 5, 100*time.Millisecond)
				if err != nil {
					t.Error(err)
					return
				}
				for _, m := range msgs {
					mu.Lock()
					dup := seen[m.ID]
					seen[m.ID] = true
					mu.Unlock()
					if dup {
						t.Errorf("message %s handled twice", m.ID)
					}
					if err := q.Delete(ctx, m); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != producers*perProducer {
		t.Errorf("handled %d messages, sent %d", len(seen), producers*perProducer)
	}
	if files := dirFiles(t, dir); len(files) != 0 {
		t.Errorf("left behind: %q", files)
	}
}

func TestOpenDirErrors(t *testing.T) {
	t.Parallel()
	if _, err := embedded.Open(t.TempDir(), 0); err == nil {
		t.Error("zero lease accepted")
	}
	if _, err := embedded.Open("", time.Second); err == nil {
		t.Error("empty folder accepted")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.Open(file, time.Second); err == nil || !strings.HasPrefix(err.Error(), "queue: ") {
		t.Errorf("a file as the folder: %v", err)
	}
}

// A delayed message keeps its delay across a restart: it is on disk as
// not yet receivable, with no delivery counted.
func TestEmbeddedDelaySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	q := openDir(t, dir, time.Minute)
	sent := time.Now()
	id, err := q.SendAfter(context.Background(), []byte("later"), 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = openDir(t, dir, time.Minute)
	msgs, err := q.Receive(context.Background(), 1, 3*time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %v %v", msgs, err)
	}
	if d := time.Since(sent); d < 1400*time.Millisecond {
		t.Errorf("received %v after sending, before the delay", d)
	}
	if msgs[0].ID != id || msgs[0].Attempts != 1 {
		t.Errorf("message %+v", msgs[0])
	}
}
