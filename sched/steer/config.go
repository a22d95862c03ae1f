package steer

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rewind-vod/rewind/catalog"
)

// Limits of what a configuration (and so a state query) may hold.
const (
	// MaxPathways bounds the configured pathways, and with them the
	// pathways a session's state may list.
	MaxPathways = 16
	// MaxIDLen bounds a pathway ID (and a region name).
	MaxIDLen = 64
)

// Pathway is one CDN fronting rewind's replay API (an HLS Content Steering
// pathway).
type Pathway struct {
	// ID is the PATHWAY-ID: [a-zA-Z0-9._-], 1..64 characters.
	ID string
	// HLSBase is where the CDN fronts the replay API
	// ("https://cdn-a.example.net", optionally with a path); variant URIs
	// are {HLSBase}/hls/{app}/{name}/... .
	HLSBase string
	// FLV and RTMP are optional pull URL templates, Push an optional push
	// URL template, each with both {app} and {name} (e.g.
	// "https://cdn-a.example.net/{app}/{name}.flv",
	// "rtmp://push-a.example.net/{app}/{name}").
	FLV, RTMP, Push string

	// CloneOf marks a pathway added after playlists were handed out: a
	// session whose multivariant playlist lacks this pathway but has
	// CloneOf is offered it as a PATHWAY-CLONE of CloneOf. A clone can
	// only swap the host (URI-REPLACEMENT HOST) and add query parameters
	// (PARAMS), so HLSBase must equal CloneOf's HLSBase but for the host
	// name (same scheme, port and path). New playlists list it as an
	// ordinary pathway.
	CloneOf string
	// CloneParams are the PARAMS of the clone: query parameters a player
	// adds to every URI of the cloned pathway.
	CloneParams map[string]string
}

// Config of the steering server. Its zero fields take DefaultConfig's
// values, except Pathways and PublicBase, which are required.
type Config struct {
	// Pathways are the CDNs, at most MaxPathways.
	Pathways []Pathway
	// StaticOrder is the pathway order used when neither the Ranker nor a
	// last known order answers; pathways it leaves out follow in
	// configuration order. Empty means configuration order.
	StaticOrder []string
	// PublicBase is where players reach this server
	// ("https://steer.example.net"); SERVER-URI and RELOAD-URI are built on
	// it.
	PublicBase string
	// TTL is the steering manifest's TTL, whole seconds. Short, so that a
	// player leaves a failing CDN within about TTL plus one segment; each
	// player costs one manifest request per TTL.
	TTL time.Duration
	// RankerDeadline bounds how long an answer waits for the Ranker before
	// it falls back to the last order known for the region, then the
	// static order.
	RankerDeadline time.Duration
	// MaxConcurrent bounds the requests served at once; more are answered
	// 429 with Retry-After.
	MaxConcurrent int
	// RetryAfter is the Retry-After of a 429, whole seconds.
	RetryAfter time.Duration
	// Bandwidth is the BANDWIDTH (bit/s) of every variant. rewind serves
	// the one rendition the publisher sent, so this is only a nominal peak
	// that the attribute requires; players choose among pathways, not
	// bandwidths, here.
	Bandwidth int
	// PlaylistMaxAge is the max-age of the multivariant playlist, which is
	// private (it depends on the client's region and carries a session).
	PlaylistMaxAge time.Duration
	// MaxRegions bounds the regions whose last order is remembered.
	MaxRegions int
	// Enabled, when set, says which streams are steered. For any other,
	// the playlist and address routes answer 404 and the steering
	// manifest 410 Gone, so that players already steering stop asking and
	// stay on their pathway. Nil steers every valid stream name: this
	// server does not know which streams exist (the replay API answers
	// that on the CDN).
	Enabled func(catalog.Stream) bool
}

// DefaultConfig is what a zero Config field gets.
func DefaultConfig() Config {
	return Config{
		TTL:            10 * time.Second,
		RankerDeadline: 50 * time.Millisecond,
		MaxConcurrent:  1024,
		RetryAfter:     2 * time.Second,
		Bandwidth:      3_000_000,
		PlaylistMaxAge: 5 * time.Second,
		MaxRegions:     256,
	}
}

// ValidID reports whether s is a valid PATHWAY-ID (and region name):
// 1..64 of [a-zA-Z0-9._-].
func ValidID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// pathway is a validated Pathway with its parsed base.
type pathway struct {
	Pathway
	base *url.URL
	// cloneHost is the HOST of the clone's URI-REPLACEMENT.
	cloneHost string
}

// compiled is a validated configuration's pathways, swapped as a whole by
// SetPathways.
type compiled struct {
	list   []*pathway // configuration order
	byID   map[string]*pathway
	static []string // full static order
}

func (c *compiled) ids() []string {
	ids := make([]string, len(c.list))
	for i, p := range c.list {
		ids[i] = p.ID
	}
	return ids
}

func withDefaults(cfg Config) Config {
	def := DefaultConfig()
	if cfg.TTL <= 0 {
		cfg.TTL = def.TTL
	}
	if cfg.RankerDeadline <= 0 {
		cfg.RankerDeadline = def.RankerDeadline
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = def.MaxConcurrent
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = def.RetryAfter
	}
	if cfg.Bandwidth <= 0 {
		cfg.Bandwidth = def.Bandwidth
	}
	if cfg.PlaylistMaxAge <= 0 {
		cfg.PlaylistMaxAge = def.PlaylistMaxAge
	}
	if cfg.MaxRegions <= 0 {
		cfg.MaxRegions = def.MaxRegions
	}
	return cfg
}

func checkConfig(cfg Config) error {
	if cfg.TTL%time.Second != 0 {
		return fmt.Errorf("steer: TTL %s: must be whole seconds (the manifest's TTL is an integer)", cfg.TTL)
	}
	if cfg.RetryAfter%time.Second != 0 {
		return fmt.Errorf("steer: RetryAfter %s: must be whole seconds", cfg.RetryAfter)
	}
	if _, err := parseBase("PublicBase", cfg.PublicBase); err != nil {
		return err
	}
	return nil
}

// compile validates pathways and a static order.
func compile(ps []Pathway, static []string) (*compiled, error) {
	if len(ps) == 0 {
		return nil, errors.New("steer: no pathway configured")
	}
	if len(ps) > MaxPathways {
		return nil, fmt.Errorf("steer: %d pathways, at most %d", len(ps), MaxPathways)
	}
	c := &compiled{byID: map[string]*pathway{}}
	for _, p := range ps {
		if !ValidID(p.ID) {
			return nil, fmt.Errorf("steer: pathway ID %q: must be 1..64 of [a-zA-Z0-9._-]", p.ID)
		}
		if c.byID[p.ID] != nil {
			return nil, fmt.Errorf("steer: pathway %q configured twice", p.ID)
		}
		base, err := parseBase("pathway "+p.ID+" HLSBase", p.HLSBase)
		if err != nil {
			return nil, err
		}
		for _, t := range []struct{ what, tmpl string }{{"FLV", p.FLV}, {"RTMP", p.RTMP}, {"Push", p.Push}} {
			if err := checkTemplate(t.what, t.tmpl); err != nil {
				return nil, fmt.Errorf("steer: pathway %s: %w", p.ID, err)
			}
		}
		q := &pathway{Pathway: p, base: base}
		q.HLSBase = base.String()
		q.CloneParams = maps.Clone(p.CloneParams) // the caller may reuse its map
		c.byID[p.ID] = q
		c.list = append(c.list, q)
	}
	for _, p := range c.list {
		if err := checkClone(c, p); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, id := range static {
		if c.byID[id] == nil {
			return nil, fmt.Errorf("steer: static order names %q, which is not a configured pathway", id)
		}
		if seen[id] {
			return nil, fmt.Errorf("steer: static order names %q twice", id)
		}
		seen[id] = true
		c.static = append(c.static, id)
	}
	for _, p := range c.list {
		if !seen[p.ID] {
			c.static = append(c.static, p.ID)
		}
	}
	return c, nil
}

func checkClone(c *compiled, p *pathway) error {
	if p.CloneOf == "" {
		if len(p.CloneParams) > 0 {
			return fmt.Errorf("steer: pathway %s: CloneParams without CloneOf", p.ID)
		}
		return nil
	}
	b := c.byID[p.CloneOf]
	switch {
	case b == nil:
		return fmt.Errorf("steer: pathway %s: CloneOf %q is not a configured pathway", p.ID, p.CloneOf)
	case b.CloneOf != "":
		// A session may lack the clone's base too; one level keeps what a
		// player can rebuild predictable.
		return fmt.Errorf("steer: pathway %s: CloneOf %q is itself a clone", p.ID, p.CloneOf)
	}
	// HOST replaces the host name only (hls.js sets URL.hostname), so all
	// else must already match.
	if p.base.Scheme != b.base.Scheme || p.base.Port() != b.base.Port() || p.base.Path != b.base.Path {
		return fmt.Errorf("steer: pathway %s: HLSBase %s differs from %s's %s in more than the host name; a clone can only swap the host",
			p.ID, p.HLSBase, b.ID, b.HLSBase)
	}
	if p.base.Hostname() == b.base.Hostname() && len(p.CloneParams) == 0 {
		return fmt.Errorf("steer: pathway %s: same host as %s and no CloneParams: the clone would be the same pathway", p.ID, b.ID)
	}
	p.cloneHost = p.base.Hostname()
	for k, v := range p.CloneParams {
		if !ValidID(k) || strings.HasPrefix(k, "_HLS_") {
			return fmt.Errorf("steer: pathway %s: CloneParams key %q: must be 1..64 of [a-zA-Z0-9._-] and not _HLS_*", p.ID, k)
		}
		if len(v) > 256 || !printableASCII(v) {
			return fmt.Errorf("steer: pathway %s: CloneParams %s value: must be at most 256 printable ASCII characters", p.ID, k)
		}
	}
	return nil
}

// parseBase checks an absolute http(s) base URL without query, fragment or
// user info; a trailing slash is dropped.
func parseBase(what, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("steer: %s %q: %w", what, s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" || !printableASCII(s) || strings.ContainsAny(s, `"`) {
		return nil, fmt.Errorf("steer: %s %q: want an absolute http(s) URL without user, query or fragment", what, s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// checkTemplate checks a URL template: empty, or both placeholders once
// and a URL of the right scheme once filled.
func checkTemplate(what, tmpl string) error {
	if tmpl == "" {
		return nil
	}
	if strings.Count(tmpl, "{app}") != 1 || strings.Count(tmpl, "{name}") != 1 {
		return fmt.Errorf("%s template %q: want {app} and {name} once each", what, tmpl)
	}
	filled := fillTemplate(tmpl, "app", "name")
	if strings.ContainsAny(filled, "{}\"") || !printableASCII(filled) {
		return fmt.Errorf("%s template %q: unknown placeholder or character", what, tmpl)
	}
	u, err := url.Parse(filled)
	if err != nil {
		return fmt.Errorf("%s template %q: %w", what, tmpl, err)
	}
	schemes := []string{"rtmp", "rtmps"}
	if what == "FLV" {
		schemes = []string{"http", "https"}
	}
	if !slices.Contains(schemes, u.Scheme) || u.Host == "" || u.User != nil {
		return fmt.Errorf("%s template %q: want an absolute %s URL without user info", what, tmpl, strings.Join(schemes, " or "))
	}
	return nil
}

// fillTemplate substitutes validated names ([A-Za-z0-9_-], no escaping
// needed).
func fillTemplate(tmpl, app, name string) string {
	return strings.NewReplacer("{app}", app, "{name}", name).Replace(tmpl)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
