package main

import (
	"context"
	"sync"
	"time"

	"github.com/rewind-vod/rewind/internal/flvfile"
	"github.com/rewind-vod/rewind/internal/loadgen"
)

const app = "bench"

// publishers are loadgen publishers of app/{name} running until stopped.
type publishers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	stats []loadgen.Stats
	errs  []error
}

// publish starts one real-time publisher per name into the RTMP address
// addr, their starts spread over stagger (as real publishers arrive). Each
// publishes until stop or limit.
func publish(ctx context.Context, addr string, names []string, tags []flvfile.Tag, stagger, limit time.Duration) *publishers {
	ctx, cancel := context.WithCancel(ctx)
	g := &publishers{cancel: cancel}
	for i, name := range names {
		g.wg.Go(func() {
			if sleep(ctx, time.Duration(i)*stagger/time.Duration(len(names))) != nil {
				return
			}
			st, err := loadgen.Publish(ctx, addr, app, name, tags, limit)
			g.mu.Lock()
			defer g.mu.Unlock()
			g.stats = append(g.stats, st)
			if err != nil {
				g.errs = append(g.errs, err)
			}
		})
	}
	return g
}

// failed is how many publishers have failed so far, and the first error.
func (g *publishers) failed() (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.errs) == 0 {
		return 0, nil
	}
	return len(g.errs), g.errs[0]
}

// stop ends the publishers and waits for them; it returns the worst
// pacing delay of any of them.
func (g *publishers) stop() (maxLate time.Duration) {
	g.cancel()
	g.wg.Wait()
	for _, s := range g.stats {
		maxLate = max(maxLate, s.MaxLate)
	}
	return maxLate
}
