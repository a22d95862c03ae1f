package relay

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/rewind-vod/rewind/catalog"
)

// Rule pushes the live streams it matches to an RTMP target.
type Rule struct {
	// Match is "*" (every stream), an app ("live") or a stream ("live/cam").
	Match string
	// Target is an rtmp:// URL; {app} and {name} are replaced by the
	// stream's, e.g. rtmp://cdn.example/live/{name}?key=abc.
	Target string
}

// ParseRule reads "match=target", e.g. "live=rtmp://cdn/app/{name}", as
// the --relay flag gives it.
func ParseRule(s string) (Rule, error) {
	m, t, ok := strings.Cut(s, "=")
	if !ok {
		return Rule{}, fmt.Errorf("relay rule %q: want match=rtmp://host/app/name", redact(s))
	}
	r := Rule{Match: strings.TrimSpace(m), Target: strings.TrimSpace(t)}
	return r, r.check()
}

// String is the rule as ParseRule reads it, with the target's query (a
// stream key) hidden: it is for flag help and logs.
func (r Rule) String() string { return r.Match + "=" + redact(r.Target) }

func (r Rule) check() error {
	switch app, name, isStream := strings.Cut(r.Match, "/"); {
	case r.Match == "*":
	case isStream:
		if _, err := catalog.NewStream(app, name); err != nil {
			return fmt.Errorf("relay rule match %q: %w", r.Match, err)
		}
	default:
		if _, err := catalog.NewStream(app, "x"); err != nil {
			return fmt.Errorf("relay rule match %q: %w", r.Match, err)
		}
	}
	_, err := parseTarget(r.expand("app", "name"))
	return err
}

func (r Rule) matches(app, name string) bool {
	return r.Match == "*" || r.Match == app || r.Match == app+"/"+name
}

func (r Rule) expand(app, name string) string {
	return strings.NewReplacer("{app}", app, "{name}", name).Replace(r.Target)
}

// target is where a relay publishes: the TCP address, the RTMP app and
// the publishing name (with its query, which may carry a signature).
type target struct {
	addr, app, name, tcURL string
}

// parseTarget checks an rtmp:// URL: rtmp://host[:port]/app/name[?query].
func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message quotes the whole URL, stream key and all
		}
		return target{}, fmt.Errorf("relay target %q: %w", redact(raw), err)
	}
	if u.Scheme != "rtmp" || u.Host == "" {
		return target{}, fmt.Errorf("relay target %q: want rtmp://host[:port]/app/name", redact(raw))
	}
	app, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || app == "" || name == "" {
		return target{}, fmt.Errorf("relay target %q: the path must be /app/name", redact(raw))
	}
	if u.RawQuery != "" {
		name += "?" + u.RawQuery
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "1935")
	}
	return target{addr: addr, app: app, name: name, tcURL: "rtmp://" + u.Host + "/" + app}, nil
}

// redact drops the query of a target URL (it may hold a stream key).
func redact(raw string) string {
	s, _, _ := strings.Cut(raw, "?")
	return s
}
