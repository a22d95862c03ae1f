package snapshot

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// ParseApps parses the per-app intervals of --snapshot-apps:
// "live=5s,private=off" (off or 0 turns an app's snapshots off). Empty is
// none. App names are checked as they are in stream names.
func ParseApps(s string) (map[string]time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	out := map[string]time.Duration{}
	for _, part := range strings.Split(s, ",") {
		app, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("snapshot apps: %q: want app=interval or app=off", part)
		}
		app = strings.TrimSpace(app)
		if _, err := catalog.NewStream(app, "x"); err != nil {
			return nil, fmt.Errorf("snapshot apps: app %q: %w", app, err)
		}
		if _, dup := out[app]; dup {
			return nil, fmt.Errorf("snapshot apps: app %s given twice", app)
		}
		var d time.Duration
		if v = strings.TrimSpace(v); v != "off" {
			var err error
			if d, err = time.ParseDuration(v); err != nil {
				return nil, fmt.Errorf("snapshot apps: app %s: %w", app, err)
			}
			if d < 0 || (d > 0 && d < time.Second) {
				return nil, fmt.Errorf("snapshot apps: app %s: interval %s: want off or at least 1s", app, d)
			}
		}
		out[app] = d
	}
	return out, nil
}

// FormatApps is the flag form of ParseApps' result, apps sorted.
func FormatApps(m map[string]time.Duration) string {
	apps := make([]string, 0, len(m))
	for app := range m {
		apps = append(apps, app)
	}
	slices.Sort(apps)
	parts := make([]string, len(apps))
	for i, app := range apps {
		v := "off"
		if d := m[app]; d > 0 {
			v = d.String()
		}
		parts[i] = app + "=" + v
	}
	return strings.Join(parts, ",")
}
