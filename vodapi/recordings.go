package vodapi

// Recordings: the runs of one stream joined across short gaps, and when
// nothing can join them any more.

import (
	"context"
	"slices"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// recording is runs of one stream joined across short gaps.
type recording struct {
	runs []runInfo
}

func (r recording) id() string { return r.runs[0].id }

func (r recording) live() bool { return r.runs[len(r.runs)-1].live }

// joins is the one rule that makes runs one recording: next starts within
// the reconnect window of prev's end. The recordings list (group) and the
// recording playlists (recordingFrom) both join by it.
func (s *Server) joins(prev, next runInfo) bool {
	return next.start.Sub(prev.end) <= s.cfg.ReconnectWindow
}

// group joins runs, oldest first, into recordings.
func (s *Server) group(runs []runInfo) []recording {
	var out []recording
	for _, ri := range runs {
		if n := len(out); n > 0 {
			if s.joins(out[n-1].runs[len(out[n-1].runs)-1], ri) {
				out[n-1].runs = append(out[n-1].runs, ri)
				continue
			}
		}
		out = append(out, recording{runs: []runInfo{ri}})
	}
	return out
}

// recordingFrom joins the run at ids[i] with its neighbours into a
// recording: backwards when latest (i is the newest run), else forwards.
func (s *Server) recordingFrom(ctx context.Context, st catalog.Stream, ids []string, i int, now time.Time, backwards bool) ([]runInfo, error) {
	first, err := s.rd.run(ctx, st, ids[i], now)
	if err != nil {
		return nil, err
	}
	runs := []runInfo{first}
	for j := i; ; {
		if backwards {
			j--
		} else {
			j++
		}
		if j < 0 || j >= len(ids) || catalog.ValidRunID(ids[j]) != nil {
			break
		}
		ri, err := s.rd.run(ctx, st, ids[j], now)
		if err != nil {
			break
		}
		if backwards {
			if !s.joins(ri, runs[0]) {
				break
			}
			runs = append([]runInfo{ri}, runs...)
		} else {
			if !s.joins(runs[len(runs)-1], ri) {
				break
			}
			runs = append(runs, ri)
		}
	}
	return runs, nil
}

// recordingSpec resolves a recording id (its first run) into its runs.
// Once nothing can join it, its runs are fixed: closed.
func (s *Server) recordingSpec(ctx context.Context, st catalog.Stream, id string) (playlistSpec, error) {
	ids, err := s.rd.listRuns(ctx, st)
	if err != nil {
		return playlistSpec{}, err
	}
	i := slices.Index(ids, id)
	if i < 0 {
		return playlistSpec{}, notFound("no_recording", "no recording "+id)
	}
	now := s.now()
	runs, err := s.recordingFrom(ctx, st, ids, i, now, false)
	if err != nil {
		return playlistSpec{}, err
	}
	ended := s.recordingEnded(runs, now)
	return playlistSpec{runs: runs, ended: ended, closed: ended, uriDir: "../../"}, nil
}

// arrivalSlack covers a run that started in time to join but is not in the
// store yet: its first segment is cut within the hard maximum and then
// uploaded; twice that allows for the upload.
func arrivalSlack(ri runInfo) time.Duration { return 2 * ri.manifest.MaxSegmentDuration() }

// recordingEnded says whether runs, the tail of a recording, can still be
// appended to: a run may still grow, or a new one may still join.
func (s *Server) recordingEnded(runs []runInfo, now time.Time) bool {
	for _, ri := range runs {
		if !ri.finished {
			return false
		}
	}
	last := runs[len(runs)-1]
	return now.Sub(last.end) > s.cfg.ReconnectWindow+arrivalSlack(last)
}
