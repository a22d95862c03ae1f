package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"

	"github.com/rewind-vod/rewind/infra/store"
)

// Run states as stored in run.json.
const (
	StateLive  = "live"
	StateEnded = "ended"
)

// ManifestVersion is the run.json format version this package writes and reads.
const ManifestVersion = 1

// DefaultTargetDuration is the segment target duration when none is configured.
const DefaultTargetDuration = 4 * time.Second

// staleTargetDurations: a live run whose last segment is older than this many
// target durations is treated as ended (its node died without saying so).
const staleTargetDurations = 3

// maxManifestSize bounds what ReadManifest reads; a real run.json is < 1 KiB.
const maxManifestSize = 64 << 10

// manifestTimeLayout is RFC 3339 with exactly milliseconds, in UTC.
const manifestTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Manifest is run.json: written when a run starts and again when it ends.
// Times are kept to the millisecond on the wire.
type Manifest struct {
	Stream           string     `json:"stream"` // "app/name"
	Run              string     `json:"run"`
	Node             string     `json:"node"`
	StartedAt        time.Time  `json:"started_at"`
	EndedAt          *time.Time `json:"ended_at"` // nil while live
	State            string     `json:"state"`    // StateLive or StateEnded
	Video            *VideoInfo `json:"video,omitempty"`
	Audio            *AudioInfo `json:"audio,omitempty"`
	TargetDurationMS int64      `json:"target_duration_ms"`
	// MaxSegmentDurationMS is the recorder's hard cut for long GOPs; 0
	// (runs recorded before it was written) means the recorder's default,
	// DefaultMaxSegmentTargets × the target.
	MaxSegmentDurationMS int64 `json:"max_segment_duration_ms,omitempty"`
	Version              int   `json:"version"`
}

// DefaultMaxSegmentTargets is the recorder's default hard maximum segment
// duration, in target durations.
const DefaultMaxSegmentTargets = 3

// VideoInfo describes the video track of a run.
type VideoInfo struct {
	Codec  string  `json:"codec"` // RFC 6381, e.g. "avc1.64001f"
	Width  int     `json:"width"`
	Height int     `json:"height"`
	FPS    float64 `json:"fps"` // 0 when unknown
}

// AudioInfo describes the audio track of a run.
type AudioInfo struct {
	Codec      string `json:"codec"` // RFC 6381, e.g. "mp4a.40.2"
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
}

// manifestWire is the JSON shape, with times as millisecond strings (the
// default time.Time encoding drops trailing zeros and keeps nanoseconds).
type manifestWire struct {
	Stream               string     `json:"stream"`
	Run                  string     `json:"run"`
	Node                 string     `json:"node"`
	StartedAt            string     `json:"started_at"`
	EndedAt              *string    `json:"ended_at"`
	State                string     `json:"state"`
	Video                *VideoInfo `json:"video,omitempty"`
	Audio                *AudioInfo `json:"audio,omitempty"`
	TargetDurationMS     int64      `json:"target_duration_ms"`
	MaxSegmentDurationMS int64      `json:"max_segment_duration_ms,omitempty"`
	Version              int        `json:"version"`
}

// MarshalJSON writes times as RFC 3339 UTC with milliseconds.
func (m Manifest) MarshalJSON() ([]byte, error) {
	w := manifestWire{
		Stream: m.Stream, Run: m.Run, Node: m.Node,
		StartedAt: m.StartedAt.UTC().Format(manifestTimeLayout),
		State:     m.State, Video: m.Video, Audio: m.Audio,
		TargetDurationMS: m.TargetDurationMS, MaxSegmentDurationMS: m.MaxSegmentDurationMS,
		Version: m.Version,
	}
	if m.EndedAt != nil {
		s := m.EndedAt.UTC().Format(manifestTimeLayout)
		w.EndedAt = &s
	}
	return json.Marshal(w)
}

// UnmarshalJSON accepts any RFC 3339 time and keeps it in UTC.
func (m *Manifest) UnmarshalJSON(data []byte) error {
	var w manifestWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	started, err := time.Parse(time.RFC3339Nano, w.StartedAt)
	if err != nil {
		return fmt.Errorf("started_at: %w", err)
	}
	var ended *time.Time
	if w.EndedAt != nil {
		t, err := time.Parse(time.RFC3339Nano, *w.EndedAt)
		if err != nil {
			return fmt.Errorf("ended_at: %w", err)
		}
		t = t.UTC()
		ended = &t
	}
	*m = Manifest{
		Stream: w.Stream, Run: w.Run, Node: w.Node,
		StartedAt: started.UTC(), EndedAt: ended,
		State: w.State, Video: w.Video, Audio: w.Audio,
		TargetDurationMS: w.TargetDurationMS, MaxSegmentDurationMS: w.MaxSegmentDurationMS,
		Version: w.Version,
	}
	return nil
}

// Validate checks that m is a consistent version 1 manifest.
func (m *Manifest) Validate() error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("invalid run manifest: %w", err)
	}
	return nil
}

func (m *Manifest) validate() error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("unsupported version %d (want %d)", m.Version, ManifestVersion)
	}
	if _, err := ParseStream(m.Stream); err != nil {
		return err
	}
	id, err := ParseRunID(m.Run)
	if err != nil {
		return err
	}
	if m.Node == "" || len(m.Node) > 255 || !utf8.ValidString(m.Node) {
		return errors.New("node must be 1 to 255 bytes of UTF-8")
	}
	// The run id embeds the sanitized node: a mismatch means the manifest was
	// copied or hand-edited into the wrong run.
	if SanitizeNode(m.Node) != id.Node {
		return fmt.Errorf("node %s does not match run id %q", quoteTrunc(m.Node), m.Run)
	}
	if m.StartedAt.IsZero() {
		return errors.New("started_at is missing")
	}
	switch m.State {
	case StateLive:
		if m.EndedAt != nil {
			return errors.New("a live run must have ended_at null")
		}
	case StateEnded:
		if m.EndedAt == nil {
			return errors.New("an ended run must have ended_at")
		}
		if m.EndedAt.Before(m.StartedAt) {
			return errors.New("ended_at is before started_at")
		}
	default:
		return fmt.Errorf("state %s is neither %q nor %q", quoteTrunc(m.State), StateLive, StateEnded)
	}
	if m.TargetDurationMS <= 0 {
		return fmt.Errorf("target_duration_ms %d must be positive", m.TargetDurationMS)
	}
	if m.MaxSegmentDurationMS != 0 && m.MaxSegmentDurationMS < m.TargetDurationMS {
		return fmt.Errorf("max_segment_duration_ms %d is below target_duration_ms %d", m.MaxSegmentDurationMS, m.TargetDurationMS)
	}
	if v := m.Video; v != nil {
		if err := checkCodec(v.Codec); err != nil {
			return fmt.Errorf("video: %w", err)
		}
		if v.Width <= 0 || v.Height <= 0 {
			return fmt.Errorf("video: size %dx%d must be positive", v.Width, v.Height)
		}
		if v.FPS < 0 || math.IsNaN(v.FPS) || math.IsInf(v.FPS, 0) {
			return fmt.Errorf("video: bad fps %v", v.FPS)
		}
	}
	if a := m.Audio; a != nil {
		if err := checkCodec(a.Codec); err != nil {
			return fmt.Errorf("audio: %w", err)
		}
		if a.SampleRate <= 0 || a.Channels <= 0 {
			return fmt.Errorf("audio: sample rate %d and channels %d must be positive", a.SampleRate, a.Channels)
		}
	}
	return nil
}

// checkCodec accepts RFC 6381 codec strings; they end up inside a quoted
// CODECS attribute of a playlist, so quotes and commas must not get through.
func checkCodec(c string) error {
	if c == "" || len(c) > 64 {
		return fmt.Errorf("codec %s must be 1 to 64 characters", quoteTrunc(c))
	}
	for i := 0; i < len(c); i++ {
		if !partChar(c[i]) && c[i] != '.' {
			return fmt.Errorf("codec %s has a character outside A-Z a-z 0-9 . _ -", quoteTrunc(c))
		}
	}
	return nil
}

// TargetDuration is the segment target duration, DefaultTargetDuration when
// unset.
func (m Manifest) TargetDuration() time.Duration {
	if m.TargetDurationMS <= 0 {
		return DefaultTargetDuration
	}
	return time.Duration(m.TargetDurationMS) * time.Millisecond
}

// MaxSegmentDuration is the hard maximum segment duration the recorder cut
// at: a segment lasts at most this plus one frame. Unset, it is the
// recorder's default of DefaultMaxSegmentTargets target durations.
func (m Manifest) MaxSegmentDuration() time.Duration {
	if m.MaxSegmentDurationMS <= 0 {
		return DefaultMaxSegmentTargets * m.TargetDuration()
	}
	return time.Duration(m.MaxSegmentDurationMS) * time.Millisecond
}

// EffectiveState is the state readers should act on: a live run whose last
// segment ended more than three target durations before now is treated as
// ended, because its node died without writing the final manifest. Pass the
// zero time as lastSegmentEnd when the run has no segment yet; the run's
// start is used instead.
func (m Manifest) EffectiveState(lastSegmentEnd time.Time, now time.Time) string {
	if m.State != StateLive {
		return m.State
	}
	last := lastSegmentEnd
	if last.IsZero() || last.Before(m.StartedAt) {
		last = m.StartedAt
	}
	if now.Sub(last) > staleTargetDurations*m.TargetDuration() {
		return StateEnded
	}
	return StateLive
}

// MarshalManifest validates m and encodes it as indented JSON.
func MarshalManifest(m Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode run manifest: %w", err)
	}
	return append(data, '\n'), nil
}

// UnmarshalManifest decodes and validates a run.json. Unknown fields are
// ignored so that later additions stay readable; breaking changes bump the
// version.
func UnmarshalManifest(data []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("decode run manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// WriteManifest validates m and puts it at ManifestKey.
func WriteManifest(ctx context.Context, st store.Store, m Manifest) error {
	data, err := MarshalManifest(m)
	if err != nil {
		return err
	}
	s, err := ParseStream(m.Stream)
	if err != nil {
		return err // unreachable: Validate checked it
	}
	key := ManifestKey(s, m.Run)
	if err := st.Put(ctx, key, data, "application/json"); err != nil {
		return fmt.Errorf("write run manifest %s: %w", key, err)
	}
	return nil
}

// ReadManifest reads and validates the manifest of run. A missing manifest
// gives an error wrapping store.ErrNotFound.
func ReadManifest(ctx context.Context, st store.Store, s Stream, run string) (Manifest, error) {
	if err := s.Validate(); err != nil {
		return Manifest{}, err
	}
	if err := ValidRunID(run); err != nil {
		return Manifest{}, err
	}
	key := ManifestKey(s, run)
	data, err := GetAll(ctx, st, key, maxManifestSize)
	if err != nil {
		return Manifest{}, fmt.Errorf("read run manifest: %w", err)
	}
	m, err := UnmarshalManifest(data)
	if err != nil {
		return Manifest{}, fmt.Errorf("read run manifest %s: %w", key, err)
	}
	if m.Stream != s.String() || m.Run != run {
		return Manifest{}, fmt.Errorf("read run manifest %s: it describes %s run %s", key, quoteTrunc(m.Stream), quoteTrunc(m.Run))
	}
	return m, nil
}

// GetAll reads a whole object of at most limit bytes (a document, a chunk,
// a segment): a larger one is an error, not a read without end.
func GetAll(ctx context.Context, st store.Store, key string, limit int64) ([]byte, error) {
	rc, _, err := st.Get(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("get %s: object larger than %d bytes", key, limit)
	}
	return data, nil
}
