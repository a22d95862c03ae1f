package catalog

// Deleting runs: every object under a run's prefix (run.json, segments,
// index chunks, and whatever else lives beside them, such as snapshots),
// in an order that keeps readers consistent and lets a retry finish what a
// crash left.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/infra/store"
)

// deletionName is the marker a delete leaves in its first run while it
// works: it names every run of the delete, so that a retry (or the
// sweeper) finds runs whose run.json is already gone.
const deletionName = "deleting.json"

// DeletionKey is ".../{run}/deleting.json", the marker of a delete in
// progress that starts at run.
func DeletionKey(s Stream, run string) string { return RunPrefix(s, run) + deletionName }

// maxDeletionSize bounds what PendingDeletion reads.
const maxDeletionSize = 1 << 20

// Deletion is the marker's content.
type Deletion struct {
	Runs      []string  `json:"runs"`
	StartedAt time.Time `json:"started_at"`
}

// DeleteStats says what a delete removed.
type DeleteStats struct {
	Runs    []string `json:"runs"`    // runs that had anything stored
	Objects int      `json:"objects"` // objects deleted (the marker not counted)
	Bytes   int64    `json:"bytes"`   // their total size
	// Keys are the deleted keys, for callers that cache by key.
	Keys []string `json:"-"`
}

// RunObjects lists every object under run's prefix, sorted by key.
func RunObjects(ctx context.Context, st store.Store, s Stream, run string) ([]store.Info, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := ValidRunID(run); err != nil {
		return nil, err
	}
	res, err := list(ctx, st, RunPrefix(s, run), "")
	if err != nil {
		return nil, fmt.Errorf("list objects of %s run %s: %w", s, run, err)
	}
	return res.Objects, nil
}

// PendingDeletion reads the marker of an unfinished delete that started at
// run: the runs it names, or nil when there is none.
func PendingDeletion(ctx context.Context, st store.Store, s Stream, run string) ([]string, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := ValidRunID(run); err != nil {
		return nil, err
	}
	data, err := GetAll(ctx, st, DeletionKey(s, run), maxDeletionSize)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read deletion marker: %w", err)
	}
	var d Deletion
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("read deletion marker %s: %w", DeletionKey(s, run), err)
	}
	// A marker names runs of its own stream only; anything else is ignored
	// rather than deleted.
	var runs []string
	for _, r := range d.Runs {
		if ValidRunID(r) == nil && !slices.Contains(runs, r) {
			runs = append(runs, r)
		}
	}
	if !slices.Contains(runs, run) {
		runs = append([]string{run}, runs...)
	}
	return runs, nil
}

// DeleteRuns deletes every object of runs (the first is where the marker
// goes; deleting runs that are already gone is not an error and counts
// nothing). The order is what readers and retries need:
//
//  1. the marker, naming every run, in the first run;
//  2. every run.json, so readers stop listing the runs at once (a run
//     without run.json is neither listed nor played);
//  3. per run, the index chunks newest first (a reader that still has the
//     run.json cached sees a shorter index, never a hole), then the rest
//     (segments, snapshots, ...);
//  4. the marker.
//
// A crash between 1 and 4 leaves the marker: PendingDeletion finds the
// runs and a second DeleteRuns finishes them.
func DeleteRuns(ctx context.Context, st store.Store, s Stream, runs []string) (DeleteStats, error) {
	stats := DeleteStats{Runs: []string{}}
	if err := s.Validate(); err != nil {
		return stats, err
	}
	if len(runs) == 0 {
		return stats, nil
	}
	for _, r := range runs {
		if err := ValidRunID(r); err != nil {
			return stats, err
		}
	}
	objs := make([][]store.Info, len(runs))
	found := false
	for i, r := range runs {
		o, err := RunObjects(ctx, st, s, r)
		if err != nil {
			return stats, err
		}
		objs[i] = o
		found = found || len(o) > 0
	}
	if !found {
		return stats, nil
	}
	marker := DeletionKey(s, runs[0])
	data, err := json.Marshal(Deletion{Runs: runs, StartedAt: time.Now().UTC()})
	if err != nil {
		return stats, fmt.Errorf("encode deletion marker: %w", err)
	}
	if err := st.Put(ctx, marker, data, "application/json"); err != nil {
		return stats, fmt.Errorf("write deletion marker %s: %w", marker, err)
	}
	del := func(o store.Info) error {
		if err := st.Delete(ctx, o.Key); err != nil {
			return fmt.Errorf("delete %s: %w", o.Key, err)
		}
		stats.Objects++
		stats.Bytes += o.Size
		stats.Keys = append(stats.Keys, o.Key)
		return nil
	}
	for i, r := range runs {
		if len(objs[i]) > 0 {
			stats.Runs = append(stats.Runs, r)
		}
		if j := slices.IndexFunc(objs[i], func(o store.Info) bool { return o.Key == ManifestKey(s, r) }); j >= 0 {
			if err := del(objs[i][j]); err != nil {
				return stats, err
			}
		}
	}
	for i, r := range runs {
		idx := IndexPrefix(s, r)
		rest := slices.DeleteFunc(slices.Clone(objs[i]), func(o store.Info) bool {
			return o.Key == ManifestKey(s, r) || o.Key == marker
		})
		// Index first and newest first, then everything else.
		slices.SortStableFunc(rest, func(a, b store.Info) int {
			ai, bi := strings.HasPrefix(a.Key, idx), strings.HasPrefix(b.Key, idx)
			switch {
			case ai && !bi:
				return -1
			case bi && !ai:
				return 1
			}
			return strings.Compare(b.Key, a.Key)
		})
		for _, o := range rest {
			if err := del(o); err != nil {
				return stats, err
			}
		}
	}
	if err := st.Delete(ctx, marker); err != nil {
		return stats, fmt.Errorf("delete deletion marker %s: %w", marker, err)
	}
	return stats, nil
}

// RunEnd is when a run stopped growing, as far as the store tells: ended_at
// once ended, else the end of its last indexed segment (or its start
// before any). With m.EffectiveState it says whether the run is live.
func RunEnd(ctx context.Context, st store.Store, s Stream, m Manifest) (time.Time, error) {
	if m.State == StateEnded && m.EndedAt != nil {
		return *m.EndedAt, nil
	}
	entries, err := ReadIndex(ctx, st, s, m.Run)
	if err != nil {
		return time.Time{}, err
	}
	if n := len(entries); n > 0 {
		if end := time.UnixMilli(entries[n-1].EndMS()).UTC(); end.After(m.StartedAt) {
			return end, nil
		}
	}
	return m.StartedAt, nil
}
