package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/infra/queue"
	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/internal/benchkit"
)

// timedStore is the worker's view of the store. It notes when the worker
// reads segments and writes the clip, so a job's wall time splits into its
// phases without touching the editor.
type timedStore struct {
	store.Store

	mu                  sync.Mutex
	firstGet, lastClose time.Time // segment reads
	putStart, putEnd    time.Time // output writes (job.json excluded)
}

func (t *timedStore) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.firstGet, t.lastClose, t.putStart, t.putEnd = time.Time{}, time.Time{}, time.Time{}, time.Time{}
}

func (t *timedStore) Get(ctx context.Context, key string, rng *store.Range) (io.ReadCloser, store.Info, error) {
	if !strings.HasPrefix(key, catalog.StreamsPrefix) {
		return t.Store.Get(ctx, key, rng)
	}
	t.mu.Lock()
	if t.firstGet.IsZero() {
		t.firstGet = time.Now()
	}
	t.mu.Unlock()
	rc, info, err := t.Store.Get(ctx, key, rng)
	if err != nil {
		return rc, info, err
	}
	return &timedReader{ReadCloser: rc, t: t}, info, nil
}

func (t *timedStore) Put(ctx context.Context, key string, data []byte, contentType string) error {
	return t.timePut(key, func() error { return t.Store.Put(ctx, key, data, contentType) })
}

// PutFile keeps the store's own PutFile (the FS store links the file)
// behind the wrapper, as the editor sees it without one.
func (t *timedStore) PutFile(ctx context.Context, key, path, contentType string) error {
	return t.timePut(key, func() error { return store.PutFile(ctx, t.Store, key, path, contentType) })
}

func (t *timedStore) timePut(key string, put func() error) error {
	output := strings.HasPrefix(key, catalog.ClipsPrefix) && !strings.HasSuffix(key, "/job.json")
	if output {
		t.mu.Lock()
		if t.putStart.IsZero() {
			t.putStart = time.Now()
		}
		t.mu.Unlock()
	}
	err := put()
	if output {
		t.mu.Lock()
		t.putEnd = time.Now()
		t.mu.Unlock()
	}
	return err
}

// timedReader marks the end of a segment read (the editor copies the body
// after Get returns).
type timedReader struct {
	io.ReadCloser
	t *timedStore
}

func (r *timedReader) Close() error {
	err := r.ReadCloser.Close()
	r.t.mu.Lock()
	r.t.lastClose = time.Now()
	r.t.mu.Unlock()
	return err
}

// phases splits a job's wall time (from Send to the document saying done).
type phases struct {
	queue, fetch, cut, upload, finish time.Duration
}

func (p phases) String() string {
	s := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	return "queue+start " + s(p.queue) + ", fetch " + s(p.fetch) + ", cut " + s(p.cut) +
		", upload " + s(p.upload) + ", done+poll " + s(p.finish)
}

// jobRun is one rewind clip job as timed by the bench.
type jobRun struct {
	job    *catalog.ClipJob
	took   time.Duration
	phases phases
	send   time.Duration            // the queue's Send (a durable write)
	editor map[string]time.Duration // the editor's own phases (rewind_editor_phase_seconds)
	rss    int64                    // this process's peak RSS during the job less its RSS before, bytes; -1 unknown
	poll   time.Duration            // the result document written (FinishedAt + the finish phase) to the bench seeing it
}

// editorPhases sums rewind_editor_phase_seconds by phase.
func editorPhases(reg *prometheus.Registry) (map[string]time.Duration, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("editor metrics: %w", err)
	}
	m := map[string]time.Duration{}
	for _, mf := range mfs {
		if mf.GetName() != "rewind_editor_phase_seconds" {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "phase" {
					m[l.GetValue()] += time.Duration(s.GetHistogram().GetSampleSum() * float64(time.Second))
				}
			}
		}
	}
	return m, nil
}

// resetPeakRSS makes VmHWM start again from VmRSS (Linux clear_refs 5)
// and returns VmRSS; -1 where that is not possible.
func resetPeakRSS() int64 {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return -1
	}
	rss, err := benchkit.StatusBytes("self", "VmRSS")
	if err != nil {
		return -1
	}
	return rss
}

// peakRSSSince is VmHWM less base (resetPeakRSS's), or -1.
func peakRSSSince(base int64) int64 {
	if base < 0 {
		return -1
	}
	hwm, err := benchkit.StatusBytes("self", "VmHWM")
	if err != nil {
		return -1
	}
	return hwm - base
}

// runJob submits a clip job the way the API does (document, then queue
// message) and times it from Send until the document says it is done.
func runJob(ctx context.Context, st store.Store, ts *timedStore, q queue.Queue, reg *prometheus.Registry, r recording, p catalog.ClipPart,
	start, end time.Time, format, mode string) (jobRun, error) {
	now := time.Now().UTC()
	job := &catalog.ClipJob{ID: catalog.NewClipID(), Status: catalog.ClipQueued,
		Request: catalog.ClipRequest{Stream: r.stream.String(), Start: start.UTC(), End: end.UTC(),
			Format: format, Mode: mode},
		Parts: []catalog.ClipPart{p}, CreatedAt: now, UpdatedAt: now}
	if err := catalog.WriteClipJob(ctx, st, job); err != nil {
		return jobRun{}, err
	}
	ts.reset()
	ph0, err := editorPhases(reg)
	if err != nil {
		return jobRun{}, err
	}
	runtime.GC() // the last job's garbage is not this one's peak
	rss0 := resetPeakRSS()
	t0 := time.Now()
	if _, err := q.Send(ctx, catalog.EncodeClipMessage(job.ID)); err != nil {
		return jobRun{}, fmt.Errorf("queue clip: %w", err)
	}
	send := time.Since(t0)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return jobRun{}, fmt.Errorf("clip %s (%s): %w", job.ID, mode, ctx.Err())
		case <-tick.C:
		}
		j, err := catalog.ReadClipJob(ctx, st, job.ID)
		if err != nil {
			return jobRun{}, err
		}
		if !j.Done() {
			continue
		}
		done := time.Now()
		rss := peakRSSSince(rss0)
		if j.Status != catalog.ClipSucceeded {
			return jobRun{job: j}, fmt.Errorf("clip %s (%s) %s: %s", j.ID, mode, j.Status, j.Error)
		}
		if j.Output == nil {
			return jobRun{job: j}, errors.New("clip " + j.ID + " succeeded without an output")
		}
		ts.mu.Lock()
		ph := phases{queue: ts.firstGet.Sub(t0), fetch: ts.lastClose.Sub(ts.firstGet),
			cut: ts.putStart.Sub(ts.lastClose), upload: ts.putEnd.Sub(ts.putStart), finish: done.Sub(ts.putEnd)}
		ts.mu.Unlock()
		ph1, err := editorPhases(reg)
		if err != nil {
			return jobRun{}, err
		}
		for k, v := range ph0 {
			ph1[k] -= v
		}
		var poll time.Duration
		if j.FinishedAt != nil {
			poll = max(done.Sub(j.FinishedAt.Add(ph1["finish"])), 0)
		}
		return jobRun{job: j, took: done.Sub(t0), phases: ph, send: send, editor: ph1, rss: rss, poll: poll}, nil
	}
}
