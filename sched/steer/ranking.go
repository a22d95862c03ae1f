package steer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Ranker gives the CDN (pathway ID) order for a region, best first. It must
// return when ctx is done (10 x RankerDeadline after the call, or Close);
// an answer after the deadline still becomes the region's last order. IDs
// that are not configured are ignored; an answer without a configured one
// counts as no answer.
type Ranker interface {
	Pull(ctx context.Context, region string) ([]string, error) // viewers
	Push(ctx context.Context, region string) ([]string, error) // streamers
}

// OtherRegion is the region of a client the Region function gave no valid
// name for (the collector's label for the same case).
const OtherRegion = "other"

// Where an order came from (rewind_steer_answers_total{source}).
const (
	SourceRanker = "ranker"
	SourceLast   = "last"
	SourceStatic = "static"
)

type direction uint8

const (
	pull direction = iota
	push
)

func (d direction) String() string {
	if d == push {
		return "push"
	}
	return "pull"
}

type rankKey struct {
	region string
	dir    direction
}

// ranking asks the Ranker with a deadline and remembers the last good order
// per region. Concurrent asks for one region share one Ranker call, so a
// Ranker that hangs costs at most one goroutine per region and direction,
// not one per request.
type ranking struct {
	ranker     Ranker
	deadline   time.Duration
	maxRegions int
	ctx        context.Context // cancelled on Close; parent of every Ranker call
	wg         sync.WaitGroup

	mu     sync.Mutex
	last   map[rankKey][]string
	flight map[rankKey]*call
}

type call struct {
	done  chan struct{}
	order []string
	err   error
}

var errEmpty = errors.New("empty order")

// order returns the order for region: the Ranker's if it answers within
// the deadline, else the last one it gave, else the static order, each
// restricted to the pathways of c. It never fails; the error says why the
// Ranker's answer was not used.
func (r *ranking) order(ctx context.Context, region string, dir direction, c *compiled) ([]string, string, error) {
	key := rankKey{region, dir}
	ctx, cancel := context.WithTimeout(ctx, r.deadline)
	defer cancel()
	cl := r.start(key, c)
	var err error
	select {
	case <-cl.done:
		if cl.err == nil {
			if o := known(cl.order, c); len(o) > 0 {
				return o, SourceRanker, nil
			}
			err = errEmpty
		} else {
			err = cl.err
		}
	case <-ctx.Done():
		err = fmt.Errorf("no answer within %s", r.deadline)
	}
	r.mu.Lock()
	last := r.last[key]
	r.mu.Unlock()
	if o := known(last, c); len(o) > 0 {
		return o, SourceLast, err
	}
	return c.static, SourceStatic, err
}

// start joins the Ranker call in flight for key or starts one. An answer
// naming none of c's pathways is no answer: it does not replace the last
// good one.
func (r *ranking) start(key rankKey, c *compiled) *call {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cl := r.flight[key]; cl != nil {
		return cl
	}
	cl := &call{done: make(chan struct{})}
	r.flight[key] = cl
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		// The call outlives no request by much: the deadline bounds it,
		// a little slack lets a slow answer still refresh "last".
		ctx, cancel := context.WithTimeout(r.ctx, 10*r.deadline)
		defer cancel()
		o, err := r.ask(ctx, key)
		if err == nil && len(known(o, c)) == 0 {
			err = errEmpty
		}
		if err == nil {
			o = dedupe(o)
		}
		r.mu.Lock()
		delete(r.flight, key)
		if err == nil {
			if _, ok := r.last[key]; ok || len(r.last) < 2*r.maxRegions { // a pull and a push order per region
				r.last[key] = o
			}
		}
		r.mu.Unlock()
		cl.order, cl.err = o, err
		close(cl.done)
	}()
	return cl
}

// ask calls the Ranker. It runs on a goroutine of its own, where a panic
// would take the process down instead of one request: it becomes an
// error, and the order falls back like any other failure.
func (r *ranking) ask(ctx context.Context, key rankKey) (o []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("ranker panicked: %v", p)
		}
	}()
	if key.dir == push {
		return r.ranker.Push(ctx, key.region)
	}
	return r.ranker.Pull(ctx, key.region)
}

// known keeps the configured IDs of o, in order.
func known(o []string, c *compiled) []string {
	out := make([]string, 0, len(o))
	for _, id := range o {
		if c.byID[id] != nil {
			out = append(out, id)
		}
	}
	return out
}

// dedupe copies o without repeated IDs (the first place counts) and
// bounded, so that a misbehaving Ranker cannot grow what is remembered.
func dedupe(o []string) []string {
	out := make([]string, 0, min(len(o), 4*MaxPathways))
	seen := map[string]bool{}
	for _, id := range o {
		if !seen[id] && len(out) < 4*MaxPathways {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
