package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/store"
	"github.com/rewind-vod/rewind/infra/store/fsstore"
)

func TestClipIDs(t *testing.T) {
	a, b := NewClipID(), NewClipID()
	if a == b || ValidClipID(a) != nil || ValidClipID(b) != nil {
		t.Fatalf("ids %q %q", a, b)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("A", 24), strings.Repeat("g", 24), "../../" + strings.Repeat("a", 18), strings.Repeat("a", 25)} {
		if err := ValidClipID(bad); !errors.Is(err, ErrBadClipID) {
			t.Errorf("ValidClipID(%q) = %v", bad, err)
		}
	}
	if got := ClipJobKey(a); got != "clips/"+a+"/job.json" || store.ValidateKey(got) != nil {
		t.Errorf("job key %q", got)
	}
}

func testJob() *ClipJob {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	return &ClipJob{ID: NewClipID(), Status: ClipQueued, CreatedAt: now, UpdatedAt: now,
		Request: ClipRequest{Stream: "live/cam", Start: now.Add(-time.Hour), End: now.Add(-59 * time.Minute), Format: FormatMP4, Mode: ModeCopy},
		Parts:   []ClipPart{{Run: NewRunID(now.Add(-2*time.Hour), "n1"), FirstSeq: 3, LastSeq: 20, StartMS: 1, EndMS: 2}}}
}

// A job survives the store round trip; documents that cannot be jobs are
// refused with ErrBadClipJob, so a worker drops them instead of retrying.
func TestClipJobRoundTrip(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	j := testJob()
	if err := WriteClipJob(ctx, st, j); err != nil {
		t.Fatal(err)
	}
	got, err := ReadClipJob(ctx, st, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Request.Stream != "live/cam" || len(got.Parts) != 1 || got.Parts[0] != j.Parts[0] || !got.CreatedAt.Equal(j.CreatedAt) {
		t.Errorf("round trip %+v", got)
	}
	if _, err := ReadClipJob(ctx, st, NewClipID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing job: %v", err)
	}
	for name, mutate := range map[string]func(*ClipJob){
		"status":  func(j *ClipJob) { j.Status = "done" },
		"format":  func(j *ClipJob) { j.Request.Format = "gif" },
		"mode":    func(j *ClipJob) { j.Request.Mode = "fast" },
		"stream":  func(j *ClipJob) { j.Request.Stream = "a/../b" },
		"window":  func(j *ClipJob) { j.Request.End = j.Request.Start },
		"parts":   func(j *ClipJob) { j.Parts = nil },
		"run":     func(j *ClipJob) { j.Parts[0].Run = "../x" },
		"seqs":    func(j *ClipJob) { j.Parts[0].LastSeq = 1 },
		"output":  func(j *ClipJob) { j.Output = &ClipOutput{Key: "../etc/passwd"} },
		"part ms": func(j *ClipJob) { j.Parts[0].EndMS = 0 },
	} {
		bad := testJob()
		mutate(bad)
		if err := WriteClipJob(ctx, st, bad); err == nil {
			t.Errorf("%s: invalid job written", name)
		}
	}
	id := NewClipID()
	for _, doc := range []string{`{`, `{"id":"` + NewClipID() + `"}`, `{"id":"` + id + `","status":"queued"}`} {
		if err := st.Put(ctx, ClipJobKey(id), []byte(doc), ""); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadClipJob(ctx, st, id); !errors.Is(err, ErrBadClipJob) {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

func TestClipMessageAndView(t *testing.T) {
	j := testJob()
	id, err := DecodeClipMessage(EncodeClipMessage(j.ID))
	if err != nil || id != j.ID {
		t.Fatalf("message round trip: %q %v", id, err)
	}
	for _, b := range []string{``, `{}`, `{"clip":"../x"}`, `[1]`} {
		if _, err := DecodeClipMessage([]byte(b)); err == nil {
			t.Errorf("message %q accepted", b)
		}
	}
	j.Output = &ClipOutput{Key: ClipPrefix(j.ID) + "clip.mp4", ContentType: "video/mp4", Duration: 60, Size: 10}
	if v := j.View("https://x"); v.Output != nil || v.StatusURL != "https://x/v1/clips/"+j.ID {
		t.Errorf("queued view %+v", v)
	}
	j.Status = ClipSucceeded
	if v := j.View(""); v.Output == nil || v.Output.URL != "/v1/clips/"+j.ID+"/output" || v.Output.Duration != 60 {
		t.Errorf("succeeded view %+v", v.Output)
	}
}

// An Idempotency-Key record is scoped by stream, names a random id that
// nothing about the key gives away, and survives the store round trip.
func TestClipIdemRecord(t *testing.T) {
	st, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cam, other := Stream{App: "live", Name: "cam"}, Stream{App: "live", Name: "other"}
	k := ClipIdemKey(cam, "order-42")
	if k != ClipIdemKey(cam, "order-42") || k == ClipIdemKey(cam, "order-43") || k == ClipIdemKey(other, "order-42") {
		t.Errorf("record keys not one per stream and key: %q", k)
	}
	if !strings.HasPrefix(k, ClipIdemPrefix) || store.ValidateKey(k) != nil || strings.Contains(k, "order") {
		t.Errorf("record key %q", k)
	}
	if _, err := ReadClipIdem(ctx, st, cam, "order-42"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing record: %v", err)
	}
	rec := ClipIdem{ID: NewClipID(), CreatedAt: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	if err := WriteClipIdem(ctx, st, cam, "order-42", rec); err != nil {
		t.Fatal(err)
	}
	got, err := ReadClipIdem(ctx, st, cam, "order-42")
	if err != nil || got.ID != rec.ID || !got.CreatedAt.Equal(rec.CreatedAt) {
		t.Errorf("round trip %+v, %v", got, err)
	}
	if _, err := ReadClipIdem(ctx, st, other, "order-42"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the key reaches another stream's record: %v", err)
	}
	if err := WriteClipIdem(ctx, st, cam, "x", ClipIdem{ID: "../job"}); !errors.Is(err, ErrBadClipID) {
		t.Errorf("record of a bad id written: %v", err)
	}
	if err := st.Put(ctx, ClipIdemKey(cam, "bad"), []byte(`{"id":"nope"}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadClipIdem(ctx, st, cam, "bad"); !errors.Is(err, ErrBadClipJob) {
		t.Errorf("bad record: %v", err)
	}
}

// FuzzDecodeClipMessage: a queue body may be anything another producer (or
// an attacker with queue access) sent; only a valid clip id gets through,
// and it is the one the message named.
func FuzzDecodeClipMessage(f *testing.F) {
	f.Add(EncodeClipMessage(NewClipID()))
	f.Add([]byte(`{"clip":"../../etc/passwd"}`))
	f.Add([]byte(`{"clip":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := DecodeClipMessage(body)
		if err != nil {
			return
		}
		if ValidClipID(id) != nil {
			t.Fatalf("invalid id %q accepted", id)
		}
		if again, err := DecodeClipMessage(EncodeClipMessage(id)); err != nil || again != id {
			t.Fatalf("round trip of %q: %q %v", id, again, err)
		}
	})
}
