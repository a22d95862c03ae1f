package collect

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Other is the label of every CDN and region that is not configured, so
// that the label sets, and with them the series count, stay bounded
// whatever clients send.
const Other = "other"

// Labels maps what a report claims (a CDN name, a client address) onto the
// configured, bounded label values.
type Labels struct {
	cdns    map[string]bool
	regions []regionPrefix // longest prefix first
	names   []string       // configured CDNs, sorted
	rnames  []string       // configured regions, sorted
}

type regionPrefix struct {
	prefix netip.Prefix
	region string
}

// NewLabels checks the configured CDN names and the prefix -> region map.
func NewLabels(cdns []string, regions map[netip.Prefix]string) (*Labels, error) {
	l := &Labels{cdns: map[string]bool{}}
	for _, c := range cdns {
		if !printable.MatchString(c) || c == Other {
			return nil, fmt.Errorf("collect: CDN name %q: must be 1..64 printable ASCII characters and not %q", c, Other)
		}
		if l.cdns[c] {
			return nil, fmt.Errorf("collect: CDN %q configured twice", c)
		}
		l.cdns[c] = true
		l.names = append(l.names, c)
	}
	seen := map[string]bool{}
	for p, r := range regions {
		if !p.IsValid() || p != p.Masked() {
			return nil, fmt.Errorf("collect: region prefix %v: must be valid and masked", p)
		}
		if !printable.MatchString(r) || r == Other {
			return nil, fmt.Errorf("collect: region name %q for %v: must be 1..64 printable ASCII characters and not %q", r, p, Other)
		}
		l.regions = append(l.regions, regionPrefix{p, r})
		if !seen[r] {
			seen[r] = true
			l.rnames = append(l.rnames, r)
		}
	}
	if len(l.cdns) == 0 {
		return nil, errors.New("collect: no CDN configured")
	}
	slices.SortFunc(l.regions, func(a, b regionPrefix) int { return b.prefix.Bits() - a.prefix.Bits() })
	slices.Sort(l.names)
	slices.Sort(l.rnames)
	return l, nil
}

// CDN returns name if it is configured, else Other.
func (l *Labels) CDN(name string) string {
	if l.cdns[name] {
		return name
	}
	return Other
}

// Region returns the region of the longest configured prefix holding addr
// (IPv4-mapped IPv6 counts as IPv4), else Other.
func (l *Labels) Region(addr netip.Addr) string {
	addr = addr.Unmap()
	for _, r := range l.regions {
		if r.prefix.Contains(addr) {
			return r.region
		}
	}
	return Other
}

// CDNs and Regions list the configured values, sorted, without Other.
func (l *Labels) CDNs() []string    { return slices.Clone(l.names) }
func (l *Labels) Regions() []string { return slices.Clone(l.rnames) }
