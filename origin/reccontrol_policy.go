package origin

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// Bounds of a policy's segment duration: below a few frames a segment is
// mostly headers, above the bound a run's first segment (and its index
// entry) would come too late to be of use.
const (
	MinPolicySegment = 100 * time.Millisecond
	MaxPolicySegment = time.Hour
)

// RecordRule is one rule of a RecordPolicy: whether the streams it matches
// are recorded, and their segment duration (0: the recorder's default).
type RecordRule struct {
	Match           string // "*", an app, or app/name
	Record          bool
	SegmentDuration time.Duration
}

// RecordPolicy says which publishes are recorded, per app and per stream,
// and with which segment duration. It is what the node starts a publish
// with; the admin API may stop and start recording while it is live
// (RecordControl). The most specific rule decides (app/name over app over
// "*"), each setting on its own: "live=on:4s,live/cam2=on" gives live/cam2
// 4 s segments. With no rule a stream is recorded at the recorder's
// default segment duration.
type RecordPolicy []RecordRule

// ParseRecordPolicy reads a policy: comma-separated rules match=on,
// match=on:duration or match=off, match being "*", an app or app/name,
// e.g. "live=on:4s,private=off,live/cam2=off". Blank rules are skipped; a
// match named twice is an error.
func ParseRecordPolicy(s string) (RecordPolicy, error) {
	var p RecordPolicy
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		r, err := parseRecordRule(item)
		if err != nil {
			return nil, err
		}
		if seen[r.Match] {
			return nil, fmt.Errorf("record policy: %s has two rules", quote(r.Match))
		}
		seen[r.Match] = true
		p = append(p, r)
	}
	return p, nil
}

func parseRecordRule(item string) (RecordRule, error) {
	m, v, ok := strings.Cut(item, "=")
	if !ok {
		return RecordRule{}, fmt.Errorf("record policy rule %s: want match=on[:duration] or match=off", quote(item))
	}
	r := RecordRule{Match: strings.TrimSpace(m)}
	if err := checkPolicyMatch(r.Match); err != nil {
		return RecordRule{}, fmt.Errorf("record policy rule %s: %w", quote(item), err)
	}
	state, dur, hasDur := strings.Cut(strings.TrimSpace(v), ":")
	switch strings.TrimSpace(state) {
	case "on":
		r.Record = true
	case "off":
		if hasDur {
			return RecordRule{}, fmt.Errorf("record policy rule %s: a segment duration goes with on only", quote(item))
		}
	default:
		return RecordRule{}, fmt.Errorf("record policy rule %s: state %s is neither on nor off", quote(item), quote(state))
	}
	if hasDur {
		d, err := time.ParseDuration(strings.TrimSpace(dur))
		if err != nil {
			return RecordRule{}, fmt.Errorf("record policy rule %s: segment duration %s is not a duration (4s, 1500ms)", quote(item), quote(dur))
		}
		if d < MinPolicySegment || d > MaxPolicySegment {
			return RecordRule{}, fmt.Errorf("record policy rule %s: segment duration %s is outside %s..%s", quote(item), d, MinPolicySegment, MaxPolicySegment)
		}
		// The recorder counts in milliseconds: what is kept is what it uses.
		r.SegmentDuration = d.Truncate(time.Millisecond)
	}
	return r, nil
}

func checkPolicyMatch(m string) error {
	if m == "*" {
		return nil
	}
	app, name, isStream := strings.Cut(m, "/")
	if !isStream {
		name = "x" // an app alone: its name part is not checked
	}
	if _, err := catalog.NewStream(app, name); err != nil {
		return fmt.Errorf("match %s is not *, an app or app/name: %w", quote(m), err)
	}
	if strings.Contains(name, "/") {
		return errors.New("match has more than one '/'")
	}
	return nil
}

// quote shows user input in an error, cut short.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// check holds a policy built in code to what ParseRecordPolicy accepts.
func (p RecordPolicy) check() error {
	seen := map[string]bool{}
	for _, r := range p {
		if err := checkPolicyMatch(r.Match); err != nil {
			return fmt.Errorf("record policy: %w", err)
		}
		if seen[r.Match] {
			return fmt.Errorf("record policy: %s has two rules", quote(r.Match))
		}
		seen[r.Match] = true
		if d := r.SegmentDuration; d != 0 && (!r.Record || d < MinPolicySegment || d > MaxPolicySegment) {
			return fmt.Errorf("record policy: %s: segment duration %s: want on with %s..%s", quote(r.Match), d, MinPolicySegment, MaxPolicySegment)
		}
	}
	return nil
}

// String is the policy as ParseRecordPolicy reads it.
func (p RecordPolicy) String() string {
	parts := make([]string, len(p))
	for i, r := range p {
		switch {
		case !r.Record:
			parts[i] = r.Match + "=off"
		case r.SegmentDuration > 0:
			parts[i] = r.Match + "=on:" + r.SegmentDuration.String()
		default:
			parts[i] = r.Match + "=on"
		}
	}
	return strings.Join(parts, ",")
}

// rule returns the most specific rule for app/name matching keep.
func (p RecordPolicy) rule(app, name string, keep func(RecordRule) bool) (RecordRule, bool) {
	best, rank := RecordRule{}, 0
	for _, r := range p {
		k := 0
		switch r.Match {
		case app + "/" + name:
			k = 3
		case app:
			k = 2
		case "*":
			k = 1
		}
		if k > rank && keep(r) {
			best, rank = r, k
		}
	}
	return best, rank > 0
}

// For says whether a publish of app/name is recorded from its start, and
// its segment duration (0: the recorder's default).
func (p RecordPolicy) For(app, name string) (record bool, segment time.Duration) {
	record = true
	if r, ok := p.rule(app, name, func(RecordRule) bool { return true }); ok {
		record = r.Record
	}
	if r, ok := p.rule(app, name, func(r RecordRule) bool { return r.SegmentDuration > 0 }); ok {
		segment = r.SegmentDuration
	}
	return record, segment
}

// SegmentDurations are the policy's segment durations by match, as the
// recorder takes them (recorder.Config.SegmentDurations).
func (p RecordPolicy) SegmentDurations() map[string]time.Duration {
	var m map[string]time.Duration
	for _, r := range p {
		if r.SegmentDuration > 0 {
			if m == nil {
				m = map[string]time.Duration{}
			}
			m[r.Match] = r.SegmentDuration
		}
	}
	return m
}
