package catalog

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestNewRunID(t *testing.T) {
	start := time.Date(2026, 11, 23, 11, 15, 0, 123_999_999, time.FixedZone("CET", 3600))
	id := NewRunID(start, "node1")
	if !strings.HasPrefix(id, "20261123T101500.123Z-node1-") || len(id) != len("20261123T101500.123Z-node1-7f3a") {
		t.Fatalf("NewRunID = %q", id)
	}
	r, err := ParseRunID(id)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Started.Equal(start.Truncate(time.Millisecond)) || r.Node != "node1" || len(r.Suffix) != 4 {
		t.Fatalf("ParseRunID = %+v", r)
	}
	if r.String() != id {
		t.Fatalf("String() = %q, want %q", r.String(), id)
	}
	// Random suffixes: 20 ids in the same millisecond are very unlikely to
	// collide more than once or twice.
	seen := map[string]bool{}
	for range 20 {
		seen[NewRunID(start, "node1")] = true
	}
	if len(seen) < 15 {
		t.Fatalf("only %d distinct ids out of 20", len(seen))
	}
}

func TestRunIDSortsByTime(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := 9; i >= 0; i-- {
		ids = append(ids, NewRunID(base.Add(time.Duration(i)*1234567*time.Microsecond), "zz"))
	}
	sort.Strings(ids)
	for i := 1; i < len(ids); i++ {
		a, _ := ParseRunID(ids[i-1])
		b, _ := ParseRunID(ids[i])
		if !a.Started.Before(b.Started) {
			t.Fatalf("%s sorts before %s", ids[i-1], ids[i])
		}
	}
}

func TestNewRunIDClampsYear(t *testing.T) {
	for _, tm := range []time.Time{time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), {}} {
		if err := ValidRunID(NewRunID(tm, "n")); err != nil {
			t.Errorf("NewRunID(%v): %v", tm, err)
		}
	}
}

func TestSanitizeNode(t *testing.T) {
	for in, want := range map[string]string{
		"node1":                 "node1",
		"origin-1.eu-west":      "origin_1_eu_west",
		"":                      "unknown",
		"nœud":                  "n_ud",
		"a/b":                   "a_b",
		strings.Repeat("x", 40): strings.Repeat("x", 32),
		strings.Repeat("é", 40): strings.Repeat("_", 32),
	} {
		if got := SanitizeNode(in); got != want {
			t.Errorf("SanitizeNode(%q) = %q, want %q", in, got, want)
		}
		if err := ValidRunID(NewRunID(time.Now(), in)); err != nil {
			t.Errorf("NewRunID with node %q: %v", in, err)
		}
	}
}

func TestParseRunIDRejects(t *testing.T) {
	for _, id := range []string{
		"",
		"20261123T101500.123Z-node1-7f3",   // short suffix
		"20261123T101500.123Z-node1-7f3a0", // long suffix
		"20261123T101500.123Z-node1-7F3A",  // uppercase hex
		"20261123T101500.123Z-node1-7g3a",  // not hex
		"20261123T101500.123Z-no-de-7f3a",  // '-' in node
		"20261123T101500.123Z--7f3a",       // empty node
		"20261123T101500.123Z-no.de-7f3a",  // '.' in node
		"20261123T101500.123Z-" + strings.Repeat("n", 33) + "-7f3a",
		"20261123T101500.12Z-node1-7f3a",  // 2-digit ms
		"20261123T101500.123-node1-7f3a",  // no Z
		"20261323T101500.123Z-node1-7f3a", // month 13
		"20260230T101500.123Z-node1-7f3a", // 30 February
		"20261123T241500.123Z-node1-7f3a", // hour 24
		"20261123T101560.123Z-node1-7f3a", // second 60
		"2026112 T101500.123Z-node1-7f3a",
		"20261123t101500.123Z-node1-7f3a",
		"20261123T101500.123Z_node1-7f3a",
		"20261123T101500.123Z-node1_7f3a",
		"../../../etc/passwd-node1-7f3a",
		"20261123T101500.123Z-node1-7f3a/",
	} {
		if err := ValidRunID(id); !errors.Is(err, ErrInvalidRunID) {
			t.Errorf("ValidRunID(%q) = %v, want ErrInvalidRunID", id, err)
		}
	}
	for _, id := range []string{
		"20261123T101500.123Z-node1-7f3a",
		"20240229T235959.999Z-N_1-0000",
		"00010101T000000.000Z-" + strings.Repeat("n", 32) + "-ffff",
	} {
		if err := ValidRunID(id); err != nil {
			t.Errorf("ValidRunID(%q) = %v", id, err)
		}
	}
}

func FuzzValidRunID(f *testing.F) {
	for _, s := range []string{"20261123T101500.123Z-node1-7f3a", "20261123T101500.123Z-no-de-7f3a", "", "20260230T101500.123Z-n-0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		r, err := ParseRunID(id)
		if err != nil {
			return
		}
		if r.String() != id {
			t.Fatalf("ParseRunID(%q).String() = %q", id, r.String())
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !(partChar(c) || c == '.') {
				t.Fatalf("accepted %q with %q", id, c)
			}
		}
	})
}
