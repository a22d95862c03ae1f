// Package retention keeps recordings only as long as their app's rule
// says. On S3 the bucket lifecycle does it (terraform/modules/storage, one
// expiration rule per app prefix); on a local-disk store a Sweeper runs the
// same rules over ended runs. A live run is never swept.
package retention

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// maxRetention bounds a rule (100 years): far beyond any real use, and well
// inside time.Duration.
const maxRetention = 100 * 365 * 24 * time.Hour

// Rules maps an app to how long its runs are kept after they ended. Apps
// without a rule are kept forever.
type Rules map[string]time.Duration

// ParseRules parses "live=30d,news=7d": comma-separated app=age pairs,
// where age is a whole number of days ("30d") or a Go duration ("36h",
// "90m"), more than zero and at most 100 years. An app given twice, an
// invalid app name or age is an error. "" is no rules.
func ParseRules(s string) (Rules, error) {
	r := Rules{}
	if strings.TrimSpace(s) == "" {
		return r, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		app, age, ok := strings.Cut(item, "=")
		app, age = strings.TrimSpace(app), strings.TrimSpace(age)
		if !ok || app == "" || age == "" {
			return nil, fmt.Errorf("retention %q: want app=age (live=30d)", truncate(item))
		}
		if !catalog.ValidPart(app) {
			return nil, fmt.Errorf("retention %q: app must be [A-Za-z0-9_-]{1,64}", truncate(item))
		}
		if _, dup := r[app]; dup {
			return nil, fmt.Errorf("retention: app %s given twice", app)
		}
		d, err := parseAge(age)
		if err != nil {
			return nil, fmt.Errorf("retention %q: %w", truncate(item), err)
		}
		r[app] = d
	}
	return r, nil
}

func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || n > uint64(maxRetention/(24*time.Hour)) {
			return 0, fmt.Errorf("age %q: want whole days (30d) up to 100 years", truncate(s))
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("age %q: want days (30d) or a duration (36h)", truncate(s))
		}
	}
	if d <= 0 || d > maxRetention {
		return 0, fmt.Errorf("age %q: must be more than 0 and at most 100 years", truncate(s))
	}
	return d, nil
}

// String gives the rules back in ParseRules' form, apps sorted, whole days
// as "Nd".
func (r Rules) String() string {
	var b strings.Builder
	for _, app := range slices.Sorted(maps.Keys(r)) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		d := r[app]
		b.WriteString(app)
		b.WriteByte('=')
		if d%(24*time.Hour) == 0 {
			b.WriteString(strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d")
		} else {
			b.WriteString(d.String())
		}
	}
	return b.String()
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
