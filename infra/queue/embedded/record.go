package embedded

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/infra/queue"
)

// recordVersion is the version of the on-disk message format; a file of
// another version is refused, not misread.
const recordVersion = 1

// recordExt ends the name of every message file: ID + recordExt.
const recordExt = ".json"

// maxIDLen bounds message IDs (and so file names).
const maxIDLen = 100

// record is one message as the embedded queue keeps it, in memory and (as
// JSON) in its own file.
type record struct {
	V        int       `json:"v"`
	ID       string    `json:"id"`
	Body     string    `json:"body"` // queue.ValidateBody-clean text, so stored as a string
	Sent     time.Time `json:"sent"`
	Attempts int       `json:"attempts"` // deliveries so far
	// LeaseUntil is when the current lease ends (zero: never leased), or,
	// before the first delivery, when a delayed message becomes receivable.
	// Persisted so a restart neither loses a delivery count nor shortens a
	// lease that a worker in another life may still hold.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	Receipt    string    `json:"receipt,omitempty"` // of the current or last lease
}

// encodeRecord is the file content for r.
func encodeRecord(r *record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeRecord parses the content of the file name, checking everything a
// damaged or foreign file could get wrong, so that what it returns is
// always a message Send could have made.
func decodeRecord(name string, data []byte) (*record, error) {
	id, ok := strings.CutSuffix(name, recordExt)
	if !ok || !validID(id) {
		return nil, fmt.Errorf("not a message file name")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r record
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	switch {
	case r.V != recordVersion:
		return nil, fmt.Errorf("version %d, want %d", r.V, recordVersion)
	case r.ID != id:
		return nil, fmt.Errorf("id %q does not match the file name", r.ID)
	case r.Sent.IsZero():
		return nil, errors.New("no send time")
	case r.Attempts < 0:
		return nil, fmt.Errorf("negative attempts %d", r.Attempts)
	case r.Attempts == 0 && r.Receipt != "":
		return nil, errors.New("leased but never received")
	case r.Attempts > 0 && (r.LeaseUntil.IsZero() || !validID(r.Receipt)):
		return nil, errors.New("received but no lease or receipt")
	}
	if err := queue.ValidateBody([]byte(r.Body)); err != nil {
		return nil, err
	}
	return &r, nil
}

// validID accepts the IDs and receipts newID makes and nothing that could
// be a path: [0-9A-Za-z_.-], not starting with '.', at most maxIDLen bytes.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLen || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
