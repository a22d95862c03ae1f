package origin

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/rewind-vod/rewind/catalog"
	"github.com/rewind-vod/rewind/media"
)

// Errors of the recording control, for the admin API.
var (
	errNoRecorder   = errors.New("this node has no recorder")
	errNotLiveHere  = errors.New("stream is not live on this node")
	errRecordFailed = errors.New("recording could not start")
)

// RecordingState is the recording of one live stream, as the admin API
// shows it.
type RecordingState struct {
	Stream    string `json:"stream"`
	Recording bool   `json:"recording"`
	// Run is the recording run being written ("" while stopped). The first
	// one of a publish has the publish's run id (the one in /v1/live and
	// the node registry); every restart is a new run with its own id.
	Run string `json:"run,omitempty"`
	// Since is when recording last started or stopped (or the publish
	// started).
	Since time.Time `json:"since"`
	// Runs are the recording runs of this publish so far, oldest first.
	Runs []string `json:"runs"`
	// Policy is what the configuration says for the stream at publish
	// ("on" or "off"); SegmentDurationMS its segment duration (0: the
	// recorder's default).
	Policy            string `json:"policy"`
	SegmentDurationMS int64  `json:"segment_duration_ms,omitempty"`
}

// RecordControl wraps the recorder's sink (Config.Recorder): it opens a
// recording for a publish only when the policy says so, and can stop and
// start it while the publish goes on. Stopping closes the recorder's
// SinkStream (the run ends as at unpublish); starting opens a new one with
// a fresh run id and replays the metadata and sequence headers seen so far,
// and the new run's frames begin at the next video keyframe. The publisher,
// the players and every other sink see nothing of it.
type RecordControl struct {
	sink    Sink
	name    string
	policy  RecordPolicy
	log     *slog.Logger
	changes *prometheus.CounterVec

	mu   sync.Mutex
	live map[string]*recStream // by stream key; one per stream (Sink contract)
}

func newRecordControl(sink Sink, policy RecordPolicy, log *slog.Logger, reg prometheus.Registerer) *RecordControl {
	c := &RecordControl{
		sink:   sink,
		name:   sinkNames([]Sink{sink})[0].name, // the recorder keeps its name in metrics and /v1/live
		policy: policy,
		log:    log,
		live:   map[string]*recStream{},
	}
	f := promauto.With(reg)
	c.changes = f.NewCounterVec(prometheus.CounterOpts{
		Name: "rewind_origin_recording_changes_total",
		Help: "Recording of live streams stopped (to=off) or started (to=on) through the admin API.",
	}, []string{"to"})
	for _, to := range []string{"on", "off"} {
		c.changes.WithLabelValues(to)
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "rewind_origin_recording_streams",
			Help:        "Live streams being recorded (state=on) or not (state=off).",
			ConstLabels: prometheus.Labels{"state": to},
		}, func() float64 { return float64(c.count(to == "on")) })
	}
	return c
}

// Name is the wrapped sink's name.
func (c *RecordControl) Name() string { return c.name }

func (c *RecordControl) count(recording bool) int {
	c.mu.Lock()
	streams := make([]*recStream, 0, len(c.live))
	for _, rs := range c.live {
		streams = append(streams, rs)
	}
	c.mu.Unlock()
	n := 0
	for _, rs := range streams {
		if rs.state().Recording == recording {
			n++
		}
	}
	return n
}

// Open starts a publish; it is recorded from the start unless the policy
// says off. An error opening the recorder refuses the publish, as it did
// without the control.
func (c *RecordControl) Open(info media.StreamInfo) (SinkStream, error) {
	record, seg := c.policy.For(info.App, info.Name)
	rs := &recStream{c: c, key: info.App + "/" + info.Name, info: info, since: info.StartedAt, policy: record, segment: seg}
	if record {
		ss, err := c.sink.Open(info)
		if err != nil {
			return nil, err
		}
		if ss == nil {
			return nil, errors.New("Open returned a nil SinkStream")
		}
		rs.cur, rs.run, rs.runs = ss, info.Run, []string{info.Run}
	} else {
		c.log.Info("not recording: off by policy", "stream", rs.key, "run", info.Run)
	}
	c.mu.Lock()
	c.live[rs.key] = rs
	c.mu.Unlock()
	return rs, nil
}

func (c *RecordControl) find(key string) (*recStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rs := c.live[key]; rs != nil {
		return rs, nil
	}
	return nil, errNotLiveHere
}

// State is the recording state of the live stream key (app/name).
func (c *RecordControl) State(key string) (RecordingState, error) {
	rs, err := c.find(key)
	if err != nil {
		return RecordingState{}, err
	}
	return rs.state(), nil
}

// Stop stops recording the live stream key: its recording run ends as at
// unpublish. Stopping a stream that is not being recorded is no error.
func (c *RecordControl) Stop(key string) (RecordingState, error) {
	rs, err := c.find(key)
	if err != nil {
		return RecordingState{}, err
	}
	return rs.stop()
}

// Start starts recording the live stream key as a new run. Starting a
// stream that is being recorded is no error.
func (c *RecordControl) Start(key string) (RecordingState, error) {
	rs, err := c.find(key)
	if err != nil {
		return RecordingState{}, err
	}
	return rs.start()
}

// recStream is one publish as the recording control sees it. WriteFrame
// and Close come from the publish's sink goroutine, stop and start from
// the API; mu orders them, so the recorder's stream still has one writer.
type recStream struct {
	c       *RecordControl
	key     string
	info    media.StreamInfo // the publish's
	policy  bool
	segment time.Duration

	mu      sync.Mutex
	cur     SinkStream // nil while not recording
	run     string
	runs    []string
	since   time.Time
	closed  bool
	waitKey bool // a restarted run waits for a video keyframe
	// What a new run needs first, as last seen: onMetaData and the
	// sequence headers (payloads are read-only, so holding them is safe).
	headers  [3]media.Frame // onMetaData, video, audio; a nil Payload: not seen
	hasVideo bool
	lastTS   uint32
}

// BatchDelay and Flush pass the recorder's batching through the control
// (batchSink): the sink queue sees this stream, not the recorder's. The
// delay is asked once, at the publish; a stream whose recording is off
// then gets no gathering delay, and each drained batch is still flushed.
func (rs *recStream) BatchDelay() time.Duration {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if bs, ok := rs.cur.(batchSink); ok {
		return bs.BatchDelay()
	}
	return 0
}

func (rs *recStream) Flush() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if bs, ok := rs.cur.(batchSink); ok {
		bs.Flush()
	}
}

func (rs *recStream) WriteFrame(f media.Frame) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.lastTS = f.Timestamp
	header := -1
	switch f.Type {
	case media.FrameData:
		if _, ok := media.ParseMetadataTracks(f.Payload); ok {
			header = 0
		}
	case media.FrameVideo:
		rs.hasVideo = true
		if media.IsVideoSeqHeader(f.Payload) {
			header = 1
		}
	case media.FrameAudio:
		if media.IsAACSeqHeader(f.Payload) {
			header = 2
		}
	}
	if header >= 0 {
		rs.headers[header] = f
	}
	if rs.cur == nil {
		return
	}
	if rs.waitKey && header < 0 {
		if f.Type != media.FrameVideo || !media.IsVideoKeyframe(f.Payload) {
			return
		}
		rs.waitKey = false
	}
	rs.cur.WriteFrame(f)
}

func (rs *recStream) Close() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.closed = true
	rs.c.mu.Lock()
	if rs.c.live[rs.key] == rs {
		delete(rs.c.live, rs.key)
	}
	rs.c.mu.Unlock()
	if rs.cur != nil {
		cur := rs.cur
		rs.cur = nil
		cur.Close()
	}
}

func (rs *recStream) state() RecordingState {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.stateLocked()
}

func (rs *recStream) stateLocked() RecordingState {
	st := RecordingState{
		Stream: rs.key, Recording: rs.cur != nil, Run: rs.run, Since: rs.since,
		Runs: append([]string{}, rs.runs...), Policy: "off", SegmentDurationMS: rs.segment.Milliseconds(),
	}
	if rs.policy {
		st.Policy = "on"
	}
	return st
}

func (rs *recStream) stop() (RecordingState, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return RecordingState{}, errNotLiveHere
	}
	if rs.cur == nil {
		return rs.stateLocked(), nil
	}
	cur, run := rs.cur, rs.run
	rs.cur, rs.run, rs.since = nil, "", time.Now()
	// Closed as the sink queue closes it at unpublish: a panic is the
	// recorder's, the publish goes on.
	if err := guard(cur.Close); err != nil {
		rs.c.log.Error("recorder panicked closing a run", "stream", rs.key, "run", run, "err", err)
	}
	rs.c.changes.WithLabelValues("off").Inc()
	rs.c.log.Info("recording stopped", "stream", rs.key, "run", run)
	return rs.stateLocked(), nil
}

func (rs *recStream) start() (RecordingState, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return RecordingState{}, errNotLiveHere
	}
	if rs.cur != nil {
		return rs.stateLocked(), nil
	}
	now := time.Now()
	info := rs.info
	info.Run, info.StartedAt = catalog.NewRunID(now, info.Node), now
	var ss SinkStream
	var err error
	if perr := guard(func() { ss, err = rs.c.sink.Open(info) }); perr != nil {
		err = perr
	} else if err == nil && ss == nil {
		err = errors.New("Open returned a nil SinkStream")
	}
	if err == nil {
		err = guard(func() {
			for _, f := range rs.headers {
				if f.Payload != nil {
					f.Timestamp = rs.lastTS // on the stream's clock now, not at its start
					ss.WriteFrame(f)
				}
			}
		})
		if err != nil {
			_ = guard(ss.Close)
		}
	}
	if err != nil {
		rs.c.log.Warn("recording could not start", "stream", rs.key, "err", err)
		return rs.stateLocked(), fmt.Errorf("%w: %v", errRecordFailed, err)
	}
	rs.cur, rs.run, rs.since = ss, info.Run, now
	rs.runs = append(rs.runs, info.Run)
	rs.waitKey = rs.hasVideo
	rs.c.changes.WithLabelValues("on").Inc()
	rs.c.log.Info("recording started", "stream", rs.key, "run", info.Run, "publish_run", rs.info.Run)
	return rs.stateLocked(), nil
}

// guard runs fn and turns a panic into an error.
func guard(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	fn()
	return nil
}
