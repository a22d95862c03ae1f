package catalog

import (
	"fmt"
	"time"
)

// snapDigits is the width of a snapshot name: unix milliseconds, fixed
// width so that keys sort by time (13 digits last until the year 2286).
const snapDigits = 13

// SnapshotPrefix is ".../{run}/snap/"; listing it gives a run's snapshots
// in time order. Deleting the run prefix deletes them with the run.
func SnapshotPrefix(s Stream, run string) string { return RunPrefix(s, run) + "snap/" }

// SnapshotKey is ".../{run}/snap/{unix_ms:013d}.jpg", at the wall-clock
// time of the keyframe it shows.
func SnapshotKey(s Stream, run string, at time.Time) string {
	return fmt.Sprintf("%s%0*d.jpg", SnapshotPrefix(s, run), snapDigits, at.UnixMilli())
}

// SnapshotName is the last key part of a snapshot at a time.
func SnapshotName(at time.Time) string {
	return fmt.Sprintf("%0*d.jpg", snapDigits, at.UnixMilli())
}

// ParseSnapshotName parses the last key part of a snapshot,
// "1795000000123.jpg", into the time it shows.
func ParseSnapshotName(name string) (time.Time, error) {
	n, err := parseFixed(name, snapDigits, ".jpg")
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid snapshot name %s: %w", quoteTrunc(name), err)
	}
	return time.UnixMilli(int64(n)).UTC(), nil
}
