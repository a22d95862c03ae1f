package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rewind-vod/rewind/infra/store"
)

// Recorder records streams: it slices each publish into the spool and,
// with AgentInternal, uploads it too through an in-process Agent. Create
// it with New, call Run once, and Open a Stream per publish.
type Recorder struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	agent *Agent // the in-process uploader; nil with AgentExternal

	spoolBytes *spoolGauge

	mu   sync.Mutex
	live map[*Stream]struct{} // open streams, for the segment age metric

	ready    chan struct{} // closed once Run has started, or failed to
	startErr error
}

// New makes a recorder; reg may be nil. With AgentExternal st is not used
// (pass nil): the live process never talks to the store for recordings.
func New(cfg Config, st store.Store, log *slog.Logger, reg prometheus.Registerer) (*Recorder, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Spool, 0o755); err != nil {
		return nil, fmt.Errorf("recorder: spool: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	m := newMetrics(reg)
	r := &Recorder{
		cfg:        cfg,
		log:        log.With("component", "recorder"),
		m:          m,
		spoolBytes: &spoolGauge{g: m.spoolBytes},
		live:       map[*Stream]struct{}{},
		ready:      make(chan struct{}),
	}
	if reg != nil {
		reg.MustRegister(&segmentAgeCollector{r: r})
	}
	if cfg.Agent == AgentInternal {
		if st == nil {
			return nil, errors.New("recorder: the in-process agent needs a store")
		}
		r.agent = newAgent(cfg, st, log, m, r.spoolBytes)
	}
	return r, nil
}

// Run starts the recorder and runs until ctx is done. With the in-process
// agent it first takes the spool's uploader lock and picks up what an
// earlier process left in the spool, then uploads; what is not uploaded by
// the end stays in the spool for the next start: nothing is lost. With
// AgentExternal it only keeps the spool's size up to date.
func (r *Recorder) Run(ctx context.Context) error {
	if r.agent != nil {
		if err := r.agent.start(); err != nil {
			r.startErr = err
			close(r.ready)
			return err
		}
		close(r.ready)
		return r.agent.loop(ctx)
	}
	r.measureSpool()
	close(r.ready)
	t := time.NewTicker(spoolMeasureInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.measureSpool()
		}
	}
}

// Pending reports the segments and runs not yet fully in the store; with
// AgentExternal this process has none of its own.
func (r *Recorder) Pending() (segments, runs int) {
	if r.agent == nil {
		return 0, 0
	}
	return r.agent.Pending()
}

// WaitIdle waits until every spooled segment and every ended run is in the
// store (live runs still open count as pending), or ctx is done. With
// AgentExternal there is nothing to wait for here: the agent uploads.
func (r *Recorder) WaitIdle(ctx context.Context) error {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return fmt.Errorf("recorder: start: %w", ctx.Err())
	}
	if r.startErr != nil {
		return r.startErr
	}
	if r.agent == nil {
		return nil
	}
	return r.agent.WaitIdle(ctx)
}

// addLive and dropLive keep the open streams for the metrics.
func (r *Recorder) addLive(s *Stream) {
	r.mu.Lock()
	r.live[s] = struct{}{}
	r.mu.Unlock()
}

func (r *Recorder) dropLive(s *Stream) {
	r.mu.Lock()
	delete(r.live, s)
	r.mu.Unlock()
}
