package embedded

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewind-vod/rewind/infra/queue"
)

// FuzzDecodeRecord feeds arbitrary message files to the loader's decoder
// (seeds in testdata/fuzz/FuzzDecodeRecord). It must never panic, and what
// it accepts must be a message Send could have written: a valid ID matching
// the file name, a body Send would take, and content that survives being
// written and read again unchanged.
func FuzzDecodeRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		r, err := decodeRecord(name, data)
		if err != nil {
			return
		}
		if !validID(r.ID) || name != r.ID+recordExt {
			t.Fatalf("accepted id %q from file %q", r.ID, name)
		}
		if err := queue.ValidateBody([]byte(r.Body)); err != nil {
			t.Fatalf("accepted a body Send refuses: %v", err)
		}
		// Never delivered: no receipt (a LeaseUntil is a SendAfter delay);
		// delivered: a lease and its receipt.
		if r.Attempts < 0 || (r.Attempts == 0 && r.Receipt != "") || (r.Attempts > 0 && (r.LeaseUntil.IsZero() || r.Receipt == "")) {
			t.Fatalf("accepted inconsistent delivery state: %+v", r)
		}
		enc, err := encodeRecord(r)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		r2, err := decodeRecord(name, enc)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", enc, err)
		}
		enc2, err := encodeRecord(r2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the record:\n%s\n%s", enc, enc2)
		}
	})
}

// TestRecordRoundTrip: what the queue writes, the loader reads back as is;
// the checked-in seeds that should decode do.
func TestRecordRoundTrip(t *testing.T) {
	r := &record{V: recordVersion, ID: newID(time.Now()), Body: `{"job":"x"}`, Sent: time.Now()}
	for range 2 {
		enc, err := encodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRecord(r.ID+recordExt, enc)
		if err != nil {
			t.Fatalf("decode %s: %v", enc, err)
		}
		if got.ID != r.ID || got.Body != r.Body || !got.Sent.Equal(r.Sent) || got.Attempts != r.Attempts ||
			!got.LeaseUntil.Equal(r.LeaseUntil) || got.Receipt != r.Receipt {
			t.Fatalf("round trip: %+v, want %+v", got, r)
		}
		// Then as a leased message.
		r.Attempts, r.LeaseUntil, r.Receipt = 1, time.Now().Add(time.Minute), randHex(16)
	}
	for _, seed := range []string{"seed_queued", "seed_leased", "seed_unicode_body"} {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzDecodeRecord", seed))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		name, err1 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
		data, err2 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "[]byte("), ")"))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", seed, err1, err2)
		}
		if _, err := decodeRecord(name, []byte(data)); err != nil {
			t.Errorf("%s does not decode: %v", seed, err)
		}
	}
}
