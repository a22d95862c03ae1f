package catalog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/infra/store"
)

// Clip jobs: the API writes the job document under clips/{id}/ and queues
// the id; the editor worker is then the only writer of that document. Both
// sides meet here, never in each other's packages.

// ClipsPrefix is the prefix of every clip job and its outputs.
const ClipsPrefix = "clips/"

// Clip job states.
const (
	ClipQueued    = "queued"
	ClipRunning   = "running"
	ClipSucceeded = "succeeded"
	ClipFailed    = "failed"
)

// Output formats and cut modes.
const (
	FormatMP4    = "mp4"
	FormatTS     = "ts"
	FormatHLS    = "hls"
	ModeCopy     = "copy"
	ModeAccurate = "accurate"
)

// ErrBadClipID is returned (wrapped) for an id that is not a clip id.
var ErrBadClipID = errors.New("invalid clip id")

// ErrBadClipJob is returned (wrapped) by ReadClipJob for a document that
// cannot be a job (undecodable or invalid): retrying will not help.
var ErrBadClipJob = errors.New("invalid clip job document")

const clipIDLen = 24

// NewClipID returns a random clip id (24 lowercase hex digits).
func NewClipID() string {
	var b [clipIDLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// ClipIdemPrefix holds the Idempotency-Key records: which job a key made.
// "idem" can never be a clip id, so it shares clips/ with the jobs.
const ClipIdemPrefix = ClipsPrefix + "idem/"

// ClipIdemKey is "clips/idem/{hex sha256(stream \x00 key)}.json", the record
// of the job that key made on stream. The stream is part of the hash so a
// key only ever reaches clips of the stream it was sent with (which the
// caller must be allowed to open); the key itself is not stored there.
func ClipIdemKey(stream Stream, key string) string {
	sum := sha256.Sum256([]byte(stream.String() + "\x00" + key))
	return ClipIdemPrefix + hex.EncodeToString(sum[:]) + ".json"
}

// ClipIdem is an Idempotency-Key record. Clip ids are always random
// (NewClipID): the record, not the id, ties a key to its job, so knowing a
// key never gives a clip id.
type ClipIdem struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

// WriteClipIdem records that key made job id on stream.
func WriteClipIdem(ctx context.Context, st store.Store, stream Stream, key string, r ClipIdem) error {
	if err := ValidClipID(r.ID); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode idempotency record of clip %s: %w", r.ID, err)
	}
	if err := st.Put(ctx, ClipIdemKey(stream, key), b, "application/json"); err != nil {
		return fmt.Errorf("write idempotency record of clip %s: %w", r.ID, err)
	}
	return nil
}

// ReadClipIdem reads the record of key on stream; a missing one is
// store.ErrNotFound (wrapped), an undecodable one ErrBadClipJob.
func ReadClipIdem(ctx context.Context, st store.Store, stream Stream, key string) (ClipIdem, error) {
	var r ClipIdem
	b, err := GetAll(ctx, st, ClipIdemKey(stream, key), 4<<10)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: idempotency record: %w", ErrBadClipJob, err)
	}
	if err := ValidClipID(r.ID); err != nil {
		return r, fmt.Errorf("%w: idempotency record: %w", ErrBadClipJob, err)
	}
	return r, nil
}

// ValidClipID checks that id can be a clip id (and so a key part).
func ValidClipID(id string) error {
	if len(id) != clipIDLen {
		return fmt.Errorf("%w: %s", ErrBadClipID, quoteTrunc(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: %s", ErrBadClipID, quoteTrunc(id))
		}
	}
	return nil
}

// ClipPrefix is "clips/{id}/": the job document and every output.
func ClipPrefix(id string) string { return ClipsPrefix + id + "/" }

// ClipJobKey is "clips/{id}/job.json".
func ClipJobKey(id string) string { return ClipPrefix(id) + "job.json" }

// ClipTranscode asks for a scaled re-encode.
type ClipTranscode struct {
	Height       int   `json:"height"`
	VideoBitrate int64 `json:"video_bitrate,omitempty"` // bit/s
	AudioBitrate int64 `json:"audio_bitrate,omitempty"` // bit/s
}

// ClipRequest is what the client asked for, as validated by the API.
type ClipRequest struct {
	Stream     string         `json:"stream"`
	Start      time.Time      `json:"start"`
	End        time.Time      `json:"end"`
	Format     string         `json:"format"`
	Mode       string         `json:"mode"`
	Transcode  *ClipTranscode `json:"transcode,omitempty"`
	WebhookURL string         `json:"webhook_url,omitempty"`
}

// ClipPart is one run's share of a clip: the segments FirstSeq..LastSeq,
// the first of which starts at StartMS (wall clock). Parts are in time order.
type ClipPart struct {
	Run      string `json:"run"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	StartMS  int64  `json:"start_ms"`
	EndMS    int64  `json:"end_ms"` // end of the last segment
}

// PartOf is run's share of a clip of [start, end): the segments of entries
// (the run's index, in order) that overlap it; false if none does.
func PartOf(run string, entries []Entry, start, end time.Time) (ClipPart, bool) {
	from, to := start.UnixMilli(), end.UnixMilli()
	var p ClipPart
	for _, e := range entries {
		if e.EndMS() <= from || e.StartMS >= to {
			continue
		}
		if p.FirstSeq == 0 {
			p = ClipPart{Run: run, FirstSeq: e.Seq, StartMS: e.StartMS}
		}
		p.LastSeq, p.EndMS = e.Seq, e.EndMS()
	}
	return p, p.FirstSeq != 0
}

// ClipOutput describes the finished file (for HLS, the playlist).
type ClipOutput struct {
	Key         string  `json:"key"`
	Files       int     `json:"files,omitempty"` // HLS: playlist and segments
	ContentType string  `json:"content_type"`
	Duration    float64 `json:"duration"`
	Size        int64   `json:"size"`
	Width       int     `json:"width,omitempty"`
	Height      int     `json:"height,omitempty"`
	// Stored is what the clip added to the store when it is less than
	// Size: an HLS clip's own segments and manifest (the rest are the
	// source's segments, referenced).
	Stored int64 `json:"stored,omitempty"`
}

// ClipJob is the job document, clips/{id}/job.json.
type ClipJob struct {
	ID             string      `json:"id"`
	Status         string      `json:"status"`
	Progress       int         `json:"progress"`
	Error          string      `json:"error,omitempty"`
	Attempts       int         `json:"attempts"`
	Request        ClipRequest `json:"request"`
	Parts          []ClipPart  `json:"parts"`
	Output         *ClipOutput `json:"output,omitempty"`
	IdempotencyKey string      `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time   `json:"created_at"`
	UpdatedAt      time.Time   `json:"updated_at"`
	StartedAt      *time.Time  `json:"started_at,omitempty"`
	FinishedAt     *time.Time  `json:"finished_at,omitempty"`
	Webhook        *ClipHook   `json:"webhook,omitempty"`
}

// ClipHook is the webhook's delivery state (for a job with a webhook_url).
type ClipHook struct {
	Attempts    int        `json:"attempts"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
}

// Done says the job will not change any more.
func (j *ClipJob) Done() bool { return j.Status == ClipSucceeded || j.Status == ClipFailed }

// Validate checks what the worker relies on.
func (j *ClipJob) Validate() error {
	if err := ValidClipID(j.ID); err != nil {
		return err
	}
	switch j.Status {
	case ClipQueued, ClipRunning, ClipSucceeded, ClipFailed:
	default:
		return fmt.Errorf("clip %s: unknown status %q", j.ID, j.Status)
	}
	if _, err := ParseStream(j.Request.Stream); err != nil {
		return fmt.Errorf("clip %s: %w", j.ID, err)
	}
	if !j.Request.End.After(j.Request.Start) {
		return fmt.Errorf("clip %s: end is not after start", j.ID)
	}
	switch j.Request.Format {
	case FormatMP4, FormatTS, FormatHLS:
	default:
		return fmt.Errorf("clip %s: unknown format %q", j.ID, j.Request.Format)
	}
	switch j.Request.Mode {
	case ModeCopy, ModeAccurate:
	default:
		return fmt.Errorf("clip %s: unknown mode %q", j.ID, j.Request.Mode)
	}
	if len(j.Parts) == 0 {
		return fmt.Errorf("clip %s: no parts", j.ID)
	}
	for _, p := range j.Parts {
		if err := ValidRunID(p.Run); err != nil {
			return fmt.Errorf("clip %s: %w", j.ID, err)
		}
		if p.FirstSeq == 0 || p.LastSeq < p.FirstSeq || p.LastSeq > MaxSeq || p.EndMS <= p.StartMS {
			return fmt.Errorf("clip %s: bad part %s %d..%d", j.ID, p.Run, p.FirstSeq, p.LastSeq)
		}
	}
	if j.Output != nil {
		if err := store.ValidateKey(j.Output.Key); err != nil {
			return fmt.Errorf("clip %s: output: %w", j.ID, err)
		}
	}
	return nil
}

// ClipView is the job as clients see it (GET /v1/clips/{id} and webhooks).
type ClipView struct {
	ID         string          `json:"id"`
	Status     string          `json:"status"`
	Progress   int             `json:"progress"`
	Error      string          `json:"error,omitempty"`
	Stream     string          `json:"stream"`
	Start      time.Time       `json:"start"`
	End        time.Time       `json:"end"`
	Format     string          `json:"format"`
	Mode       string          `json:"mode"`
	Transcode  *ClipTranscode  `json:"transcode,omitempty"`
	Attempts   int             `json:"attempts"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	StatusURL  string          `json:"status_url"`
	Output     *ClipViewOutput `json:"output,omitempty"`
}

// ClipViewOutput is the output as clients see it.
type ClipViewOutput struct {
	URL         string  `json:"url"`
	ContentType string  `json:"content_type"`
	Duration    float64 `json:"duration"`
	Size        int64   `json:"size"`
	Width       int     `json:"width,omitempty"`
	Height      int     `json:"height,omitempty"`
}

// ClipStatusPath is the API path of a job.
func ClipStatusPath(id string) string { return "/v1/clips/" + id }

// View is the client's view of the job; base is the API's public URL
// ("" for paths relative to the API).
func (j *ClipJob) View(base string) ClipView {
	v := ClipView{ID: j.ID, Status: j.Status, Progress: j.Progress, Error: j.Error,
		Stream: j.Request.Stream, Start: j.Request.Start, End: j.Request.End,
		Format: j.Request.Format, Mode: j.Request.Mode, Transcode: j.Request.Transcode,
		Attempts: j.Attempts, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, FinishedAt: j.FinishedAt,
		StatusURL: base + ClipStatusPath(j.ID)}
	if j.Status == ClipSucceeded && j.Output != nil {
		o := j.Output
		v.Output = &ClipViewOutput{URL: base + ClipStatusPath(j.ID) + "/output", ContentType: o.ContentType,
			Duration: o.Duration, Size: o.Size, Width: o.Width, Height: o.Height}
	}
	return v
}

// maxJobSize bounds a job document read (parts of a long clip included).
const maxJobSize = 4 << 20

// WriteClipJob stores the job document.
func WriteClipJob(ctx context.Context, st store.Store, j *ClipJob) error {
	if err := j.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode clip %s: %w", j.ID, err)
	}
	if err := st.Put(ctx, ClipJobKey(j.ID), b, "application/json"); err != nil {
		return fmt.Errorf("write clip %s: %w", j.ID, err)
	}
	return nil
}

// ReadClipJob reads and checks a job document; a missing one is
// store.ErrNotFound (wrapped).
func ReadClipJob(ctx context.Context, st store.Store, id string) (*ClipJob, error) {
	if err := ValidClipID(id); err != nil {
		return nil, err
	}
	b, err := GetAll(ctx, st, ClipJobKey(id), maxJobSize)
	if err != nil {
		return nil, err
	}
	var j ClipJob
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: clip %s: %w", ErrBadClipJob, id, err)
	}
	if j.ID != id {
		return nil, fmt.Errorf("%w: clip %s: document names %q", ErrBadClipJob, id, j.ID)
	}
	if err := j.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadClipJob, err)
	}
	return &j, nil
}

// ClipMessage is the queue message body: the id only, so the document in the
// store stays the one truth.
type ClipMessage struct {
	Clip string `json:"clip"`
}

// EncodeClipMessage is the queue body for a job.
func EncodeClipMessage(id string) []byte {
	b, _ := json.Marshal(ClipMessage{Clip: id})
	return b
}

// DecodeClipMessage parses and checks a queue body.
func DecodeClipMessage(body []byte) (string, error) {
	var m ClipMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return "", fmt.Errorf("clip message: %w", err)
	}
	if err := ValidClipID(m.Clip); err != nil {
		return "", fmt.Errorf("clip message: %w", err)
	}
	return m.Clip, nil
}

// HLS clips by reference: the playlist's middle is the source's own
// immutable segments; only the segments a clip edge falls in are cut anew
// and stored under clips/{id}/hls/. The manifest lists both, and the API
// makes the playlist from it when asked (after checking the source is
// still there), so a clip of any length adds a few MB at most.

// ClipHLSKey is "clips/{id}/hls/clip.json", an HLS clip's manifest.
func ClipHLSKey(id string) string { return ClipPrefix(id) + "hls/clip.json" }

// ClipHLSFileKey is "clips/{id}/hls/{name}", a segment the clip holds itself.
func ClipHLSFileKey(id, name string) string { return ClipPrefix(id) + "hls/" + name }

// ClipHLSFileName is the name of the clip's n-th own segment, seg_NNNNN.ts
// (the names the API serves, as libav's segmenter wrote them before).
func ClipHLSFileName(n int) string { return fmt.Sprintf("seg_%05d.ts", n) }

// ValidClipHLSFile accepts the names ClipHLSFileName makes.
func ValidClipHLSFile(name string) bool {
	num, ok := strings.CutPrefix(name, "seg_")
	if num, ok = strings.CutSuffix(num, ".ts"); !ok || len(num) < 5 || len(num) > 9 {
		return false
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return false
		}
	}
	return true
}

// ClipHLSVersion is the manifest format written; readers refuse others.
const ClipHLSVersion = 1

// ClipHLS is the manifest of an HLS clip, clips/{id}/hls/clip.json.
type ClipHLS struct {
	Version  int              `json:"version"`
	Stream   string           `json:"stream"`
	Segments []ClipHLSSegment `json:"segments"`
}

// ClipHLSSegment is one playlist entry: a source segment (Run, Seq) or one
// of the clip's own (File), with its media duration and size.
type ClipHLSSegment struct {
	Run   string `json:"run,omitempty"`
	Seq   uint64 `json:"seq,omitempty"`
	File  string `json:"file,omitempty"`
	DurUS int64  `json:"dur_us"`
	Size  int64  `json:"size"`
	// Discontinuity: EXT-X-DISCONTINUITY before this entry (a new run, or
	// a join between a cut segment and a source one, whose TS continuity
	// counters do not follow on).
	Discontinuity bool `json:"discontinuity,omitempty"`
}

// Dur is the entry's media duration.
func (s ClipHLSSegment) Dur() time.Duration { return time.Duration(s.DurUS) * time.Microsecond }

// maxClipHLSSegments bounds a manifest: a day of 1 s segments.
const maxClipHLSSegments = 86400

// Validate checks what the API relies on to make the playlist.
func (m *ClipHLS) Validate() error {
	if m.Version != ClipHLSVersion {
		return fmt.Errorf("hls clip manifest: version %d, want %d", m.Version, ClipHLSVersion)
	}
	if _, err := ParseStream(m.Stream); err != nil {
		return fmt.Errorf("hls clip manifest: %w", err)
	}
	if len(m.Segments) == 0 || len(m.Segments) > maxClipHLSSegments {
		return fmt.Errorf("hls clip manifest: %d segments", len(m.Segments))
	}
	for i, s := range m.Segments {
		switch {
		case s.File != "" && (s.Run != "" || s.Seq != 0):
			return fmt.Errorf("hls clip manifest: segment %d is both a file and a source segment", i)
		case s.File != "" && !ValidClipHLSFile(s.File):
			return fmt.Errorf("hls clip manifest: segment %d: bad file name %s", i, quoteTrunc(s.File))
		case s.File == "":
			if err := ValidRunID(s.Run); err != nil {
				return fmt.Errorf("hls clip manifest: segment %d: %w", i, err)
			}
			if s.Seq == 0 || s.Seq > MaxSeq {
				return fmt.Errorf("hls clip manifest: segment %d: bad seq %d", i, s.Seq)
			}
		}
		if s.DurUS <= 0 || s.DurUS > int64(24*time.Hour/time.Microsecond) || s.Size < 0 {
			return fmt.Errorf("hls clip manifest: segment %d: bad duration %d us or size %d", i, s.DurUS, s.Size)
		}
	}
	return nil
}

// Sources is what the clip references: per run, the lowest and highest
// seq, runs in order of first use.
func (m *ClipHLS) Sources() []ClipPart {
	var out []ClipPart
	at := map[string]int{}
	for _, s := range m.Segments {
		if s.File != "" {
			continue
		}
		i, ok := at[s.Run]
		if !ok {
			at[s.Run] = len(out)
			out = append(out, ClipPart{Run: s.Run, FirstSeq: s.Seq, LastSeq: s.Seq})
			continue
		}
		out[i].FirstSeq, out[i].LastSeq = min(out[i].FirstSeq, s.Seq), max(out[i].LastSeq, s.Seq)
	}
	return out
}

// maxClipHLSSize bounds a manifest read (86400 entries of ~100 bytes).
const maxClipHLSSize = 12 << 20

// EncodeClipHLS checks and encodes a manifest.
func EncodeClipHLS(m *ClipHLS) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode hls clip manifest: %w", err)
	}
	return b, nil
}

// DecodeClipHLS parses and checks a manifest; a bad one is ErrBadClipJob.
func DecodeClipHLS(b []byte) (*ClipHLS, error) {
	if len(b) > maxClipHLSSize {
		return nil, fmt.Errorf("%w: hls clip manifest of %d bytes", ErrBadClipJob, len(b))
	}
	var m ClipHLS
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: hls clip manifest: %w", ErrBadClipJob, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadClipJob, err)
	}
	return &m, nil
}

// ReadClipHLS reads clip id's manifest; a missing one is store.ErrNotFound
// (wrapped).
func ReadClipHLS(ctx context.Context, st store.Store, id string) (*ClipHLS, error) {
	if err := ValidClipID(id); err != nil {
		return nil, err
	}
	b, err := GetAll(ctx, st, ClipHLSKey(id), maxClipHLSSize)
	if err != nil {
		return nil, err
	}
	return DecodeClipHLS(b)
}
